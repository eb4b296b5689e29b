"""Writes of the model hub: registration and preparation of models."""

import logging
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction

from modelhub.catalogue import CATALOGUE, CatalogueError, locate_bundled
from modelhub.models import Contender, Model
from modelhub.selectors import model_serving_precisions
from workers.jobs import ProgressCallback, job_claim, job_enqueue, job_fail, job_finish, job_progress_writer

logger = logging.getLogger(__name__)


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
def model_register(
    *,
    name: str,
    family: str,
    kind: str,
    source_type: str,
    source: str,
    maker: str = "",
    served_model_id: str = "",
    api_key_env: str = "",
    context_length: int | None = None,
    meter: str = "",
    create_contender: bool = True,
) -> Model:
    """Register a model (and, by default, its contender) and queue its preparation. Raises
    ValidationError naming each field that is wrong; nothing is stored then."""
    model = Model(
        name=name.strip(), family=family.strip(), maker=maker.strip(), kind=kind, source_type=source_type,
        source=source.strip(), served_model_id=served_model_id, api_key_env=api_key_env.strip(),
        context_length=context_length, meter=meter,
    )
    model.full_clean(exclude=["slug"])
    model.save()
    if create_contender:
        contender_create_default(model=model)
    model_prepare_queue(model=model)
    return model


@transaction.atomic
def model_prepare_queue(*, model: Model) -> None:
    """Mark the model as waiting for preparation and queue the prepare task after commit.

    An engine-served model is checked where it will be served: on its own queue when a live worker
    consumes it (the worker on the engine's host), else by any worker (which then serves it)."""
    from modelhub.tasks import prepare_model
    from workers.selectors import queues_served

    Model.objects.filter(id=model.id).update(
        status=Model.Status.REGISTERED, error="", progress=0.0, progress_text="Waiting for a worker"
    )
    queue = model.queue_name if model.is_engine_served and model.queue_name in (queues_served() or ()) else None
    job_enqueue(job_class=Model, job_id=model.id, task=prepare_model, queue=queue, on_refused=_prepare_refused)


def _prepare_refused(model_id: int) -> None:
    job_fail(
        job_class=Model, job_id=model_id, progress_text="",
        error="Could not queue the preparation: the job queue (Redis) is unavailable. Use 'Prepare again'.",
    )


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


def model_weights_locate(*, model: Model, progress: ProgressCallback | None = None) -> Path:
    """Where the model's weights are on this machine (joining bundled parts once if needed)."""
    if model.source_type == Model.SourceType.PACKAGE:
        return locate_bundled(model.source, settings.ARENA_DATA_DIR, progress)
    if model.source_type == Model.SourceType.HUB_ID:
        return _hub_snapshot(model.source)
    return Path(model.source).expanduser()


def model_prepare(
    *, model_id: int, progress: ProgressCallback | None = None, queued: bool = False, worker: str = ""
) -> Model:
    """Locate, convert (GGUF once), load and smoke-test a model; record what was found.

    `queued`: called for a queued job (the task), which runs only if still queued (a redelivered task
    does nothing); otherwise a person asked for it (the CLI) and it runs whatever the state.
    Not one transaction: status and progress are written as the work goes, so the admin shows them.
    Any failure ends in status 'failed' with a message a person can act on; nothing else changes.
    """
    from workers import loading, runtime

    if not job_claim(job_class=Model, job_id=model_id, worker=worker, queued_only=queued):
        return Model.objects.get(id=model_id)
    report = job_progress_writer(job_class=Model, job_id=model_id, callback=progress)
    model = Model.objects.get(id=model_id)
    started = time.monotonic()
    if model.is_engine_served:
        return _engine_check(model, report, started)
    try:
        report(0.02, "Locating weights")
        folder = _prepared_folder(model, report)
        precision = model_serving_precisions(model=model)[0]
        _check_fits_cache(model, folder, precision)
        report(0.75, f"Loading the model ({precision})")
        load_started = time.monotonic()
        if model.kind == Model.Kind.ENCODER:
            loaded = runtime.encoder_get(path=folder, precision=precision)
            load_seconds = time.monotonic() - load_started
            report(0.9, "Smoke test: embedding two sentences")
            smoke_output, dim = _smoke_test_encoder(loaded)
        else:
            loaded = runtime.language_model_get(path=folder, precision=precision)
            load_seconds = time.monotonic() - load_started
            report(0.9, "Smoke test: generating a few tokens")
            smoke_output, dim = _smoke_test_language_model(model, loaded)
    except (loading.ModelLoadError, CatalogueError) as error:
        return _model_failed(model_id, str(error), started)
    except Exception as error:  # noqa: BLE001 - any failure must end in 'failed', with its text
        logger.exception("Preparing model %s failed", model_id)
        return _model_failed(model_id, f"Preparation failed unexpectedly: {type(error).__name__}: {error}", started)

    job_finish(
        job_class=Model,
        job_id=model_id,
        progress_text="Ready",
        prepared_path=str(folder),
        parameter_count=loaded.parameter_count,
        embedding_dim=dim,
        load_seconds=load_seconds,
        prepare_seconds=time.monotonic() - started,
        smoke_test_output=smoke_output[:500],
    )
    return Model.objects.get(id=model_id)


def _engine_check(model: Model, report: ProgressCallback, started: float) -> Model:
    """An engine-served model is ready when this worker can read its meter and the engine lists the
    model, streams a short answer and reports its token counts."""
    from workers import engine_client, engine_meter, runtime

    try:
        report(0.1, f"Opening the meter ({model.meter}) on this worker")
        runtime.engine_attribution(model.meter)
        report(0.3, "Asking the engine for its models, then for an 8-token streamed answer")
        check = engine_client.endpoint_check(model.endpoint(), timeout_s=settings.ARENA_ENGINE_CHECK_TIMEOUT_S)
    except engine_client.EngineError as error:
        return _model_failed(model.id, error.detail, started)  # for the admin: with the engine's address
    except engine_meter.MeterSpecError as error:
        return _model_failed(model.id, str(error), started)
    except Exception as error:  # noqa: BLE001 - any failure must end in 'failed', with its text
        logger.exception("Checking the engine of model %s failed", model.id)
        message = f"Checking the engine failed unexpectedly: {type(error).__name__}: {error}"
        return _model_failed(model.id, message, started)
    job_finish(
        job_class=Model,
        job_id=model.id,
        progress_text="Ready",
        prepared_path="",
        parameter_count=None,
        embedding_dim=None,
        load_seconds=None,
        prepare_seconds=time.monotonic() - started,
        smoke_test_output=(
            f"{check.text} ({check.prompt_tokens} prompt and {check.output_tokens} output tokens in "
            f"{check.seconds:.1f} s; the engine lists {len(check.listed)} model(s))"
        )[:500],
    )
    return Model.objects.get(id=model.id)


def _prepared_folder(model: Model, report: ProgressCallback) -> Path:
    """The folder the runtime loads: the weights' own, or a safetensors conversion of a GGUF file (once)."""
    from workers import loading

    located = model_weights_locate(model=model, progress=lambda fraction, text: report(0.02 + 0.18 * fraction, text))
    weights = loading.find_weights(located)
    if weights.format != "gguf":
        return weights.folder
    report(0.2, "Converting GGUF to safetensors (once; takes up to two minutes)")
    return loading.convert_gguf(
        weights.folder / weights.gguf_file, settings.ARENA_MODELS_DIR / model.slug,
        progress=lambda fraction, text: report(0.2 + 0.5 * fraction, text),
    )


def _check_fits_cache(model: Model, folder: Path, precision: str) -> None:
    """Refuse a model whose weights alone exceed a worker's model cache: it would be loaded for each
    request and evict every other model."""
    from workers import loading

    needed = loading.weights_bytes(folder, precision)
    budget = settings.ARENA_MODEL_CACHE_BYTES
    if needed > budget:
        raise loading.ModelLoadError(
            f"{model.name} needs {needed / 1024**3:.2f} GiB in {precision}, more than a worker's model cache "
            f"(ARENA_MODEL_CACHE_BYTES = {budget / 1024**3:.2f} GiB). Raise ARENA_MODEL_CACHE_BYTES, or run "
            "its contenders in a smaller precision (bfloat16), then use 'Prepare again'."
        )


def _smoke_test_encoder(loaded) -> tuple[str, int]:
    from workers.embedding import embed
    from workers.loading import ModelLoadError

    vectors = embed(loaded, SMOKE_SENTENCES)
    if vectors.shape != (2, loaded.embedding_dim):
        raise ModelLoadError(
            f"Smoke test failed: expected 2 vectors of size {loaded.embedding_dim}, got {vectors.shape}."
        )
    return f"2 vectors of dimension {vectors.shape[1]}", loaded.embedding_dim


def _smoke_test_language_model(model: Model, loaded) -> tuple[str, int]:
    from workers.generation import DecodingConfig, generate
    from workers.loading import ModelLoadError

    if model.kind == Model.Kind.CHAT and not loaded.has_chat_template:
        raise ModelLoadError(
            "This model has no chat template, so it cannot be a chat model. Register it with kind 'completion'."
        )
    result = generate(loaded, SMOKE_PROMPT, DecodingConfig(method="greedy", max_new_tokens=8))
    if result.output_tokens == 0:
        raise ModelLoadError("Smoke test failed: the model generated no tokens.")
    return result.text, loaded.hidden_size


def _model_failed(model_id: int, message: str, started: float) -> Model:
    job_fail(job_class=Model, job_id=model_id, error=message, prepare_seconds=time.monotonic() - started)
    return Model.objects.get(id=model_id)
