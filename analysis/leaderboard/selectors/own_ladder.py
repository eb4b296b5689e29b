"""A session's own ladder (/leaderboard/mine/): Bradley-Terry ratings with bootstrap intervals from that
session's counted votes only, both ladders, visible to that session alone (Copilot Arena's personal
leaderboard). A session holds at most a few hundred votes: they are read directly, not from the sums."""

from django.conf import settings

from analysis.leaderboard.ratings import PairCounts, leaderboard
from analysis.leaderboard.selectors.fit_settings import bootstrap_rounds, prior_scale
from arena.choices import BLIND, ENERGY
from arena.formatting import energy_shown
from arena.models import Vote
from arena.reveal import shows_energy
from arena.selectors import battles_counted_q


def own_ladder(*, session_key: str | None) -> dict:
    """``{"votes": n, "needed": N, "ladders": {"blind": rows, "energy": rows} or None}``: the ladders once
    the session has N counted votes (``ANALYSIS_OWN_LADDER_VOTES``), else None."""
    needed = settings.ANALYSIS_OWN_LADDER_VOTES
    if not session_key:
        return {"votes": 0, "needed": needed, "ladders": None}
    votes = list(
        Vote.objects.filter(battles_counted_q("battle__"), battle__session_key=session_key)
        .select_related("battle__contender_a", "battle__contender_b")
        .prefetch_related("battle__responses")
        .order_by("blind_at")
    )
    if len(votes) < needed:
        return {"votes": len(votes), "needed": needed, "ladders": None}
    battles: dict[str, list[tuple[str, str, str]]] = {BLIND: [], ENERGY: []}
    for vote in votes:
        battle = vote.battle
        pair = (battle.contender_a.name, battle.contender_b.name)
        battles[BLIND].append((*pair, vote.blind_choice))
        joules = {response.side: response.joules for response in battle.responses.all()}
        if vote.final_choice and shows_energy(battle.reveal) and energy_shown(joules.get("a"), joules.get("b")):
            battles[ENERGY].append((*pair, vote.final_choice))
    names = sorted({name for rows in battles.values() for a, b, _ in rows for name in (a, b)})
    rounds, prior = bootstrap_rounds(), prior_scale()
    ladders = {
        ladder: leaderboard(PairCounts.from_battles(rows, names), rounds=rounds, prior=prior) if rows else []
        for ladder, rows in battles.items()
    }
    return {"votes": len(votes), "needed": needed, "ladders": ladders}
