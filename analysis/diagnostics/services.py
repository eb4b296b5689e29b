"""Writes for representation diagnostics: create, run (in a worker or a command), record."""

import logging
import time
from pathlib import Path

import numpy as np
from django.db import transaction

from analysis.diagnostics.metrics import embedding_metrics, isotropy, sts_spearman
from analysis.diagnostics.models import DiagnosticsRun
from analysis.diagnostics.sts import positive_pairs, read_sts
from analysis.jsonsafe import json_float
from modelhub.models import Contender, Model
from workers.jobs import ProgressCallback, job_claim, job_enqueue, job_fail, job_finish, job_progress_writer

logger = logging.getLogger(__name__)

ISOTROPY_TEXTS = 200  # token states of this many texts are enough for a stable isotropy figure
DEFAULT_LIMIT = 1000


@transaction.atomic
def diagnostics_run_create(
    *, contender: Contender | None, source: str, source_path: str = "", limit: int | None = None
) -> DiagnosticsRun:
    return DiagnosticsRun.objects.create(contender=contender, source=source, source_path=source_path, limit=limit)


@transaction.atomic
def diagnostics_run_queue(*, contender: Contender, limit: int | None = DEFAULT_LIMIT) -> DiagnosticsRun:
    """Queue diagnostics on the built-in corpus in the worker that serves the contender's model."""
    from analysis.tasks import run_diagnostics

    run = diagnostics_run_create(contender=contender, source=DiagnosticsRun.Source.CORPUS, limit=limit)
    job_enqueue(job_class=DiagnosticsRun, job_id=run.id, task=run_diagnostics, queue=contender.model.queue_name)
    return run


def _texts(run: DiagnosticsRun) -> tuple[list[str], dict]:
    """The texts to embed and, for STS, what the pairs need: gold scores and positive pairs."""
    extra: dict = {}
    if run.source == DiagnosticsRun.Source.STS:
        pairs = read_sts(Path(run.source_path), limit=run.limit)
        texts = [p.sentence1 for p in pairs] + [p.sentence2 for p in pairs]
        positives = set(positive_pairs(pairs))
        extra = {
            "pairs": len(pairs),
            "gold": np.array([p.score for p in pairs]),
            "positive_index": np.array([i for i, p in enumerate(pairs) if p in positives], dtype=int),
        }
        return texts, extra
    if run.source == DiagnosticsRun.Source.TEXTS:
        lines = Path(run.source_path).read_text(encoding="utf-8").splitlines()
        texts = [line.strip() for line in lines if line.strip()]
    else:
        from arena.corpus_services import corpus_builtin_ensure

        corpus = corpus_builtin_ensure()
        texts = [f"{t}: {x}" for t, x in corpus.documents.order_by("position").values_list("title", "text")]
    return texts[: run.limit] if run.limit else texts, extra


def diagnostics_run_execute(
    *, run_id: int, progress: ProgressCallback | None = None, worker: str = ""
) -> DiagnosticsRun:
    """Embed the texts with the contender, then compute every metric; store them on the run.

    Runs only a queued run (a redelivered task does nothing)."""
    if not job_claim(job_class=DiagnosticsRun, job_id=run_id, worker=worker):
        return DiagnosticsRun.objects.get(id=run_id)
    report = job_progress_writer(job_class=DiagnosticsRun, job_id=run_id, callback=progress)
    run = DiagnosticsRun.objects.select_related("contender__model").get(id=run_id)
    started = time.monotonic()
    try:
        report(0.01, "Reading texts")
        if run.source == DiagnosticsRun.Source.EMBEDDINGS:
            metrics = diagnostics_embeddings_metrics(path=Path(run.source_path), progress=report)
        else:
            metrics = _contender_metrics(run, report)
    except Exception as error:  # noqa: BLE001 - the run shows its error; nothing else is affected
        logger.exception("Diagnostics run %s failed", run_id)
        job_fail(
            job_class=DiagnosticsRun, job_id=run_id, error=f"{type(error).__name__}: {error}",
            seconds=time.monotonic() - started,
        )
        return DiagnosticsRun.objects.get(id=run_id)
    job_finish(job_class=DiagnosticsRun, job_id=run_id, metrics=metrics, seconds=time.monotonic() - started)
    return DiagnosticsRun.objects.get(id=run_id)


def _contender_metrics(run: DiagnosticsRun, report: ProgressCallback) -> dict:
    """Every metric of the contender's representations of the run's texts (in the worker that holds it)."""
    from workers import runtime
    from workers.embedding import token_states

    texts, extra = _texts(run)
    if len(texts) < 2:
        raise ValueError("Diagnostics need at least two texts.")
    contender = run.contender
    model = contender.model
    if model.is_engine_served:
        raise ValueError(
            f"{model.name} is served by an inference engine, whose API gives text, not the hidden states the "
            "diagnostics read: they are not available for it."
        )
    reading = None
    if model.kind == Model.Kind.ENCODER:
        loaded = runtime.encoder_get(path=model.prepared_path, precision=contender.precision)
        report(0.05, f"Embedding {len(texts)} texts")
        vectors, reading = runtime.embed(
            path=model.prepared_path, precision=contender.precision, texts=texts,
            progress=lambda d, n: report(0.05 + 0.55 * d / n, f"Embedded {d}/{n} texts")
        )
        states, _ = token_states(loaded, texts[:ISOTROPY_TEXTS], pool=False)
    else:
        loaded = runtime.language_model_get(path=model.prepared_path, precision=contender.precision)
        report(0.05, f"Reading hidden states of {len(texts)} texts")
        states, vectors = token_states(
            loaded, texts, progress=lambda d, n: report(0.05 + 0.55 * d / n, f"Read {d}/{n} texts")
        )
        states = states[:ISOTROPY_TEXTS]
    metrics = _metrics(vectors, states, extra, report)
    metrics["texts"] = len(texts)
    metrics["representation"] = "sentence embedding" if model.kind == Model.Kind.ENCODER else (
        "mean-pooled last-layer hidden states"
    )
    if reading is not None:
        metrics["embedding_joules"] = reading.joules
        metrics["embedding_energy_source"] = reading.source
    return metrics


def _metrics(vectors: np.ndarray, states: list[np.ndarray], extra: dict, report: ProgressCallback) -> dict:
    positives = None
    if "gold" in extra:
        n = extra["pairs"]
        first, second = vectors[:n], vectors[n:]
        index = extra["positive_index"]
        positives = (first[index], second[index]) if len(index) else None
    report(0.62, "Computing uniformity, spectrum, RankMe, IsoScore and hubness")
    metrics = embedding_metrics(
        vectors, positives=positives,
        progress=lambda f, text: report(0.62 + 0.33 * f, text),
    )
    if "gold" in extra:
        metrics["sts_spearman"] = round(sts_spearman(first, second, extra["gold"]), 2)
        metrics["sts_pairs"] = extra["pairs"]
    report(0.96, "Computing token isotropy")
    metrics["isotropy"] = json_float(isotropy(states)) if states else None
    metrics["isotropy_texts"] = len(states)
    return metrics


def diagnostics_embeddings_metrics(*, path: Path, progress: ProgressCallback | None = None) -> dict:
    """The embedding-only metrics of any (n, d) matrix saved with numpy."""
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a .npy matrix ({error}).") from None
    if matrix.ndim != 2 or matrix.shape[0] < 2:
        raise ValueError(f"{path} holds an array of shape {matrix.shape}; expected (n ≥ 2, d).")
    metrics = embedding_metrics(matrix.astype(np.float64), progress=progress)
    metrics["texts"] = int(matrix.shape[0])
    metrics["representation"] = "given matrix"
    return metrics
