"""The board in plain words: who leads the blind ladder and how sure that is, what knowing the energy
changes, and how often voters switched to the answer that used less energy.

Three sentences computed from a board (``board.board_compute``), the same on the page, in
``/api/leaderboard.json`` (``summary``) and in ``manage.py leaderboard``. Below :data:`FEW_VOTES`
votes a sentence says there are too few rather than naming a leader or a rate.

Plain Python, no Django.
"""

from __future__ import annotations

from arena.choices import BLIND, ENERGY

FEW_VOTES = 10  # below this many votes in a ladder (or switch-eligible votes), say "too few"
SUMMARY_KEYS = ("leader", "energy", "switches")  # the sentences, in the order they are shown


def board_summary(board: dict) -> dict[str, str]:
    """The board's summary: ``{"leader": ..., "energy": ..., "switches": ...}``, one sentence each
    (contender names as they are: the page escapes them)."""
    blind, energy = board["ladders"][BLIND], board["ladders"][ENERGY]
    provisional = int(board.get("provisional_battles") or 0)
    return {
        "leader": leader_sentence(blind, provisional),
        "energy": energy_sentence(blind, energy, board.get("side_by_side") or [], provisional),
        "switches": switches_sentence(board["gea"]["overall"]),
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _names(names: list[str], limit: int = 3) -> str:
    """"A", "A and B", "A, B and C", "A, B, C and 2 others"."""
    if len(names) > limit:
        names = names[:limit] + [_plural(len(names) - limit, "other")]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _standing(rows: list[dict]) -> tuple[dict | None, list[dict], list[dict]]:
    """The ladder's leader (its top row: established contenders come before provisional ones), the
    contenders of the same standing (established or provisional) whose 95% interval reaches the
    leader's, and all contenders of that standing but the leader."""
    rated = [r for r in rows if r.get("rating") is not None and r.get("lower") is not None]
    if not rated:
        return None, [], []
    leader = rated[0]
    peers = [r for r in rated[1:] if bool(r.get("provisional")) == bool(leader.get("provisional"))]
    close = [r for r in peers if r["upper"] >= leader["lower"]]
    return leader, close, peers


def leader_sentence(ladder: dict, provisional: int = 0) -> str:
    """Who leads the blind ladder, and whether its interval clears everyone else's."""
    n = int(ladder.get("battles") or 0)
    if n == 0:
        return "No blind votes yet, so nobody leads."
    if n < FEW_VOTES:
        return f"Only {_plural(n, 'blind vote')} so far: too few to say who leads."
    leader, close, peers = _standing(ladder["rows"])
    if leader is None:
        return f"{_plural(n, 'blind vote')} so far, but no contender has a rating yet."
    name = leader["name"]
    if leader.get("provisional"):
        return (f"{name} is ahead after {n} blind votes, but no contender has {provisional} battles yet: "
                "too early to call.")
    if not peers:
        return (f"{name} leads the blind ladder after {n} votes; every other contender has fewer than "
                f"{provisional} battles, so none is ranked against it yet.")
    if close:
        those = "that of" if len(close) == 1 else "those of"
        return (f"{name} leads the blind ladder after {n} votes, but its 95% interval overlaps {those} "
                f"{_names([r['name'] for r in close])}: no clear winner yet.")
    return (f"{name} leads the blind ladder after {n} votes and is clearly ahead: its 95% interval "
            f"({leader['lower']:.0f}–{leader['upper']:.0f}) lies above every other contender's.")


def energy_sentence(blind: dict, energy: dict, side_by_side: list[dict], provisional: int = 0) -> str:
    """Who leads once voters have seen the energy (the same as blind, or another), and who moved."""
    m = int(energy.get("battles") or 0)
    if m == 0:
        return "No votes after the energy reveal yet, so nothing to say about what energy changes."
    if m < FEW_VOTES:
        return f"Only {_plural(m, 'vote')} after the energy reveal so far: too few to say what energy changes."
    leader, close, peers = _standing(energy["rows"])
    if leader is None:
        return f"{_plural(m, 'vote')} after the energy reveal, but no contender has a rating yet."
    blind_leader, _, _ = _standing(blind["rows"])
    name = leader["name"]
    if blind_leader is not None and blind_leader["name"] == name:
        text = f"Knowing the energy, voters keep {name} on top"
    elif blind_leader is not None:
        text = f"Knowing the energy, voters put {name} on top instead of {blind_leader['name']}"
    else:
        text = f"Knowing the energy, voters put {name} on top"
    if leader.get("provisional"):
        text += f", for now (no contender has {provisional} battles in that ladder yet)."
    elif close or not peers:
        text += ", but not clearly ahead."
    else:
        text += ", clearly ahead."
    moved = [row for row in side_by_side if row.get("rank_change")]
    if not moved:
        return text + " No contender changes rank."
    steps = [
        f"{row['name']} {'up' if row['rank_change'] > 0 else 'down'} {_plural(abs(row['rank_change']), 'place')}"
        for row in sorted(moved, key=lambda row: -abs(row["rank_change"]))
    ]
    return text + f" Compared with the blind ladder: {_names(steps)}."


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def switches_sentence(overall: dict) -> str:
    """The GEA switch rate in words, with its 95% interval; with few votes, only the counts and the
    range the rate could still be in."""
    n, k = int(overall.get("n_eligible") or 0), int(overall.get("n_switched") or 0)
    if n == 0:
        return "No vote yet where the first pick was the answer that used more energy, so no switch rate yet."
    counts = (f"When the first pick was the answer that used more energy, voters switched to the one that used "
              f"less in {k} of {_plural(n, 'vote')}")
    if n < FEW_VOTES:
        return (f"{counts}: too few votes for a rate (it could be anywhere from {_pct(overall['lower'])} "
                f"to {_pct(overall['upper'])}).")
    return (f"{counts}: {_pct(overall['rate'])} (95% interval {_pct(overall['lower'])}–"
            f"{_pct(overall['upper'])}).")
