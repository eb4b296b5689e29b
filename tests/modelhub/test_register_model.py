"""Registering an engine-served model: the command (`register_model`, with --wait), the admin form,
the rules a model and its contenders must follow, and the key that is never stored."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client

from modelhub.models import Contender, Model
from tests.workers.scripted_engine import ScriptedEngine


@pytest.fixture
def engine():
    server = ScriptedEngine()
    yield server
    server.close()


def register(*args: str, wait: bool = False) -> str:
    from io import StringIO

    out = StringIO()
    call_command("register_model", "--name", "Engine model", "--family", "Fam", "--kind", "chat", *args,
                 *(["--wait", "--timeout", "60"] if wait else []), stdout=out, stderr=StringIO())
    return out.getvalue()


URL = ["--endpoint", "http://gpu-1:8000/v1"]


@pytest.mark.parametrize(("args", "said"), [
    ([*URL, "--meter", "none"], "--served-model: Give the id the engine serves"),
    (["--endpoint", "gpu-1:8000", "--served-model", "m", "--meter", "none"], "the source option: 'gpu-1:8000' is not"),
    ([*URL, "--served-model", "m", "--meter", "zeus"], "--meter: 'zeus' is not a meter"),
    ([*URL, "--served-model", "m", "--meter", "nvml:x"], "--meter: 'nvml:x': nvml takes"),
    ([*URL, "--served-model", "m", "--api-key-env", "MY-KEY"], "--api-key-env: A variable name"),
])
def test_the_command_refuses_what_cannot_work_and_stores_nothing(db, args, said):
    with pytest.raises(CommandError, match="The model was not registered") as raised:
        register(*args)
    assert said in str(raised.value)
    assert not Model.objects.exists() and not Contender.objects.exists()


def test_an_engine_served_model_must_be_a_chat_model(db):
    with pytest.raises(CommandError, match="--kind: An engine-served model is a chat model"):
        call_command("register_model", "--name", "X", "--family", "F", "--kind", "completion",
                     "--endpoint", "http://h:1/v1", "--served-model", "m", "--meter", "none")


def test_the_command_stores_the_key_variables_name_and_queues_the_check(db, monkeypatch):
    monkeypatch.setenv("ENGINE_KEY", "never-stored-secret")
    out = register("--endpoint", "http://gpu-1:8000/", "--served-model", " org/model ", "--api-key-env", "ENGINE_KEY",
                   "--context-length", "8192")
    model = Model.objects.get()
    assert (model.source_type, model.source, model.served_model_id) == ("endpoint", "http://gpu-1:8000/v1", "org/model")
    assert (model.api_key_env, model.context_length, model.meter) == ("ENGINE_KEY", 8192, "none")
    assert model.contenders.get().decoding == "greedy" and model.status == Model.Status.REGISTERED
    assert "queued" in out
    stored = " ".join(str(value) for value in Model.objects.values().get().values())
    assert "never-stored-secret" not in stored


def test_the_command_registers_the_other_source_types_too(db, tmp_path):
    register("--hf-folder", str(tmp_path))
    assert Model.objects.get().source_type == Model.SourceType.HF_FOLDER
    with pytest.raises(CommandError, match="not registered"):
        call_command("register_model", "--name", "P", "--family", "F", "--kind", "chat", "--package", "x")
    assert Model.objects.count() == 1


def test_contrastive_search_is_refused_for_an_engine_when_the_contender_is_saved(db):
    model = Model.objects.create(name="E", family="F", kind="chat", source_type="endpoint", source="http://h:1/v1",
                                 served_model_id="m", meter="none")
    contender = Contender(model=model, name="E contrastive", decoding=Contender.Decoding.CONTRASTIVE)
    with pytest.raises(ValidationError, match="cannot run contrastive search"):
        contender.full_clean()
    Contender(model=model, name="E sampling", decoding=Contender.Decoding.SAMPLING).full_clean()


def test_wait_returns_zero_when_the_worker_finds_the_engine_ready(engine, celery_worker_threads):
    out = register("--endpoint", engine.url, "--served-model", engine.served, "--meter", "none", wait=True)
    model = Model.objects.get()
    assert model.status == Model.Status.READY and "is ready" in out
    assert "tok0" in model.smoke_test_output and "7 prompt and 5 output tokens" in model.smoke_test_output
    assert model.prepared_path == "" and model.parameter_count is None


@pytest.mark.parametrize(("behaviour", "said"), [
    ("status:401", "refused the request \\(401\\)"),
    ("no_usage", "did not report token counts"),
    ("down", "cannot be reached"),
])
def test_wait_fails_with_the_reason_the_engine_gave(engine, celery_worker_threads, behaviour, said):
    if behaviour == "down":
        engine.close()
    else:
        engine.behaviour = behaviour
    with pytest.raises(CommandError, match=f"failed its preparation: .*{said}"):
        register("--endpoint", engine.url, "--served-model", engine.served, "--meter", "none", wait=True)
    assert Model.objects.get().status == Model.Status.FAILED


def test_a_meter_that_cannot_work_on_the_worker_fails_the_preparation(engine, celery_worker_threads, tmp_path):
    with pytest.raises(CommandError, match="Cannot read the engine's pid"):
        register("--endpoint", engine.url, "--served-model", engine.served, "--meter",
                 f"process:{tmp_path / 'missing.pid'}", wait=True)


@pytest.fixture
def staff_client(db) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("boss", "", "a-long-password-1"))
    return client


def test_the_admin_registers_an_engine_and_never_shows_its_key(staff_client, monkeypatch):
    monkeypatch.setenv("ADMIN_ENGINE_KEY", "secret-in-the-environment")
    form = {"name": "Admin engine", "family": "F", "maker": "", "kind": "chat", "source_type": "endpoint",
            "source": "http://gpu-2:8000/v1", "served_model_id": "m", "api_key_env": "ADMIN_ENGINE_KEY",
            "context_length": "4096", "meter": "nvml:1,0", "create_contender": "on"}
    refused = staff_client.post("/admin/modelhub/model/add/", {**form, "meter": ""})
    assert refused.status_code == 200 and "Say how the engine&#x27;s energy is measured" in refused.content.decode()
    assert staff_client.post("/admin/modelhub/model/add/", form).status_code == 302
    model = Model.objects.get(name="Admin engine")
    assert model.meter == "nvml:0,1" and model.contenders.count() == 1
    page = staff_client.get(f"/admin/modelhub/model/{model.id}/change/").content.decode()
    assert "ADMIN_ENGINE_KEY" in page and "secret-in-the-environment" not in page
    assert "OpenAI-compatible endpoint" in page
