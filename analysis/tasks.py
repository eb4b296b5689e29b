"""Celery tasks of the analysis app: take ids (or nothing), call one service."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def refit_leaderboard() -> None:
    """The debounced refit queued after votes (``services.leaderboard_refit_schedule``)."""
    from analysis.leaderboard.services.refit import leaderboard_refit

    leaderboard_refit()


@shared_task(acks_late=True, soft_time_limit=3600, time_limit=3660)
def run_diagnostics(run_id: int) -> None:
    from analysis.diagnostics.services import diagnostics_run_execute

    diagnostics_run_execute(run_id=run_id, worker=run_diagnostics.request.hostname or "")


def release_pending_votes() -> None:
    """Votes of battles whose vote window ended become public (the blind protocol) and are folded."""
    from analysis.leaderboard.services.votes import pending_votes_release

    pending_votes_release()


def expire_lost_diagnostics() -> None:
    from analysis.diagnostics.models import DiagnosticsRun
    from workers.jobs import jobs_expire_lost

    jobs_expire_lost(job_class=DiagnosticsRun)
