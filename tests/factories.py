"""Helpers shared by the tests: rows in the states tests need, and waits on real processes and pages.

Fixtures live in the conftest files; plain functions live here, so no test module imports another.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db.models import F

from arena.models import Battle, Response
from modelhub.models import Model


def finish(battle: Battle, status: str = Response.Status.DONE, joules=(2.0, 1.0)) -> None:
    """Both sides of a battle answered (without a worker): text, tokens, and an estimated energy each."""
    for response, energy in zip(battle.responses.order_by("side"), joules, strict=True):
        response.status = status
        response.text = f"answer {response.side}"
        response.output_tokens = 10
        response.duration_s = 1.0
        response.joules = energy
        response.energy_source = "estimate"
        response.energy_method = "estimated from CPU time"
        response.save()


def close_voting(battle: Battle) -> None:
    """Move a battle's start past the vote window: it is closed, hence public (the blind protocol)."""
    window = timedelta(seconds=settings.ARENA_VOTE_WINDOW_S + 1)
    Battle.objects.filter(id=battle.id).update(created_at=F("created_at") - window)


def wait_for_status(model_id: int, statuses: set[str], timeout_s: float = 120) -> Model:
    """The model once its preparation reached one of `statuses` (a worker prepares it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        model = Model.objects.get(id=model_id)
        if model.status in statuses:
            return model
        time.sleep(0.2)
    raise AssertionError(f"model {model_id} stayed {model.status}")


def wait_until_true(predicate, timeout_s: float = 60) -> None:
    """Poll `predicate()` (a database read, say) until it is true."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"still false after {timeout_s} s"
        time.sleep(0.2)


def in_db_thread(query):
    """Playwright's sync API runs an event loop in this thread, so the ORM runs in another one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(query).result()


def wait_until(page, expression: str, timeout: float = 20_000) -> None:
    """Poll a JavaScript expression until it is true. Playwright's own wait_for_function evaluates its
    predicate with eval inside the page, which the site's Content-Security-Policy forbids; evaluate()
    runs through the DevTools protocol instead."""
    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout / 1000
    while True:
        try:
            if page.evaluate(f"() => Boolean({expression})"):
                return
        except Error as error:  # the page navigated while the expression ran: try again on the new one
            if "context was destroyed" not in str(error) and "navigat" not in str(error):
                raise
        assert time.monotonic() < deadline, f"still false after {timeout / 1000:.0f} s: {expression}"
        page.wait_for_timeout(50)


def wait_for_stage(page, stage: str, timeout_ms: int = 240_000) -> None:
    """The arena page reached a stage of the battle protocol (its #arena[data-stage])."""
    page.wait_for_selector(f"#arena[data-stage='{stage}']", state="attached", timeout=timeout_ms)


def corpus_upload(*, name: str, data: bytes, filename: str):
    """A corpus uploaded as the admin does it: parsed, stored, and its embeddings queued."""
    from arena.corpora import parse_corpus
    from arena.corpus_services import corpus_documents_set
    from arena.models import Corpus

    documents = parse_corpus(data, filename, settings.ARENA_MAX_CORPUS_BYTES)
    corpus = Corpus.objects.create(name=name, source_name=filename[:255])
    return corpus_documents_set(corpus=corpus, documents=documents)


# A GGUF split over installed distributions (tests/modelhub/conftest.py's `split`).
PACKAGE = "arena-test-weights"
VERSION = "1.0.0"


def gguf_bytes(tmp_path: Path, size_label: str = "0.5B") -> bytes:
    """A small real GGUF file (architecture qwen2, one tensor), as bytes."""
    import gguf

    path = tmp_path / "source.gguf"
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_size_label(size_label)
    writer.add_name("Test model")
    writer.add_tensor("token_embd.weight", np.arange(60_000, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    data = path.read_bytes()
    path.unlink()
    return data


def install_part(site: Path, number: int, data: bytes, version: str = VERSION) -> None:
    """Part ``number`` of PACKAGE installed under ``site`` as pip leaves a distribution: the module
    folder with its data file, and a .dist-info whose RECORD lists the files."""
    module = f"{PACKAGE.replace('-', '_')}_part{number}"
    (site / module / "data").mkdir(parents=True)
    (site / module / "data" / f"part{number:02d}.bin").write_bytes(data)
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PACKAGE}-part{number}\nVersion: {version}\n")
    (info / "RECORD").write_text(f"{module}/data/part{number:02d}.bin,,\n{info.name}/METADATA,,\n")
