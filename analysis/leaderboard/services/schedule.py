"""Scheduling the refit: at most once per ``ANALYSIS_REFIT_DELAY_S`` seconds, after a final vote commits
or by the workers' heartbeat once a battle left after its blind vote closes (refit.py runs it)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from analysis.models import (
    RefitState,
)

logger = logging.getLogger(__name__)


def refit_delay_s() -> float:
    return settings.ANALYSIS_REFIT_DELAY_S


def refit_stale_s() -> float:
    """A refit scheduled this long ago that never started is taken as lost and scheduled again."""
    return settings.ANALYSIS_REFIT_STALE_S


def leaderboard_refit_schedule() -> bool:
    """Queue a refit in ``ANALYSIS_REFIT_DELAY_S`` seconds unless one is already pending.

    Called after a vote commits. Returns True when this call queued the task.
    """
    from analysis.tasks import refit_leaderboard

    now = timezone.now()
    RefitState.objects.get_or_create(pk=1)
    pending = Q(scheduled_at__isnull=True) | Q(scheduled_at__lt=now - timedelta(seconds=refit_stale_s()))
    if not RefitState.objects.filter(pk=1).filter(pending).update(scheduled_at=now):
        return False
    try:
        refit_leaderboard.apply_async(countdown=refit_delay_s())
    except Exception:  # noqa: BLE001 - a vote never fails for the leaderboard; the next vote retries
        logger.warning("Could not queue the leaderboard refit", exc_info=True)
        RefitState.objects.filter(pk=1, scheduled_at=now).update(scheduled_at=None)
        return False
    return True
