"""The diagnostics pages: starting a run when the job queue is down."""

import pytest
from kombu.exceptions import OperationalError

from analysis.diagnostics.models import DiagnosticsRun
from modelhub.models import Contender, Model


@pytest.mark.django_db(transaction=True)  # commits for real: the enqueue runs after the service's commit
def test_starting_a_run_while_redis_is_down_fails_the_run_visibly(admin_client, monkeypatch):
    """Before: the POST could 500 and the run stayed 'queued' for ever."""
    from analysis.tasks import run_diagnostics

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(run_diagnostics, "apply_async", refuse)
    model = Model.objects.create(name="Enc", family="st", kind=Model.Kind.ENCODER, status=Model.Status.READY,
                                 source_type=Model.SourceType.HF_FOLDER, source="/nonexistent")
    contender = Contender.objects.create(model=model, name="Enc")

    answer = admin_client.post("/diagnostics/run/", {"contender": contender.slug}, follow=True)
    assert answer.status_code == 200
    run = DiagnosticsRun.objects.get()
    assert run.status == DiagnosticsRun.Status.FAILED and "job queue (Redis) is unavailable" in run.error
    assert b"job queue (Redis) is unavailable" in answer.content
    assert b"queued; progress shows below" not in answer.content
