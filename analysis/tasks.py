"""Celery tasks of the analysis app: take ids (or nothing), call one service."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def refit_leaderboard() -> None:
    """The debounced refit queued after votes (``services.leaderboard_refit_schedule``)."""
    from analysis.services import leaderboard_refit

    leaderboard_refit()
