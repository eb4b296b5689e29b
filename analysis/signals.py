"""Receivers of the arena's signals: votes reach the leaderboard without the arena importing it."""

from django.dispatch import receiver

from arena.signals import vote_recorded


@receiver(vote_recorded)
def _vote_to_leaderboard(sender, battle, ladder: str, choice: str, **kwargs) -> None:
    from analysis.leaderboard.services import pair_counts_record

    pair_counts_record(battle=battle, ladder=ladder, choice=choice)
