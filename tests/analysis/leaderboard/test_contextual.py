"""Tests of analysis.leaderboard.contextual (style control, the price of energy; no database)."""

import math

import numpy as np
import pytest
from scipy.optimize import check_grad

from analysis.leaderboard.contextual import (
    ALPHA,
    ContextRow,
    contextual_loss_and_grad,
    energy_price,
    fit_contextual,
    style_control,
    style_diffs,
)
from analysis.leaderboard.ratings import PairCounts, fit_bradley_terry, leaderboard

NAMES = ["m0", "m1", "m2", "m3", "m4", "long"]


def row(a="m0", b="m1", winner="a", after=None, tokens=(10, 10), headers=(0, 0), lists=(0, 0), bold=(0, 0),
        energy=(None, None)) -> ContextRow:
    return ContextRow(a, b, winner, after, *tokens, *headers, *lists, *bold, *energy)


def pairs(rng, n_names, m):
    a = rng.integers(0, n_names, m)
    return a, (a + rng.integers(1, n_names, m)) % n_names


def test_loss_and_gradient_of_one_battle_by_hand():
    # θ = (0.1, -0.1), β = 0.5, x = 2: d = ln(10)·0.2 + 1; a won, so the loss is log(1 + e^-d)
    params = np.array([0.1, -0.1, 0.5])
    a, b, score, x = np.array([0]), np.array([1]), np.array([1.0]), np.array([[2.0]])
    loss, grad = contextual_loss_and_grad(params, a, b, score, x, 0.0)
    d = ALPHA * 0.2 + 1.0
    assert loss == pytest.approx(math.log1p(math.exp(-d)))
    g = 1 / (1 + math.exp(-d)) - 1
    assert grad == pytest.approx([g * ALPHA, -g * ALPHA, g * 2.0])
    # the priors add reg/2·|θ|² and reg_beta/2·|β|² to the loss
    loss_reg, grad_reg = contextual_loss_and_grad(params, a, b, score, x, 2.0, 4.0)
    assert loss_reg == pytest.approx(loss + 0.02 + 0.5)
    assert grad_reg == pytest.approx(grad + np.array([0.2, -0.2, 2.0]))


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    a, b = pairs(rng, 4, 50)
    score = rng.choice([0.0, 0.5, 1.0], 50)
    x = rng.normal(size=(50, 2))
    args = (a, b, score, x, 0.3, 0.2)
    f = lambda p: contextual_loss_and_grad(p, *args)[0]  # noqa: E731
    g = lambda p: contextual_loss_and_grad(p, *args)[1]  # noqa: E731
    assert check_grad(f, g, rng.normal(size=6)) < 1e-6


def test_without_features_the_fit_is_bradley_terry():
    rng = np.random.default_rng(4)
    a, b = pairs(rng, 5, 3000)
    strength = np.array([0.0, 0.2, 0.4, 0.6, 0.8])
    score = (rng.random(3000) < 1 / (1 + 10 ** (strength[b] - strength[a]))).astype(float)
    fit = fit_contextual(a, b, score, np.zeros((3000, 0)), 5, prior=400)
    counts = PairCounts.from_codes([f"m{i}" for i in range(5)], a, b, np.where(score == 1, 2, 0))
    assert fit.rating == pytest.approx(fit_bradley_terry(counts, prior=400), abs=0.05)
    assert np.all(fit.lower < fit.rating) and np.all(fit.rating < fit.upper)


@pytest.fixture(scope="module")
def longer_wins():
    """Equal true strength; "long" writes about 2.5 times longer answers; voters prefer the longer
    answer and care for nothing else. Markdown counts are random noise."""
    rng = np.random.default_rng(1)
    m = 8000
    a, b = pairs(rng, len(NAMES), m)
    base = np.where(np.arange(len(NAMES)) == NAMES.index("long"), 800, 300)
    ta = (base[a] * rng.lognormal(0, 0.3, m)).astype(int)
    tb = (base[b] * rng.lognormal(0, 0.3, m)).astype(int)
    p = 1 / (1 + np.exp(-3 * (ta - tb) / (ta + tb)))
    winner = np.where(rng.random(m) < p, "a", "b")
    md = rng.integers(0, 4, (m, 6)).tolist()
    return [
        ContextRow(NAMES[i], NAMES[j], w, w, int(x), int(y), *counts, 1.0, 1.0)
        for i, j, w, x, y, counts in zip(a, b, winner, ta, tb, md, strict=True)
    ]


def test_style_control_removes_the_lead_of_the_longer_answers(longer_wins):
    counts = PairCounts.from_battles([(r.model_a, r.model_b, r.winner) for r in longer_wins], NAMES)
    plain = {r["name"]: r for r in leaderboard(counts, rounds=20, prior=400)}
    others = [plain[n] for n in NAMES if n != "long"]
    # plain Bradley-Terry: a clear lead, separated from everyone
    assert plain["long"]["rank"] == 1 and all(o["rank"] == 2 for o in others)
    assert plain["long"]["lower"] > max(o["upper"] for o in others) + 100

    styled = style_control(longer_wins, NAMES, ladder="blind", prior=400)
    rows = {r["name"]: r for r in styled["rows"]}
    assert set(rows) == set(NAMES) and set(styled["rows"][0]) == set(plain["long"])  # the same row fields
    long = rows["long"]
    for name in NAMES[:-1]:
        assert long["lower"] <= rows[name]["upper"] and rows[name]["lower"] <= long["upper"], name
    assert all(r["rank"] == 1 for r in styled["rows"])
    coef = {c["feature"]: c for c in styled["coefficients"]}
    assert coef["length"]["lower"] > 0  # longer is preferred
    for name in ("headers", "lists", "bold"):  # noise: no effect
        assert coef[name]["lower"] < 0 < coef[name]["upper"]
    assert styled["battles"] == len(longer_wins) and styled["left_out"] == 0


def test_style_control_leaves_out_battles_without_counts_and_fits_each_ladder(longer_wins):
    rows = list(longer_wins[:2000])
    rows[0] = rows[0]._replace(headers_b=None)
    rows[1] = rows[1]._replace(tokens_a=None, winner_after=None)
    rows[2] = rows[2]._replace(winner_after=None)
    rows[3] = rows[3]._replace(energy_a_j=None)  # not measured: its second vote is not energy-aware
    blind = style_control(rows, NAMES, ladder="blind", prior=400)
    assert (blind["battles"], blind["left_out"]) == (1998, 2)
    energy = style_control(rows, NAMES, ladder="energy", prior=400)
    assert (energy["battles"], energy["left_out"]) == (1996, 1)


def test_style_control_without_usable_battles_reports_why():
    out = style_control([row(tokens=(None, 5))], NAMES, ladder="blind", prior=400)
    assert out["battles"] == 0 and out["left_out"] == 1
    assert all(r["rating"] is None and r["battles"] == 0 for r in out["rows"])
    assert all(c["points"] is None and c["reason"] for c in out["coefficients"])


def test_style_diffs_are_normalised_and_zero_when_both_are_zero():
    diffs, known = style_diffs([row(tokens=(30, 10), headers=(0, 0), lists=(2, 0), bold=(1, 3))])
    assert diffs.tolist() == [[0.5, 0.0, 1.0, -0.5]] and known.tolist() == [True]


def test_unknown_contender_or_winner_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown contender 'nobody'"):
        style_control([row(a="nobody")], NAMES, ladder="blind")
    with pytest.raises(ValueError, match='"winner" must be one of a, b, tie, bothbad'):
        style_control([row(winner="model_a")], NAMES, ladder="blind")


@pytest.fixture(scope="module")
def known_price():
    """Energy-aware votes where each doubling of an answer's energy costs it 40 rating points;
    true ratings 0…250 apart; families f1 (m0, m1, m2) and f2 (the others)."""
    rng = np.random.default_rng(2)
    m = 12000
    a, b = pairs(rng, len(NAMES), m)
    ea, eb = rng.lognormal(0, 0.7, m), rng.lognormal(0, 0.7, m)
    true = np.array([0.0, 50, 100, 150, 200, 250])
    logit = ALPHA / 400 * (true[a] - true[b] - 40.0 * np.log2(ea / eb))
    after = np.where(rng.random(m) < 1 / (1 + np.exp(-logit)), "a", "b")
    return [
        row(NAMES[i], NAMES[j], "a", w, energy=(float(x), float(y)))
        for i, j, w, x, y in zip(a, b, after, ea, eb, strict=True)
    ]


def test_energy_price_recovers_a_known_price(known_price):
    families = {n: "f1" if n in ("m0", "m1", "m2") else "f2" for n in NAMES}
    price = energy_price(known_price, NAMES, families, prior=400)
    overall = price["overall"]
    assert overall["battles"] == len(known_price) and overall["reason"] is None
    assert overall["lower"] < 40.0 < overall["upper"]
    assert overall["upper"] - overall["lower"] < 15
    assert set(price["by_family"]) == {"f1", "f2"}
    for fam in price["by_family"].values():
        assert 0 < fam["battles"] < len(known_price)
        assert fam["lower"] < 40.0 < fam["upper"]


def test_energy_price_too_few_or_no_differences_gives_a_reason(known_price):
    families = {n: "f" for n in NAMES}
    few = energy_price(known_price[:10], NAMES, families, minimum=30)
    assert few["overall"]["points"] is None and "fewer than 30" in few["overall"]["reason"]
    same = [r._replace(energy_a_j=2.0, energy_b_j=2.0) for r in known_price[:100]]
    flat = energy_price(same, NAMES, families, minimum=30)
    assert flat["overall"]["points"] is None and "never differ" in flat["overall"]["reason"]
    # blind-only battles, or unknown or zero energies, are not used
    unused = [known_price[0]._replace(winner_after=None), known_price[1]._replace(energy_b_j=0.0),
              known_price[2]._replace(energy_a_j=None)]
    assert energy_price(unused, NAMES, families)["overall"]["battles"] == 0


def test_a_perfectly_separating_feature_stays_finite_under_the_prior(known_price):
    # every voter took the cheaper answer: maximum likelihood has no finite price, the prior has
    cheaper = [r._replace(winner_after="a" if r.energy_a_j < r.energy_b_j else "b") for r in known_price[:200]]
    price = energy_price(cheaper, NAMES, {}, prior=400)["overall"]
    assert 100 < price["points"] < 2000 and price["lower"] < price["points"] < price["upper"]


def test_energy_price_is_style_controlled_when_lengths_are_known():
    """Voters like longer answers and dislike energy (40 points per doubling); energy grows with
    length. With the lengths known the price is recovered; fitted on energy alone it absorbs the
    taste for length and comes out far too low."""
    rng = np.random.default_rng(4)
    m = 12000
    a, b = pairs(rng, len(NAMES), m)
    ta, tb = rng.integers(20, 400, m), rng.integers(20, 400, m)
    ea, eb = ta * 0.02 * rng.lognormal(0, 0.3, m), tb * 0.02 * rng.lognormal(0, 0.3, m)
    logit = 1.5 * (ta - tb) / (ta + tb) - ALPHA / 400 * 40.0 * np.log2(ea / eb)
    after = np.where(rng.random(m) < 1 / (1 + np.exp(-logit)), "a", "b")
    rows = [
        row(NAMES[i], NAMES[j], "a", w, tokens=(int(x), int(y)), energy=(float(p), float(q)))
        for i, j, w, x, y, p, q in zip(a, b, after, ta, tb, ea, eb, strict=True)
    ]
    styled = energy_price(rows, NAMES, {}, prior=400)["overall"]
    assert styled["style_controlled"] and styled["lower"] < 40.0 < styled["upper"]
    alone = energy_price([r._replace(tokens_a=None) for r in rows], NAMES, {}, prior=400)["overall"]
    assert not alone["style_controlled"] and alone["upper"] < 40.0
