from django.apps import AppConfig


def blind_ratings_of_contenders(kind: str) -> dict[int, float]:
    """The latest leaderboard's blind-ladder ratings of this arena's contenders for battles of ``kind``
    ({contender id: rating}; {} with no snapshot of the current layout yet): the estimates of active
    pair sampling (``arena.signals.sampling_ratings``). Reads only that ladder's rows of the snapshot's
    JSON, not its figures."""
    from analysis.leaderboard.selectors import SNAPSHOT_VERSION
    from analysis.models import Competitor, LeaderboardSnapshot
    from arena.choices import BLIND

    latest = (
        LeaderboardSnapshot.objects.order_by("-computed_at", "-id")
        .values_list("data__version", f"data__boards__{kind}__ladders__{BLIND}__rows")
        .first()
    )
    if not latest or latest[0] != SNAPSHOT_VERSION or not latest[1]:
        return {}
    rated = {row["name"]: row["rating"] for row in latest[1] if row.get("rating") is not None}
    contenders = Competitor.objects.filter(name__in=rated, contender__isnull=False).values_list("name", "contender_id")
    return {contender_id: float(rated[name]) for name, contender_id in contenders}


class AnalysisConfig(AppConfig):
    name = "analysis"

    def ready(self) -> None:
        from analysis import signals  # noqa: F401 - connects the receivers
        from arena.signals import sampling_ratings

        sampling_ratings(blind_ratings_of_contenders)
