"""The one way background jobs run (workers/jobs.py), exercised on a real job model (a diagnostics run)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from kombu.exceptions import OperationalError

from analysis.diagnostics.models import DiagnosticsRun
from workers import hooks, jobs, signals
from workers.models import WorkerHeartbeat


def _run(**fields) -> DiagnosticsRun:
    return DiagnosticsRun.objects.create(source=DiagnosticsRun.Source.TEXTS, source_path="/nowhere.txt", **fields)


class _RefusingTask:
    """A task whose publish fails as kombu's does when Redis is down."""

    calls = 0

    def apply_async(self, *args, **kwargs):
        self.calls += 1
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_a_refused_enqueue_fails_the_job_with_a_message(db, django_capture_on_commit_callbacks):
    run = _run()
    task = _RefusingTask()
    with django_capture_on_commit_callbacks(execute=True):
        jobs.job_enqueue(job_class=DiagnosticsRun, job_id=run.id, task=task, queue="default")
        assert task.calls == 0  # nothing is sent before the commit
    run.refresh_from_db()
    assert task.calls == 1
    assert run.status == DiagnosticsRun.Status.FAILED and run.finished_at is not None
    assert "job queue (Redis) is unavailable" in run.error


def test_a_job_is_claimed_once(db):
    run = _run()
    assert jobs.job_claim(job_class=DiagnosticsRun, job_id=run.id, worker="w1@host")
    assert not jobs.job_claim(job_class=DiagnosticsRun, job_id=run.id, worker="w2@host")  # a redelivered task
    run.refresh_from_db()
    assert run.status == DiagnosticsRun.Status.RUNNING and run.worker == "w1@host" and run.started_at is not None


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_have_one_winner():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers anyway; the race matters on PostgreSQL (CI)")
    run = _run()
    barrier, won = threading.Barrier(4), []

    def claim(number: int) -> None:
        barrier.wait()
        try:
            won.append(jobs.job_claim(job_class=DiagnosticsRun, job_id=run.id, worker=f"w{number}"))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False, False, False, True]


def test_progress_is_written_at_most_every_interval_and_always_at_the_end(db):
    run = _run()
    seen = []
    report = jobs.job_progress_writer(
        job_class=DiagnosticsRun, job_id=run.id, callback=lambda f, t: seen.append(f), every_s=3600
    )
    report(0.1, "first")
    report(0.5, "throttled")
    run.refresh_from_db()
    assert (run.progress, run.progress_text) == (0.1, "first")
    report(1.0, "end")
    run.refresh_from_db()
    assert (run.progress, run.progress_text) == (1.0, "end")
    assert seen == [0.1, 0.5, 1.0]  # the callback (a CLI bar) sees every step


def test_only_jobs_of_a_lost_worker_expire(db, settings):
    settings.ARENA_WORKER_LOST_S = 30
    now = timezone.now()
    for hostname, last_seen in (("alive@host", now), ("lost@host", now - timedelta(minutes=5))):
        WorkerHeartbeat.objects.create(hostname=hostname, pid=1, started_at=now - timedelta(hours=1),
                                       last_seen=last_seen)
    on_alive, on_lost, queued = _run(), _run(), _run()
    jobs.job_claim(job_class=DiagnosticsRun, job_id=on_alive.id, worker="alive@host")
    jobs.job_claim(job_class=DiagnosticsRun, job_id=on_lost.id, worker="lost@host")
    assert jobs.jobs_expire_lost(job_class=DiagnosticsRun) == 1
    statuses = dict(DiagnosticsRun.objects.values_list("id", "status"))
    assert statuses == {on_alive.id: "running", on_lost.id: "failed", queued.id: "queued"}
    assert "worker running this job stopped" in DiagnosticsRun.objects.get(id=on_lost.id).error


def test_every_app_expires_its_jobs_from_the_heartbeat_and_one_failure_stops_none(db, monkeypatch):
    import analysis.tasks
    import arena.tasks
    import modelhub.tasks

    registered = set(hooks.heartbeat.receivers)
    assert {
        arena.tasks.expire_lost_jobs, modelhub.tasks.expire_lost_preparations,
        analysis.tasks.expire_lost_diagnostics, analysis.tasks.release_pending_votes,
    } <= registered

    ran = []

    def broken() -> None:
        raise RuntimeError("database away")

    monkeypatch.setattr(hooks.heartbeat, "receivers", [broken, lambda: ran.append(True)])
    signals._run_heartbeat_work()
    assert ran == [True]
