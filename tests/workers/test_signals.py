"""Worker processes as `make run` starts them: heartbeats, warm-up, and each serving its own models."""

import time

import pytest

from arena.models import Battle, Response
from arena.services import battle_create
from modelhub.models import Contender, Model
from workers.models import WorkerHeartbeat


@pytest.fixture
def two_models(bundled_ready, tmp_path):
    """SmolLM2, and a second registered model on the same prepared weights (through a link, so that
    it is a model of its own, with its own queue): the model decides which worker serves a side."""
    (smollm2,) = bundled_ready("smollm2-135m-instruct")
    (tmp_path / "twin").symlink_to(smollm2.prepared_path, target_is_directory=True)
    twin = Model.objects.create(
        name="SmolLM2 twin", family="twin", maker="test", kind=Model.Kind.CHAT, source_type=Model.SourceType.HF_FOLDER,
        source=str(tmp_path / "twin"), status=Model.Status.READY, prepared_path=str(tmp_path / "twin"),
    )
    Contender.objects.create(model=twin, name="SmolLM2 twin greedy")
    Contender.objects.update(max_new_tokens=12)
    return smollm2, twin


def _wait(condition, timeout_s: float, message: str):
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, message
        time.sleep(0.3)
    return value


def test_two_worker_processes_each_serve_the_model_they_hold(two_models, worker_processes):
    smollm2, twin = two_models
    first = worker_processes("arena-worker-1", ["default", smollm2.queue_name])
    second = worker_processes("arena-worker-2", ["default", twin.queue_name])

    # Each warmed the model of its own queue, and says so in its heartbeat.
    def loaded():
        beats = {beat.hostname: beat for beat in WorkerHeartbeat.objects.all()}
        return len(beats) == 2 and all(beat.models_loaded for beat in beats.values()) and beats

    beats = _wait(loaded, 90, f"models were not warmed:\n{first.log_path.read_text()}\n{second.log_path.read_text()}")
    assert beats["arena-worker-1@test"].models_loaded == [smollm2.name]
    assert beats["arena-worker-2@test"].models_loaded == [twin.name]
    assert set(beats["arena-worker-1@test"].queues) == {"default", smollm2.queue_name}
    assert beats["arena-worker-1@test"].pid == first.pid

    for order in ((smollm2, twin), (twin, smollm2)):
        contenders = [Contender.objects.filter(model=model).first() for model in order]
        battle = battle_create(prompt="Name a colour.", session_key="s", named=True,
                               contender_a=contenders[0].slug, contender_b=contenders[1].slug)
        _wait(lambda battle=battle: not battle.responses.exclude(status=Response.Status.DONE).exists(), 120,
              f"battle {battle.id} did not finish: {list(battle.responses.values('status', 'error'))}")
        served = {r.contender.model_id: r.worker for r in Battle.objects.get(id=battle.id).responses.all()}
        assert served == {smollm2.id: "arena-worker-1@test", twin.id: "arena-worker-2@test"}


    # A clean shutdown is recorded as stopped, not lost.
    second.terminate()
    second.wait(timeout=30)
    beat = WorkerHeartbeat.objects.get(hostname="arena-worker-2@test")
    assert beat.stopped_at is not None and beat.pid == second.pid
