"""Writes of the training app: create, run (in a worker or on the command line), cancel, resume.

A run trains a private copy of the base encoder (the cached one that serves battles is never
touched), saves the weights as safetensors under ARENA_DATA_DIR/trained/, registers them as a new
model and contender of the base's family, prepares them with the model hub's own service (load and
smoke test), tells the apps above the hub (`model_ready`: the arena embeds its corpora) and runs the
diagnostics before and after with the diagnostics' own services.
"""

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from analysis.diagnostics.models import DiagnosticsRun
from analysis.diagnostics.services import diagnostics_run_create, diagnostics_run_execute
from analysis.diagnostics.sts import positive_pairs, read_sts
from arena.models import Corpus
from modelhub.hooks import model_ready
from modelhub.models import Contender, Model
from modelhub.services import contender_create_default, model_prepare
from modelhub.slugs import slug_unique
from training import data
from training.loop import Example, TrainingConfig, TrainResult, total_steps, train
from training.models import TrainingRun
from workers.energy import CpuTimeEstimateMeter, select_meter
from workers.jobs import ProgressCallback, job_claim, job_enqueue, job_fail, job_finish, job_progress_writer, jobs_lost

logger = logging.getLogger(__name__)

EVAL_PAIRS = 200  # held-out pairs for alignment and uniformity: enough for stable figures, ~1 s per evaluation
# Files a sentence-transformers folder holds besides the transformers ones (pooling, max length).
SENTENCE_TRANSFORMERS_FILES = ["modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"]


class TrainingInputError(ValueError):
    """Bad input for a training run: `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__(" ".join(errors.values()))


def _examples(*, objective: str, corpus: Corpus | None, pairs_path: str) -> list[Example]:
    if objective == TrainingRun.Objective.SIMCSE:
        texts = [f"{title}: {text}" if title else text
                 for title, text in corpus.documents.order_by("position").values_list("title", "text")]
        return [Example(t) for t in texts if t.strip()]
    return data.read_pairs(Path(pairs_path), objective)


def training_run_check(
    *, base: Contender | None, name: str, objective: str, corpus: Corpus | None = None, pairs_path: str = "",
    sts_path: str = "", epochs: int = 1, steps: int | None = None, batch_size: int = 32,
    learning_rate: float = 2e-5, temperature: float = 0.05, max_length: int = 128, eval_every: int = 20,
) -> dict[str, str]:
    """The problems of these inputs, by field (empty when they are fine). Reads the data to check it."""
    errors: dict[str, str] = {}
    if base is None:
        errors["base"] = "Choose the contender to start from."
    elif base.model.kind != Model.Kind.ENCODER:
        errors["base"] = (f"{base.name} is a {base.model.get_kind_display().split(' (')[0].lower()} model, not an "
                          "encoder: only encoders (sentence embeddings) can be trained here.")
    elif base.model.status != Model.Status.READY:
        errors["base"] = f"{base.name} is not ready (its model is {base.model.status}): prepare it first."
    name = (name or "").strip()
    if not name:
        errors["name"] = "Give the new model a name."
    elif Model.objects.filter(name__iexact=name).exists() or Contender.objects.filter(name__iexact=name).exists():
        errors["name"] = f"A model or contender named '{name}' already exists: choose another name."
    elif TrainingRun.objects.filter(name__iexact=name).exclude(
            status__in=[TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED]).exists():
        errors["name"] = f"Another training run already makes a model named '{name}'."
    config = TrainingConfig(objective=objective, epochs=epochs, steps=steps, batch_size=batch_size,
                            learning_rate=learning_rate, temperature=temperature, max_length=max_length,
                            eval_every=eval_every)
    if problems := config.problems():
        return errors | problems
    if objective == TrainingRun.Objective.SIMCSE:
        if corpus is None:
            errors["corpus"] = "Unsupervised SimCSE trains on a corpus: choose one."
        elif pairs_path:
            errors["pairs_path"] = "SimCSE takes a corpus, not a pairs file."
    elif not pairs_path:
        errors["pairs_path"] = f"{objective} trains on a pairs file: give its path."
    if sts_path:
        try:
            if len(read_sts(Path(sts_path))) < 2:
                errors["sts_path"] = f"{sts_path} holds fewer than 2 STS pairs."
        except (OSError, ValueError) as error:
            errors["sts_path"] = f"The STS file can't be read: {error}"
    if "corpus" in errors or "pairs_path" in errors:
        return errors
    try:
        examples = _examples(objective=objective, corpus=corpus, pairs_path=pairs_path)
    except (OSError, ValueError) as error:
        errors["corpus" if objective == TrainingRun.Objective.SIMCSE else "pairs_path"] = str(error)
        return errors
    minimum = max(settings.TRAINING_MIN_EXAMPLES, 2)
    if len(examples) < minimum:
        where = "corpus" if objective == TrainingRun.Objective.SIMCSE else "pairs_path"
        errors[where] = (f"{'The data set is empty' if not examples else f'Only {len(examples)} examples'}: "
                         f"training needs at least {minimum}.")
    return errors


@transaction.atomic
def training_run_create(*, base: Contender | None, name: str, objective: str, queue: bool = False,
                        **params) -> TrainingRun:
    """Check the inputs (TrainingInputError when they are bad; nothing is stored) and store the run;
    with `queue`, its task is sent to a worker once the transaction commits."""
    errors = training_run_check(base=base, name=name, objective=objective, **{
        k: v for k, v in params.items() if k != "seed"})
    if errors:
        raise TrainingInputError(errors)
    run = TrainingRun.objects.create(base=base, name=name.strip(), objective=objective, **params)
    if queue:
        training_run_queue(run=run)
    return run


def training_run_queue(*, run: TrainingRun) -> None:
    from training.tasks import train_encoder

    job_enqueue(job_class=TrainingRun, job_id=run.id, task=train_encoder, queue=settings.TRAINING_QUEUE)


@transaction.atomic
def training_run_cancel(*, run_id: int) -> TrainingRun:
    """A queued run is cancelled at once; a running one stops before its next step."""
    now = timezone.now()
    TrainingRun.objects.filter(id=run_id, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.CANCELLED, cancel_requested=True, progress_text="Cancelled before it started",
        finished_at=now)
    TrainingRun.objects.filter(id=run_id, status=TrainingRun.Status.RUNNING).update(
        cancel_requested=True, progress_text="Cancelling…")
    return TrainingRun.objects.get(id=run_id)


def training_runs_resume_lost() -> int:
    """Runs whose worker died are queued again (they resume from their last checkpoint); a run that
    already had TRAINING_MAX_ATTEMPTS starts fails instead. Called from the workers' heartbeat."""
    lost = jobs_lost(TrainingRun)
    failed = lost.filter(attempts__gte=settings.TRAINING_MAX_ATTEMPTS).update(
        status=TrainingRun.Status.FAILED, finished_at=timezone.now(), progress_text="Failed",
        error=f"The worker stopped {settings.TRAINING_MAX_ATTEMPTS} times during this run; it was given up.")
    requeued = 0
    for run_id in list(lost.values_list("id", flat=True)):
        # One UPDATE whose condition is the lost-worker test again: a run another beat took is left alone.
        if jobs_lost(TrainingRun).filter(id=run_id).update(
                status=TrainingRun.Status.QUEUED, progress_text="Worker lost: waiting to resume from the checkpoint"):
            training_run_queue(run=TrainingRun(id=run_id))
            requeued += 1
    return requeued + failed


def _checkpoint_dir(run: TrainingRun) -> Path:
    return settings.ARENA_DATA_DIR / "training" / f"run-{run.id}"


def _run_config(run: TrainingRun) -> TrainingConfig:
    return TrainingConfig(
        objective=run.objective, epochs=run.epochs, steps=run.steps, batch_size=run.batch_size,
        learning_rate=run.learning_rate, temperature=run.temperature, max_length=run.max_length, seed=run.seed,
        eval_every=run.eval_every, checkpoint_every=settings.TRAINING_CHECKPOINT_EVERY,
    )


def _data(run: TrainingRun) -> tuple[list[Example], list[tuple[str, str]], bool]:
    """Training examples, held-out pairs for alignment/uniformity, and whether those pairs are dropout views."""
    examples = _examples(objective=run.objective, corpus=run.corpus, pairs_path=run.pairs_path)
    if len(examples) < max(settings.TRAINING_MIN_EXAMPLES, 2):
        raise data.DataError(f"Only {len(examples)} examples: training needs at least "
                             f"{max(settings.TRAINING_MIN_EXAMPLES, 2)}.")
    if run.sts_path:  # a labelled sample the training never sees: nothing held out of the data
        pairs = positive_pairs(read_sts(Path(run.sts_path)))[:EVAL_PAIRS]
        if len(pairs) >= 2:
            return examples, [(p.sentence1, p.sentence2) for p in pairs], False
    train_part, held = data.holdout(examples, seed=run.seed, at_most=EVAL_PAIRS)
    if run.objective == TrainingRun.Objective.SIMCSE:
        return train_part, [(e.text1, e.text1) for e in held], True
    if run.objective == TrainingRun.Objective.COSENT:  # positives: the held-out pairs scored in the top fifth
        top = max(e.score for e in examples)
        low = min(e.score for e in examples)
        positives = [e for e in held if e.score >= low + 0.8 * (top - low)]
        held = positives if len(positives) >= 2 else sorted(held, key=lambda e: -e.score)[:2]
    return train_part, [(e.text1, e.text2) for e in held], False


def _meter(device: str, foreground: bool):
    meter = select_meter(device, settings.ARENA_CPU_WATTS_PER_CORE)
    if isinstance(meter, CpuTimeEstimateMeter) and device == "cpu" and foreground:
        # On the command line torch computes on several threads; the workers' estimate counts one.
        return meter.with_process_clock()
    return meter


def _energy_method(result: TrainResult, steps: int) -> str:
    reading = result.reading
    if reading is None:
        return ""
    if reading.source == "estimate":  # the meter's own sentence, for the whole run
        meter = CpuTimeEstimateMeter(settings.ARENA_CPU_WATTS_PER_CORE)
        return f"{meter.describe(result.joules)} (sum over {steps} steps)"
    return f"sum over {steps} steps, each {reading.method}"


def training_run_execute(
    *, run_id: int, progress: ProgressCallback | None = None, worker: str = "", queued: bool = True,
    foreground: bool = False,
) -> TrainingRun:
    """Train, save, register, prepare, diagnose. Resumes from the run's checkpoint when there is one.

    `queued`: run only a queued run (the task; a redelivered task does nothing); `foreground`: on the
    command line, where torch may use every core and the corpora are embedded in this process too.
    Any failure ends the run failed with its message; no existing model is changed.
    """
    if not job_claim(job_class=TrainingRun, job_id=run_id, worker=worker, queued_only=queued):
        return TrainingRun.objects.get(id=run_id)
    TrainingRun.objects.filter(id=run_id).update(attempts=F("attempts") + 1)
    report = job_progress_writer(job_class=TrainingRun, job_id=run_id, callback=progress)
    run = TrainingRun.objects.select_related("base__model", "corpus").get(id=run_id)
    checkpoint_dir = _checkpoint_dir(run)
    try:
        result, encoder = _train(run, report, checkpoint_dir, foreground)
        if result.status == "cancelled":
            TrainingRun.objects.filter(id=run_id).update(
                status=TrainingRun.Status.CANCELLED, finished_at=timezone.now(), progress_text=result.message,
                **_result_fields(result))
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
            return TrainingRun.objects.get(id=run_id)
        if result.status == "nan":
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
            job_fail(job_class=TrainingRun, job_id=run_id, error=result.message, **_result_fields(result))
            return TrainingRun.objects.get(id=run_id)
        TrainingRun.objects.filter(id=run_id).update(**_result_fields(result))
        _into_the_ring(run, encoder, report, foreground)
    except Exception as error:  # noqa: BLE001 - the run shows its error; the base and other models are untouched
        logger.exception("Training run %s failed", run_id)
        message = str(error) if isinstance(error, (ValueError, OSError)) else f"{type(error).__name__}: {error}"
        job_fail(job_class=TrainingRun, job_id=run_id, error=message)
        return TrainingRun.objects.get(id=run_id)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    job_finish(job_class=TrainingRun, job_id=run_id, progress_text="Done: the new contender is in the ring",
               seconds_left=0.0)
    return TrainingRun.objects.get(id=run_id)


def _result_fields(result: TrainResult) -> dict:
    return {
        "step": result.step, "total_steps": result.total_steps, "curves": result.curves, "joules": result.joules,
        "seconds": result.seconds, "resumed_from": result.resumed_from,
        "energy_source": result.reading.source if result.reading else "",
        "energy_method": _energy_method(result, result.step)[:300],
        "device": result.reading.device if result.reading else "",
    }


def _train(run: TrainingRun, report: ProgressCallback, checkpoint_dir: Path, foreground: bool):
    """The loop's result and the trained encoder."""
    from workers import loading, runtime

    report(0.0, "Reading the data")
    examples, eval_pairs, dropout_views = _data(run)
    config = _run_config(run)
    TrainingRun.objects.filter(id=run.id).update(
        examples=len(examples), total_steps=total_steps(config, len(examples)), checkpoint_path=str(checkpoint_dir))
    if run.diagnostics_before_id is None:
        report(0.0, "Diagnostics of the base model")
        before = _diagnostics(run.base, run.sts_path)
        TrainingRun.objects.filter(id=run.id).update(diagnostics_before=before)
    device = runtime.current_device()
    # A private copy, in float32: the cached model that serves battles is never trained.
    encoder = loading.load_encoder(Path(run.base.model.prepared_path), device, "float32")

    def on_eval(curves: list[dict], seconds_left: float | None) -> None:
        TrainingRun.objects.filter(id=run.id).update(curves=curves, step=curves[-1]["step"], seconds_left=seconds_left)

    cancelled = _cancel_check(run.id)
    result = train(
        encoder, examples, config, eval_pairs=eval_pairs, meter=_meter(device, foreground),
        checkpoint_dir=checkpoint_dir, progress=lambda f, text: report(0.9 * f, text), on_eval=on_eval,
        should_stop=cancelled, dropout_views=dropout_views,
    )
    return result, encoder


def _cancel_check(run_id: int, every_s: float = 1.0) -> Callable[[], bool]:
    """A should_stop that reads the cancel flag at most once a second."""
    import time

    last, answer = [float("-inf")], [False]

    def should_stop() -> bool:
        if not answer[0] and time.monotonic() - last[0] >= every_s:
            last[0] = time.monotonic()
            answer[0] = TrainingRun.objects.filter(id=run_id, cancel_requested=True).exists()
        return answer[0]

    return should_stop


def _diagnostics(contender: Contender, sts_path: str) -> DiagnosticsRun:
    if sts_path:
        # The whole file: an STS score is comparable only over the full set (the STS-B test split: 1,379 pairs).
        run = diagnostics_run_create(contender=contender, source=DiagnosticsRun.Source.STS, source_path=sts_path)
    else:
        run = diagnostics_run_create(contender=contender, source=DiagnosticsRun.Source.CORPUS,
                                     limit=settings.TRAINING_DIAGNOSTICS_LIMIT)
    return diagnostics_run_execute(run_id=run.id)


def _save_weights(encoder, base_folder: Path, out_dir: Path) -> Path:
    """The trained encoder as a safetensors folder with the base's pooling settings; whole or not at all."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        encoder.model.save_pretrained(tmp, safe_serialization=True)
        encoder.tokenizer.save_pretrained(tmp)
        for name in SENTENCE_TRANSFORMERS_FILES:
            if (base_folder / name).is_file():
                shutil.copy2(base_folder / name, tmp / name)
        if (base_folder / "1_Pooling").is_dir():
            shutil.copytree(base_folder / "1_Pooling", tmp / "1_Pooling")
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _into_the_ring(run: TrainingRun, encoder, report: ProgressCallback, foreground: bool) -> None:
    from arena.corpus_services import corpus_embedding_build
    from arena.models import CorpusEmbedding

    report(0.9, "Saving the weights (safetensors)")
    base = run.base
    slug = slug_unique(model_class=Model, name=run.name)
    folder = _save_weights(encoder, Path(base.model.prepared_path),
                           settings.ARENA_DATA_DIR / "trained" / f"{slug}-{run.id}-{uuid.uuid4().hex[:6]}")
    with transaction.atomic():
        model = Model.objects.filter(training_run__id=run.id).first()
        if model is None:
            model = Model.objects.create(
                name=run.name, family=base.model.family, maker=base.model.maker, kind=Model.Kind.ENCODER,
                source_type=Model.SourceType.HF_FOLDER, source=str(folder))
            TrainingRun.objects.filter(id=run.id).update(model=model)
        else:  # a worker died after registering it: the resumed run's weights replace the first ones
            Model.objects.filter(id=model.id).update(source=str(folder))
        contender = model.contenders.first() or contender_create_default(model=model)
    report(0.92, "Preparing the new model (load and smoke test)")
    model = model_prepare(model_id=model.id)
    if model.status != Model.Status.READY:
        raise ValueError(f"The trained model failed its preparation: {model.error}")
    # The apps above the hub react as to any new model: the arena embeds its corpora with it.
    model_ready.send(model=model)
    if foreground:  # no worker serves the new model's queue yet: embed here
        for embedding_id in CorpusEmbedding.objects.filter(
                contender=contender, status=CorpusEmbedding.Status.QUEUED).values_list("id", flat=True):
            report(0.94, "Embedding the corpora with the new model")
            corpus_embedding_build(embedding_id=embedding_id)
    report(0.96, "Diagnostics of the trained model")
    after = _diagnostics(contender, run.sts_path)
    TrainingRun.objects.filter(id=run.id).update(diagnostics_after=after)
