"""The refit (scheduled by schedule.py): it folds the pending votes (votes.py), reads O(days ×
contenders²) rows of sums and the context rows, fits the leaderboard, stores the snapshot and pushes
it to the pages."""

from __future__ import annotations

import json
import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from analysis.consumers import GROUP
from analysis.leaderboard.selectors.boards import leaderboard_compute, snapshot_latest, snapshot_summary
from analysis.leaderboard.services.votes import FOLD_BATCH, aggregates_fold
from analysis.models import (
    LeaderboardSnapshot,
    RefitState,
)

logger = logging.getLogger(__name__)


def leaderboard_refit(*, rounds: int | None = None, push: bool = True, reuse: bool = True) -> LeaderboardSnapshot:
    """Compute both ladders of every kind from the aggregates, store the snapshot, push it live.

    ``reuse``: take the parts whose inputs did not change from the previous snapshot (the result is
    the same; a vote moves one ladder, so typically one of the two bootstraps is skipped).
    """
    RefitState.objects.filter(pk=1).update(scheduled_at=None)  # votes from now on schedule the next one
    while aggregates_fold() == FOLD_BATCH:
        pass
    computed_at = timezone.now()
    started = time.perf_counter()
    latest = snapshot_latest()
    data = leaderboard_compute(rounds=rounds, previous=latest.data if latest and reuse else None)
    if latest is not None and latest.data == json.loads(json.dumps(data, cls=DjangoJSONEncoder)):
        return latest  # nothing changed: no new snapshot, nothing pushed (a new one would say "a vote came")
    with transaction.atomic():
        snapshot = LeaderboardSnapshot.objects.create(
            computed_at=computed_at, seconds=time.perf_counter() - started, data=data
        )
        LeaderboardSnapshot.objects.exclude(id=snapshot.id).filter(computed_at__lte=computed_at).delete()
    if push:
        leaderboard_push(snapshot=snapshot)
    return snapshot


def leaderboard_push(*, snapshot: LeaderboardSnapshot) -> None:
    message = {
        "type": "leaderboard.updated",
        "snapshot_id": snapshot.id,
        "computed_at": snapshot.computed_at.isoformat(),
        "summary": snapshot_summary(snapshot),
    }
    try:
        async_to_sync(get_channel_layer().group_send)(GROUP, message)
    except Exception:  # noqa: BLE001 - pages reload the snapshot on reconnect
        logger.warning("Could not push the leaderboard", exc_info=True)
