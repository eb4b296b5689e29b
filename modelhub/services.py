"""Writes of the model hub: registration and preparation of models."""

import logging
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import transaction

from modelhub.catalogue import CATALOGUE, CatalogueError, locate_bundled
from modelhub.models import Contender, Model

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]

SMOKE_PROMPT = "Say hello in one short sentence."
SMOKE_SENTENCES = ["A man is playing a guitar.", "The stock market fell today."]


@transaction.atomic
def bundled_models_register(*, queue_preparation: bool = False) -> list[Model]:
    """Register the bundled catalogue and its default contenders. Idempotent."""
    registered = []
    for entry in CATALOGUE.values():
        model, created = Model.objects.get_or_create(
            source_type=Model.SourceType.PACKAGE,
            source=entry.key,
            defaults={"name": entry.name, "family": entry.family, "maker": entry.maker, "kind": entry.kind},
        )
        for spec in entry.contenders:
            Contender.objects.get_or_create(
                name=spec.name, defaults={"model": model, "decoding": spec.decoding, **spec.options}
            )
        if queue_preparation and (created or model.status != Model.Status.READY):
            model_prepare_queue(model=model)
        registered.append(model)
    return registered


@transaction.atomic
def contender_create_default(*, model: Model) -> Contender:
    """The contender a new model needs before it can battle: greedy, float32, named after the model
    (or "<model> (default)", "<model> (default 2)"… when a contender already has that name)."""
    name, number = model.name, 1
    while Contender.objects.filter(name=name).exists():
        name = f"{model.name} (default{f' {number}' if number > 1 else ''})"
        number += 1
    return Contender.objects.create(model=model, name=name)


@transaction.atomic
def model_prepare_queue(*, model: Model) -> None:
    """Mark the model as waiting for preparation and queue the prepare task after commit."""
    from modelhub.tasks import prepare_model

    Model.objects.filter(id=model.id).update(
        status=Model.Status.REGISTERED, error="", progress=0.0, progress_text="Waiting for a worker"
    )
    transaction.on_commit(lambda: _prepare_dispatch(prepare_model, model.id))


def _prepare_dispatch(task, model_id: int) -> None:
    try:
        task.delay(model_id)
    except Exception:  # noqa: BLE001 - kombu raises several kinds of connection errors
        logger.warning("Could not queue the preparation of model %s", model_id, exc_info=True)
        Model.objects.filter(id=model_id).update(
            status=Model.Status.FAILED, progress_text="",
            error="Could not queue the preparation: the job queue (Redis) is unavailable. Use 'Prepare again'.",
        )


def model_progress_set(*, model_id: int, fraction: float, text: str) -> None:
    Model.objects.filter(id=model_id).update(progress=max(0.0, min(1.0, fraction)), progress_text=text[:200])


def _hub_snapshot(hub_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id=hub_id, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        raise CatalogueError(
            f"'{hub_id}' is not in the local Hugging Face cache, and this arena never downloads "
            "from a hub. Download it on a machine with access, then register its folder."
        ) from None


def model_weights_locate(*, model: Model) -> Path:
    """Where the model's weights are on this machine (joining bundled parts once if needed)."""
    if model.source_type == Model.SourceType.PACKAGE:
        return locate_bundled(model.source, settings.ARENA_DATA_DIR)
    if model.source_type == Model.SourceType.HUB_ID:
        return _hub_snapshot(model.source)
    return Path(model.source).expanduser()


def model_prepare(*, model_id: int, progress: ProgressCallback | None = None) -> Model:
    """Locate, convert (GGUF once), load and smoke-test a model; record what was found.

    Not one transaction: status and progress are written as the work goes, so the admin shows them.
    Any failure ends in status 'failed' with a message a person can act on; nothing else changes.
    """
    from workers import loading, runtime

    def report(fraction: float, text: str) -> None:
        model_progress_set(model_id=model_id, fraction=fraction, text=text)
        if progress:
            progress(fraction, text)

    model = Model.objects.get(id=model_id)
    Model.objects.filter(id=model_id).update(status=Model.Status.PREPARING, error="")
    started = time.monotonic()
    try:
        report(0.02, "Locating weights")
        source = model_weights_locate(model=model)
        weights = loading.find_weights(source)
        if weights.format == "gguf":
            target = settings.ARENA_MODELS_DIR / model.slug

            def conversion_progress(fraction: float, text: str) -> None:
                report(0.05 + 0.65 * fraction, text)

            report(0.05, "Converting GGUF to safetensors (once; takes up to a minute)")
            folder = loading.convert_gguf(weights.folder / weights.gguf_file, target, progress=conversion_progress)
        else:
            folder = weights.folder
        report(0.75, "Loading the model")
        load_started = time.monotonic()
        if model.kind == Model.Kind.ENCODER:
            loaded = runtime.encoder_get(path=folder)
            load_seconds = time.monotonic() - load_started
            report(0.9, "Smoke test: embedding two sentences")
            from workers.embedding import embed

            vectors = embed(loaded, SMOKE_SENTENCES)
            if vectors.shape != (2, loaded.embedding_dim):
                raise loading.ModelLoadError(
                    f"Smoke test failed: expected 2 vectors of size {loaded.embedding_dim}, got {vectors.shape}."
                )
            smoke_output = f"2 vectors of dimension {vectors.shape[1]}"
            dim = loaded.embedding_dim
        else:
            loaded = runtime.language_model_get(path=folder)
            load_seconds = time.monotonic() - load_started
            if model.kind == Model.Kind.CHAT and not loaded.has_chat_template:
                raise loading.ModelLoadError(
                    "This model has no chat template, so it cannot be a chat model. "
                    "Register it with kind 'completion'."
                )
            report(0.9, "Smoke test: generating a few tokens")
            from workers.generation import DecodingConfig, generate

            result = generate(loaded, SMOKE_PROMPT, DecodingConfig(method="greedy", max_new_tokens=8))
            if result.output_tokens == 0:
                raise loading.ModelLoadError("Smoke test failed: the model generated no tokens.")
            smoke_output = result.text
            dim = loaded.hidden_size
    except (loading.ModelLoadError, CatalogueError) as error:
        return _model_failed(model_id, str(error), started)
    except Exception as error:  # noqa: BLE001 - any failure must end in 'failed', with its text
        logger.exception("Preparing model %s failed", model_id)
        return _model_failed(model_id, f"Preparation failed unexpectedly: {type(error).__name__}: {error}", started)

    Model.objects.filter(id=model_id).update(
        status=Model.Status.READY,
        error="",
        progress=1.0,
        progress_text="Ready",
        prepared_path=str(folder),
        parameter_count=loaded.parameter_count,
        embedding_dim=dim,
        load_seconds=load_seconds,
        prepare_seconds=time.monotonic() - started,
        smoke_test_output=smoke_output[:500],
    )
    return Model.objects.get(id=model_id)


def _model_failed(model_id: int, message: str, started: float) -> Model:
    Model.objects.filter(id=model_id).update(
        status=Model.Status.FAILED,
        error=message,
        progress_text="Failed",
        prepare_seconds=time.monotonic() - started,
    )
    return Model.objects.get(id=model_id)
