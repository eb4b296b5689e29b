"""Training runs end to end on the bundled MiniLM with tiny data: into the ring, bad inputs, cancel,
NaN, and resume after a lost worker."""

from pathlib import Path

import pytest
from django.utils import timezone

from arena.answering import response_retrieve
from arena.corpus_services import corpus_embedding_build
from arena.models import Battle, CorpusEmbedding
from arena.services import battle_create
from modelhub.models import Contender, Model
from tests.factories import corpus_upload
from training import loop
from training.models import TrainingRun
from training.services import (
    TrainingInputError,
    training_run_cancel,
    training_run_create,
    training_run_execute,
    training_runs_resume_lost,
)
from training.tasks import resume_lost_training
from workers.hooks import heartbeat
from workers.models import WorkerHeartbeat

DOCUMENTS = ["The cat sat on the warm windowsill.", "Interest rates rose after the bank meeting.",
             "Sourdough bread needs flour, water, salt and a starter.", "The volcano erupted, sending ash up."]


@pytest.fixture
def small(settings, tmp_path, pairs_file, sts_file):
    """Tiny data; the STS file is the held-out sample and gives STS before and after."""
    settings.ARENA_DATA_DIR = tmp_path
    settings.TRAINING_DIAGNOSTICS_LIMIT = 8
    settings.TRAINING_CHECKPOINT_EVERY = 2
    return {"pairs": str(pairs_file), "sts": str(sts_file), "dir": tmp_path}


@pytest.fixture
def minilm_contender(bundled_ready) -> Contender:
    bundled_ready("all-minilm-l6-v2")
    return Contender.objects.select_related("model").get(name="all-MiniLM-L6-v2")


def _create(base, small, **overrides) -> TrainingRun:
    params = {"name": "MiniLM CoSENT", "objective": "cosent", "pairs_path": small["pairs"], "sts_path": small["sts"],
              "steps": 2, "batch_size": 4, "max_length": 32, "eval_every": 1, "learning_rate": 1e-4, **overrides}
    return training_run_create(base=base, **params)


def test_a_short_run_ends_in_a_ready_contender_that_answers_a_retrieval_battle(minilm_contender, small):
    corpus = corpus_upload(name="Mixed", data="\n".join(DOCUMENTS).encode(), filename="mixed.txt")
    base_files = {p.name: p.stat().st_mtime for p in Path(
        minilm_contender.model.prepared_path).iterdir()}
    run = _create(minilm_contender, small)
    seen = []
    run = training_run_execute(run_id=run.id, progress=lambda f, t: seen.append(t), foreground=True)

    assert run.status == TrainingRun.Status.DONE, run.error
    assert run.step == run.total_steps == 2 and run.examples == 8
    assert [p["step"] for p in run.curves] == [0, 1, 2] and run.curves[-1]["loss"] > 0
    assert run.joules > 0 and run.energy_source == "estimate" and "CPU time" in run.energy_method
    assert any("left" in text for text in seen)
    model = run.model
    assert model.status == Model.Status.READY and model.kind == Model.Kind.ENCODER
    assert model.family == minilm_contender.model.family and model.name == "MiniLM CoSENT"
    assert list(Path(model.prepared_path).glob("*.safetensors"))
    assert model.prepared_path.startswith(str(small["dir"]))
    assert run.description == "fine-tuned from all-MiniLM-L6-v2 with CoSENT"
    before, after = run.diagnostics_before.metrics, run.diagnostics_after.metrics
    assert "sts_spearman" in before and "sts_spearman" in after and after["alignment"] != before["alignment"]
    assert not (small["dir"] / "training" / f"run-{run.id}").exists()  # the checkpoint is gone once done
    # the base is untouched
    minilm_contender.model.refresh_from_db()
    assert minilm_contender.model.status == Model.Status.READY
    assert {p.name: p.stat().st_mtime for p in Path(
        minilm_contender.model.prepared_path).iterdir()} == base_files

    # Into the ring: its corpus vectors were built, and it answers a retrieval battle.
    contender = model.contenders.get()
    assert CorpusEmbedding.objects.get(corpus=corpus, contender=contender).status == CorpusEmbedding.Status.READY
    base_embedding = CorpusEmbedding.objects.get(corpus=corpus, contender=minilm_contender)
    corpus_embedding_build(embedding_id=base_embedding.id)
    battle = battle_create(prompt="Which animal was resting?", session_key="s", corpus=corpus.slug)
    assert battle.kind == Battle.Kind.RETRIEVAL
    side = battle.responses.get(contender=contender)
    answer = response_retrieve(response_id=side.id)
    assert answer.status == "done", answer.error
    assert "cat" in answer.results[0]["text"]


@pytest.mark.django_db
def test_bad_inputs_are_refused_with_their_field_and_store_nothing(make_contender, small):
    chat = make_contender(kind="chat")
    encoder = make_contender(kind="encoder", name="enc")
    registered = make_contender(kind="encoder", status="registered")
    empty = small["dir"] / "empty.tsv"
    empty.write_text("")
    malformed = small["dir"] / "bad.tsv"
    malformed.write_text("a\tb\t1\nc\td\t2\nonly one column\n")
    few = small["dir"] / "few.tsv"
    few.write_text("a\tb\t1\nc\td\t2\n")
    cases = [
        ({"base": chat}, "base", "not an encoder"),
        ({"base": registered}, "base", "not ready"),
        ({"pairs_path": str(empty)}, "pairs_path", "empty"),
        ({"pairs_path": str(few)}, "pairs_path", "Only 2 examples"),
        ({"pairs_path": str(malformed)}, "pairs_path", "line 3"),
        ({"pairs_path": str(small["dir"] / "missing.tsv")}, "pairs_path", "No pairs file"),
        ({"learning_rate": 0}, "learning_rate", "> 0"),
        ({"temperature": -0.1}, "temperature", "> 0"),
        ({"name": "enc"}, "name", "already exists"),
        ({"name": encoder.model.name.upper()}, "name", "already exists"),
        ({"objective": "simcse", "pairs_path": ""}, "corpus", "corpus"),
    ]
    for overrides, field, words in cases:
        params = {"base": encoder, **overrides}
        with pytest.raises(TrainingInputError) as caught:
            _create(params.pop("base"), small, **params)
        assert field in caught.value.errors and words in caught.value.errors[field], (overrides, caught.value.errors)
    assert not TrainingRun.objects.exists()


def test_cancel_a_queued_run_and_a_running_one(minilm_contender, small):
    queued = _create(minilm_contender, small, name="Queued")
    assert training_run_cancel(run_id=queued.id).status == TrainingRun.Status.CANCELLED
    assert training_run_execute(run_id=queued.id).status == TrainingRun.Status.CANCELLED  # its task does nothing

    run = _create(minilm_contender, small, name="Running", steps=50)
    models = Model.objects.count()

    def progress(fraction, text):
        if "Step 1/" in text:
            training_run_cancel(run_id=run.id)

    run = training_run_execute(run_id=run.id, progress=progress)
    assert run.status == TrainingRun.Status.CANCELLED and "Cancelled at step" in run.progress_text
    assert Model.objects.count() == models and not Model.objects.filter(name="Running").exists()
    assert not (small["dir"] / "training" / f"run-{run.id}").exists()


def test_a_nan_loss_fails_the_run_and_keeps_the_base(minilm_contender, small, monkeypatch):
    import torch

    monkeypatch.setattr(loop, "batch_loss", lambda *a: torch.tensor(float("nan"), requires_grad=True))
    models = Model.objects.count()
    run = training_run_execute(run_id=_create(minilm_contender, small).id)
    assert run.status == TrainingRun.Status.FAILED and "loss became nan" in run.error
    assert Model.objects.count() == models and minilm_contender.model.status == Model.Status.READY


def test_a_run_whose_worker_died_is_queued_again_and_resumes_from_its_checkpoint(
        minilm_contender, small, django_capture_on_commit_callbacks):
    run = _create(minilm_contender, small, steps=4)

    def killed(fraction, text):  # the worker dies during step 3, after the checkpoint of step 2
        if "Step 3/4" in text:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        training_run_execute(run_id=run.id, progress=killed, worker="w1@h")
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.RUNNING and run.attempts == 1
    assert (small["dir"] / "training" / f"run-{run.id}" / loop.CHECKPOINT_FILE).is_file()

    now = timezone.now()
    WorkerHeartbeat.objects.create(hostname="w1@h", pid=1, started_at=now, last_seen=now, stopped_at=now)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert training_runs_resume_lost() == 1
    assert len(sent) == 1  # its task goes to a worker again once the beat's transaction commits
    assert resume_lost_training in heartbeat.receivers  # every worker's heartbeat runs it (config/wiring.py)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.QUEUED and "resume" in run.progress_text

    run = training_run_execute(run_id=run.id, worker="w2@h", foreground=True)
    assert run.status == TrainingRun.Status.DONE, run.error
    assert run.resumed_from == 2 and run.step == 4 and run.attempts == 2
    assert [p["step"] for p in run.curves] == [0, 1, 2, 3, 4]


@pytest.mark.django_db
def test_a_run_lost_too_often_is_given_up(make_contender, settings):
    base = make_contender(kind="encoder")
    run = TrainingRun.objects.create(base=base, name="x", objective="cosent", status="running", worker="w@h",
                                     attempts=settings.TRAINING_MAX_ATTEMPTS, started_at=timezone.now())
    now = timezone.now()
    WorkerHeartbeat.objects.create(hostname="w@h", pid=1, started_at=now, last_seen=now, stopped_at=now)
    training_runs_resume_lost()
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED and "given up" in run.error
