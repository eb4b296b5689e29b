"""Writes for representation diagnostics: create, run (in a worker or a command), record."""

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from django.db import transaction
from django.utils import timezone

from analysis.diagnostics.metrics import embedding_metrics, isotropy, sts_spearman
from analysis.diagnostics.models import DiagnosticsRun
from analysis.diagnostics.sts import positive_pairs, read_sts
from modelhub.models import Contender, Model

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]
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
    run_diagnostics.apply_async_on_commit(args=[run.id], queue=contender.model.queue_name)
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


def _progress_writer(run_id: int, callback: ProgressCallback | None) -> ProgressCallback:
    last = [0.0]

    def report(fraction: float, text: str) -> None:
        now = time.monotonic()
        if now - last[0] > 0.5 or fraction >= 1.0:
            last[0] = now
            DiagnosticsRun.objects.filter(id=run_id).update(progress=min(fraction, 1.0), progress_text=text[:200])
        if callback:
            callback(fraction, text)

    return report


def diagnostics_run_execute(*, run_id: int, progress: ProgressCallback | None = None) -> DiagnosticsRun:
    """Embed the texts with the contender, then compute every metric; store them on the run."""
    from workers import runtime
    from workers.embedding import token_states

    report = _progress_writer(run_id, progress)
    run = DiagnosticsRun.objects.select_related("contender__model").get(id=run_id)
    DiagnosticsRun.objects.filter(id=run_id).update(status=DiagnosticsRun.Status.RUNNING, error="")
    started = time.monotonic()
    try:
        report(0.01, "Reading texts")
        if run.source == DiagnosticsRun.Source.EMBEDDINGS:
            metrics = diagnostics_embeddings_metrics(path=Path(run.source_path), progress=report)
        else:
            texts, extra = _texts(run)
            if len(texts) < 2:
                raise ValueError("Diagnostics need at least two texts.")
            contender = run.contender
            model = contender.model
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
                reading = None
            metrics = _metrics(vectors, states, extra, report)
            metrics["texts"] = len(texts)
            metrics["representation"] = "sentence embedding" if model.kind == Model.Kind.ENCODER else (
                "mean-pooled last-layer hidden states"
            )
            if reading is not None:
                metrics["embedding_joules"] = reading.joules
                metrics["embedding_energy_source"] = reading.source
    except Exception as error:  # noqa: BLE001 - the run shows its error; nothing else is affected
        logger.exception("Diagnostics run %s failed", run_id)
        DiagnosticsRun.objects.filter(id=run_id).update(
            status=DiagnosticsRun.Status.FAILED, error=f"{type(error).__name__}: {error}"[:2000],
            seconds=time.monotonic() - started, finished_at=timezone.now(), progress_text="Failed",
        )
        return DiagnosticsRun.objects.get(id=run_id)
    DiagnosticsRun.objects.filter(id=run_id).update(
        status=DiagnosticsRun.Status.DONE, metrics=metrics, progress=1.0, progress_text="Done",
        seconds=time.monotonic() - started, finished_at=timezone.now(),
    )
    return DiagnosticsRun.objects.get(id=run_id)


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
    value = isotropy(states) if states else None
    metrics["isotropy"] = value if value is not None and np.isfinite(value) else None
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
