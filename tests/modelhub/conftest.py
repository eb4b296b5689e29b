"""Fixtures of the model hub's tests: a GGUF split over real installed distributions (a .dist-info on
sys.path, which importlib.metadata finds as it finds pip's)."""

import hashlib

import pytest

from modelhub.weight_parts import Part, SplitGGUF
from tests.factories import PACKAGE, VERSION, gguf_bytes, install_part


@pytest.fixture
def split(tmp_path, monkeypatch):
    """A three-part GGUF installed on sys.path, and its catalogue entry."""
    data = gguf_bytes(tmp_path)
    cut = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    chunks = [data[cut[i]:cut[i + 1]] for i in range(3)]
    site = tmp_path / "site"
    for number, chunk in enumerate(chunks, start=1):
        install_part(site, number, chunk)
    monkeypatch.syspath_prepend(str(site))
    parts = tuple(
        Part(f"{PACKAGE}-part{n}", VERSION, f"{PACKAGE.replace('-', '_')}_part{n}/data/part{n:02d}.bin",
             len(chunk), hashlib.sha256(chunk).hexdigest())
        for n, chunk in enumerate(chunks, start=1)
    )
    spec = SplitGGUF(parts, len(data), hashlib.sha256(data).hexdigest(), "qwen2", "0.5B")
    return spec, data, site


