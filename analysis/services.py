"""Writes of the analysis app. (Placeholder until the leaderboard lands: counts are not kept yet.)"""


def pair_counts_record(*, battle, ladder: str, choice: str) -> None:
    return None
