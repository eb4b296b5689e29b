"""Fixtures of the leaderboard tests: four contenders in two families, random votes."""

import datetime as dt
import random

import pytest


@pytest.fixture
def quad(make_contender):
    return [
        make_contender(name="Big A", family="Fam A"),
        make_contender(name="Small A", family="Fam A"),
        make_contender(name="Big B", family="Fam B"),
        make_contender(name="Small B", family="Fam B"),
    ]


@pytest.fixture
def random_votes():
    """``random_votes(contenders, make_battle, vote, n, seed)``: n battles with random energies and votes."""
    return _random_votes


def _random_votes(contenders, make_battle, vote, n, seed):
    rng = random.Random(seed)
    for _ in range(n):
        a, b = rng.sample(contenders, 2)
        joules = (round(rng.uniform(0.5, 4), 3), round(rng.uniform(0.5, 4), 3))
        battle = make_battle(a, b, joules=joules, tokens=(rng.randint(0, 30), rng.randint(1, 30)))
        vote(battle, rng.choice(["a", "b", "tie", "bothbad"]), rng.choice(["a", "b", "tie", "bothbad", None]))


@pytest.fixture
def dated_votes():
    """``dated_votes(contenders, make_battle, n, seed, days)``: n battles with random energies, markdown
    counts and votes, their blind votes at random times of the given UTC days (in time order), folded
    together as a refit does. Returns the battles."""
    return _dated_votes


def _dated_votes(contenders, make_battle, n, seed, days):
    from analysis.leaderboard.services.votes import aggregates_fold
    from arena.models import Response, Vote
    from arena.services import vote_cast
    from tests.factories import close_voting

    rng = random.Random(seed)
    midnights = [dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) for day in days]
    # the first and last second of a day among them: the day boundaries are UTC midnights
    offsets = [0, 86_399] + [rng.randint(0, 86_399) for _ in range(n - 2)]
    times = sorted(rng.choice(midnights) + dt.timedelta(seconds=offset) for offset in offsets[:n])
    battles = []
    for when in times:
        a, b = rng.sample(contenders, 2)
        battle = make_battle(a, b, joules=(round(rng.uniform(0.5, 4), 3), round(rng.uniform(0.5, 4), 3)),
                             tokens=(rng.randint(0, 30), rng.randint(1, 30)))
        for side in "ab":
            counts = [rng.randint(0, 4) for _ in range(3)] if rng.random() < 0.8 else [None] * 3
            Response.objects.filter(battle=battle, side=side).update(
                header_count=counts[0], list_count=counts[1], bold_count=counts[2]
            )
        blind, final = rng.choice(["a", "b", "tie", "bothbad"]), rng.choice(["a", "b", "tie", "bothbad", None])
        vote_cast(battle_id=battle.id, session_key=battle.session_key, stage="blind", choice=blind)
        if final:
            vote_cast(battle_id=battle.id, session_key=battle.session_key, stage="final", choice=final)
        else:
            close_voting(battle)
        final_at = when + dt.timedelta(seconds=5) if final else None
        Vote.objects.filter(battle=battle).update(blind_at=when, final_at=final_at)
        battles.append(battle)
    aggregates_fold()
    return battles


@pytest.fixture
def style_records():
    """``style_records(n, seed=7)``: n battles of a log with style counts: "Long" writes longer answers
    and uses more energy; random votes; the first battle lacks a bold count."""
    return _style_records


def _style_records(n: int, seed: int = 7) -> list:
    from analysis.leaderboard.battle_log import BattleRecord

    rng = random.Random(seed)
    names = {"Long": "Fam A", "Short": "Fam A", "Other": "Fam B"}
    out = []
    for i in range(n):
        a, b = rng.sample(sorted(names), 2)
        length = {name: rng.randint(100, 300) * (3 if name == "Long" else 1) for name in (a, b)}
        out.append(BattleRecord(
            key=str(i), kind="chat", model_a=a, model_b=b, family_a=names[a], family_b=names[b],
            winner=rng.choice(["a", "b", "tie", "bothbad"]), tstamp=1e9 + i,
            winner_after=rng.choice(["a", "b", None]), energy_a_j=length[a] / 50, energy_b_j=length[b] / 40,
            output_tokens_a=length[a], output_tokens_b=length[b],
            headers_a=rng.randint(0, 3), headers_b=rng.randint(0, 3), lists_a=rng.randint(0, 5),
            lists_b=rng.randint(0, 5), bold_a=rng.randint(0, 2), bold_b=None if i == 0 else rng.randint(0, 2),
        ))
    return out
