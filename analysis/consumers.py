"""The leaderboard websocket: tells every open leaderboard page when a refit lands."""


from channels.db import database_sync_to_async

from analysis.leaderboard.selectors.boards import snapshot_latest
from arena.consumers import SendOnlyJsonConsumer

GROUP = "leaderboard"


def _latest() -> dict:
    snapshot = snapshot_latest()
    if snapshot is None:
        return {"type": "leaderboard", "snapshot_id": None, "computed_at": None}
    return {"type": "leaderboard", "snapshot_id": snapshot.id, "computed_at": snapshot.computed_at.isoformat()}


class LeaderboardConsumer(SendOnlyJsonConsumer):
    """Public and read-only. On connect: the id and time of the latest snapshot (a page that missed
    an update while disconnected sees it is behind); then one message per refit:
    ``{"type": "leaderboard", "snapshot_id", "computed_at", "summary": {kind: {ladder: rows}}}``."""

    async def connect(self) -> None:
        await self.accept()
        await self.group_join(GROUP)
        await self.send_json(await database_sync_to_async(_latest)())

    async def leaderboard_updated(self, event: dict) -> None:
        await self.send_json({
            "type": "leaderboard",
            "snapshot_id": event["snapshot_id"],
            "computed_at": event["computed_at"],
            "summary": event["summary"],
        })
