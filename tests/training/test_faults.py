"""Faults with real processes: a Celery worker killed in the middle of a training run.

The run is queued as the admin and `train_encoder --queue` do it, a real `celery worker` process trains
it and is killed (SIGKILL) after a checkpoint; a second worker's heartbeat queues it again
(`resume_lost_training`) and that worker resumes it from the checkpoint up to a ready contender.
"""

import time
from pathlib import Path

from modelhub.models import Contender, Model
from training import loop
from training.models import TrainingRun
from training.services import training_run_create

STEPS, EVAL_EVERY, CHECKPOINT_EVERY = 60, 10, 4
LOST_AFTER_S = 8  # the second worker's lost-worker time: well above its own 1 s heartbeat on busy cores


def _wait(condition, timeout_s: float, what: str, worker=None):
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if worker is not None:
            assert worker.poll() is None, f"the worker exited:\n{worker.log_path.read_text()[-5000:]}"
        assert time.monotonic() < deadline, what + (f"\n{worker.log_path.read_text()[-5000:]}" if worker else "")
        time.sleep(0.1)
    return value


def test_a_training_run_whose_worker_is_killed_resumes_from_its_checkpoint_in_a_new_worker(
    bundled_ready, worker_processes, settings, tmp_path, pairs_file, sts_file
):
    settings.ARENA_DATA_DIR = tmp_path  # the checkpoints of this test's runs only (the workers get it too)
    (minilm,) = bundled_ready("all-minilm-l6-v2")
    base = Contender.objects.select_related("model").get(name="all-MiniLM-L6-v2")
    base_files = {p.name: p.stat().st_mtime for p in Path(minilm.prepared_path).iterdir()}
    env = {"TRAINING_CHECKPOINT_EVERY": str(CHECKPOINT_EVERY)}

    first = worker_processes("training-worker-1", [settings.TRAINING_QUEUE], env=env)
    run = training_run_create(
        base=base, name="MiniLM resumed", objective="cosent", pairs_path=str(pairs_file), sts_path=str(sts_file),
        steps=STEPS, batch_size=4, max_length=32, eval_every=EVAL_EVERY, learning_rate=1e-4, queue=True,
    )
    checkpoint = tmp_path / "training" / f"run-{run.id}" / loop.CHECKPOINT_FILE

    def checkpointed() -> bool:
        current = TrainingRun.objects.get(id=run.id)
        assert current.status in (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING), (
            current.status, current.error)
        return current.status == TrainingRun.Status.RUNNING and checkpoint.is_file()

    _wait(checkpointed, 180, "worker 1 never wrote a checkpoint", worker=first)
    first.kill()  # SIGKILL: no shutdown, no heartbeat "stopped"
    first.wait()
    killed = TrainingRun.objects.get(id=run.id)
    assert killed.status == TrainingRun.Status.RUNNING and killed.worker == "training-worker-1@test"
    assert killed.attempts == 1 and killed.model is None

    # The new worker's heartbeat finds the run lost, queues it again, and the worker takes it.
    second = worker_processes("training-worker-2", [settings.TRAINING_QUEUE],
                              env={**env, "ARENA_WORKER_LOST_S": str(LOST_AFTER_S)})
    started = time.monotonic()
    _wait(lambda: TrainingRun.objects.get(id=run.id).finished, 240, "the resumed run never finished", worker=second)

    run = TrainingRun.objects.select_related("model").get(id=run.id)
    print(f"killed at step {killed.step}; resumed from step {run.resumed_from}; "
          f"done {time.monotonic() - started:.0f} s after worker 2 started")
    assert run.status == TrainingRun.Status.DONE, (run.error, second.log_path.read_text()[-5000:])
    assert run.worker == "training-worker-2@test" and run.attempts == 2
    assert 0 < run.resumed_from < STEPS and run.resumed_from % CHECKPOINT_EVERY == 0, run.resumed_from
    assert run.step == run.total_steps == STEPS
    # The curves went on from the checkpoint's: each evaluation once, none lost or repeated.
    assert [p["step"] for p in run.curves] == list(range(0, STEPS + 1, EVAL_EVERY))
    assert not checkpoint.parent.exists()  # the checkpoint is gone once done

    model = run.model
    assert model is not None and model.status == Model.Status.READY and model.kind == Model.Kind.ENCODER
    assert model.name == "MiniLM resumed" and model.family == minilm.family
    assert list(Path(model.prepared_path).glob("*.safetensors"))
    assert model.contenders.get().name == "MiniLM resumed"
    assert run.diagnostics_after is not None and "sts_spearman" in run.diagnostics_after.metrics

    # The base is untouched.
    minilm.refresh_from_db()
    assert minilm.status == Model.Status.READY and Path(minilm.prepared_path) != Path(model.prepared_path)
    assert {p.name: p.stat().st_mtime for p in Path(minilm.prepared_path).iterdir()} == base_files
