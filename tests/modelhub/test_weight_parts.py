"""Joining a GGUF split over packages: real installed distributions (a .dist-info on sys.path, found by
importlib.metadata as pip's are), a real GGUF file, and a real full disk (a small tmpfs)."""

import hashlib
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from modelhub.weight_parts import Part, PartsError, SplitGGUF, part_path, split_gguf_join
from tests.factories import PACKAGE, VERSION, install_part


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_join_writes_the_verified_file_with_progress(split, tmp_path):
    spec, data, _site = split
    seen = []
    target = split_gguf_join(spec, tmp_path / "out" / "model.gguf", lambda f, text: seen.append((f, text)))
    assert target.read_bytes() == data
    assert _leftovers(target.parent) == ["model.gguf"]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(f"part 3/3 ({PACKAGE}-part3)" in text for _, text in seen)


def test_a_verified_file_is_reused_without_reading_the_parts(split, tmp_path):
    spec, _data, site = split
    target = split_gguf_join(spec, tmp_path / "model.gguf")
    for part in spec.parts:
        part_path(part).unlink()  # the packages are gone; the joined file still serves
    seen = []
    assert split_gguf_join(spec, target, lambda f, text: seen.append(text)) == target
    assert seen == []


def test_a_part_not_installed_is_named(split, tmp_path):
    spec, _data, _site = split
    missing = replace(spec.parts[1], package="arena-test-weights-part9")
    spec = replace(spec, parts=(spec.parts[0], missing, spec.parts[2]))
    with pytest.raises(PartsError, match="'arena-test-weights-part9' is not installed"):
        split_gguf_join(spec, tmp_path / "out" / "model.gguf")
    assert _leftovers(tmp_path / "out") == []


def test_a_part_of_another_version_is_refused(split, tmp_path):
    spec, _data, _site = split
    spec = replace(spec, parts=(spec.parts[0], replace(spec.parts[1], version="2.0.0"), spec.parts[2]))
    with pytest.raises(PartsError, match=r"'arena-test-weights-part2' is version 1\.0\.0; the catalogue pins 2\.0\.0"):
        split_gguf_join(spec, tmp_path / "model.gguf")


def test_a_part_missing_on_disk_is_named(split, tmp_path):
    spec, _data, _site = split
    part_path(spec.parts[2]).unlink()
    with pytest.raises(PartsError, match="'arena-test-weights-part3' lists .* but it is missing on disk"):
        split_gguf_join(spec, tmp_path / "model.gguf")


def test_a_truncated_part_is_refused_before_joining(split, tmp_path):
    spec, _data, _site = split
    path = part_path(spec.parts[1])
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(PartsError, match=r"'arena-test-weights-part2': .* is \d[\d,]* bytes, the catalogue expects"):
        split_gguf_join(spec, tmp_path / "out" / "model.gguf")
    assert _leftovers(tmp_path / "out") == []


def test_a_corrupt_part_is_named_and_nothing_is_left(split, tmp_path):
    spec, _data, _site = split
    path = part_path(spec.parts[1])
    corrupt = bytearray(path.read_bytes())
    corrupt[5] ^= 0xFF
    path.write_bytes(bytes(corrupt))
    with pytest.raises(PartsError, match="'arena-test-weights-part2': .* has sha256 .*corrupt or replaced"):
        split_gguf_join(spec, tmp_path / "out" / "model.gguf")
    assert _leftovers(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sha256": "0" * 64}, "has sha256 .* the catalogue expects 0000"),
        ({"size_label": "1.5B"}, "general.size_label = '0.5B'; the catalogue expects '1.5B'"),
        ({"architecture": "llama"}, "general.architecture = 'qwen2'; the catalogue expects 'llama'"),
    ],
)
def test_a_joined_file_unlike_the_catalogue_is_refused(split, tmp_path, change, message):
    spec, _data, _site = split
    with pytest.raises(PartsError, match=message):
        split_gguf_join(replace(spec, **change), tmp_path / "out" / "model.gguf")
    assert _leftovers(tmp_path / "out") == []


def test_a_join_without_the_gguf_magic_is_refused(tmp_path, monkeypatch):
    site = tmp_path / "site"
    data = b"NOTGGUF" + bytes(100)
    install_part(site, 1, data)
    monkeypatch.syspath_prepend(str(site))
    part = Part(f"{PACKAGE}-part1", VERSION, f"{PACKAGE.replace('-', '_')}_part1/data/part01.bin", len(data),
                hashlib.sha256(data).hexdigest())
    spec = SplitGGUF((part,), len(data), hashlib.sha256(data).hexdigest(), "qwen2", "0.5B")
    with pytest.raises(PartsError, match="does not start with the GGUF magic"):
        split_gguf_join(spec, tmp_path / "out" / "model.gguf")
    assert _leftovers(tmp_path / "out") == []


def test_an_interrupted_join_is_restarted_cleanly(split, tmp_path):
    spec, data, _site = split
    target = tmp_path / "model.gguf"
    target.with_name("model.gguf.partial-999999999").write_bytes(data[:100])  # a join killed halfway
    target.write_bytes(data[:200])  # and a stale, short file where the verified one goes
    assert split_gguf_join(spec, target).read_bytes() == data
    assert _leftovers(tmp_path) == ["model.gguf", "site"]


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs: a disk that really fills (needs root, as `make test` on CI runs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.skipif(sys.platform != "linux", reason="tmpfs")
def test_a_disk_too_small_is_refused_before_writing(split, small_disk):
    spec, _data, _site = split
    spec = replace(spec, bytes=2 * 1024 * 1024)
    with pytest.raises(PartsError, match=r"needs 2\.1 MB free in .*; 1\.0 MB is free"):
        split_gguf_join(spec, small_disk / "model.gguf")
    assert _leftovers(small_disk) == []


@pytest.mark.skipif(sys.platform != "linux", reason="tmpfs")
def test_a_disk_that_fills_during_the_join_leaves_nothing(split, small_disk):
    spec, data, _site = split

    def fill_the_disk(fraction, text):  # another process takes the space while the join runs
        filler = small_disk / "filler"
        if not filler.exists():
            with filler.open("wb") as out:
                try:
                    while True:
                        out.write(bytes(64 * 1024))
                        out.flush()
                except OSError:
                    pass

    filled = "The disk filled while joining arena-test-weights-part1 … arena-test-weights-part3"
    with pytest.raises(PartsError, match=filled):
        split_gguf_join(spec, small_disk / "model.gguf", fill_the_disk)
    assert _leftovers(small_disk) == ["filler"]
    (small_disk / "filler").unlink()
    assert split_gguf_join(spec, small_disk / "model.gguf").read_bytes() == data  # a rerun succeeds
