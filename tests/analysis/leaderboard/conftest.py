"""Fixtures of the leaderboard tests: four contenders in two families, random votes."""

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
