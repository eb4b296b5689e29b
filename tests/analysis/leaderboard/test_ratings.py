"""Tests of analysis.leaderboard.ratings (plain numpy/scipy; no database)."""

import json
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from analysis.leaderboard.ratings import (
    A_WINS,
    B_WINS,
    BOTHBAD,
    TIE,
    PairCounts,
    battle_count_matrix,
    battles_per_contender,
    bootstrap_bradley_terry,
    fit_bradley_terry,
    leaderboard,
    online_elo,
    prior_reg,
    ranks_from_intervals,
    win_rate_matrix,
    win_tie_loss,
)

TRUE_RATINGS = np.array([750.0, 850.0, 950.0, 1050.0, 1150.0, 1250.0])  # mean 1000
NAMES = [f"m{i}" for i in range(len(TRUE_RATINGS))]
TIE_SHARE = 0.1


def simulate(n_battles: int, seed: int):
    """Battles drawn from the BT model, ties included so that E[score of a] = P_BT(a beats b).

    With probability TIE_SHARE a battle is a tie; otherwise a wins with probability q chosen so that
    0.5*TIE_SHARE + (1-TIE_SHARE)*q = p. Ties as half a win are then consistent with BT.
    """
    rng = np.random.default_rng(seed)
    n = len(TRUE_RATINGS)
    a = rng.integers(0, n, n_battles)
    b = (a + rng.integers(1, n, n_battles)) % n
    p = 1.0 / (1.0 + 10.0 ** ((TRUE_RATINGS[b] - TRUE_RATINGS[a]) / 400.0))
    q = (p - 0.5 * TIE_SHARE) / (1.0 - TIE_SHARE)
    tie = rng.random(n_battles) < TIE_SHARE
    a_wins = rng.random(n_battles) < q
    outcome = np.where(tie, TIE, np.where(a_wins, A_WINS, B_WINS))
    return a, b, outcome


@pytest.fixture(scope="module")
def battles_20k():
    return simulate(20_000, seed=1)


@pytest.fixture(scope="module")
def counts_20k(battles_20k):
    return PairCounts.from_codes(NAMES, *battles_20k)


def reference_irls(a, b, outcome, n):
    """Logistic regression with fractional labels on the expanded per-battle rows, by Newton/IRLS.

    Independent of the implementation under test: one row per battle, dense design matrix,
    contender 0 fixed at 0 for identifiability, then centred to mean 1000.
    """
    score = np.array([0.0, 0.5, 1.0, 0.5])[outcome]
    x = np.zeros((len(a), n))
    x[np.arange(len(a)), a] += math.log(10.0)
    x[np.arange(len(a)), b] -= math.log(10.0)
    x = x[:, 1:]
    theta = np.zeros(n - 1)
    for _ in range(100):
        prob = 1.0 / (1.0 + np.exp(-(x @ theta)))
        hess = x.T @ (x * (prob * (1.0 - prob))[:, None])
        step = np.linalg.solve(hess, x.T @ (score - prob))
        theta += step
        if np.abs(step).max() < 1e-12:
            break
    full = np.r_[0.0, theta]
    return 400.0 * (full - full.mean()) + 1000.0


def reference_minimize(a, b, outcome, n):
    """scipy.optimize.minimize on the expanded rows with a finite-difference gradient."""
    score = np.array([0.0, 0.5, 1.0, 0.5])[outcome]

    def nll(free):
        theta = np.r_[0.0, free]  # natural scale, contender 0 fixed
        d = math.log(10.0) * (theta[a] - theta[b])
        return float(np.sum(np.logaddexp(0.0, d) - score * d))

    res = minimize(nll, np.zeros(n - 1), method="BFGS", jac="3-point", options={"gtol": 1e-6})
    full = np.r_[0.0, res.x]
    return 400.0 * (full - full.mean()) + 1000.0


# --- Bradley-Terry point fit ---------------------------------------------------------------------


def test_fit_recovers_true_order_and_values(counts_20k):
    ratings = fit_bradley_terry(counts_20k)
    assert list(np.argsort(ratings)) == list(range(len(TRUE_RATINGS)))
    assert np.abs(ratings - TRUE_RATINGS).max() < 30.0
    assert ratings.mean() == pytest.approx(1000.0, abs=1e-9)


def test_fit_equals_expanded_reference_irls(battles_20k, counts_20k):
    ratings = fit_bradley_terry(counts_20k, tol=1e-9)
    ref = reference_irls(*battles_20k, n=len(NAMES))
    np.testing.assert_allclose(ratings, ref, atol=0.01, rtol=0)


def test_fit_default_tolerance_is_within_a_hundredth(battles_20k, counts_20k):
    # the default tol (1e-6, FastChat's) must already be at the optimum to 0.01 points
    ref = reference_irls(*battles_20k, n=len(NAMES))
    np.testing.assert_allclose(fit_bradley_terry(counts_20k), ref, atol=0.01, rtol=0)


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_fit_tight_tol_reaches_the_optimum(seed):
    # small samples: tol alone must decide when to stop (no early relative-decrease stop)
    battles = simulate(2_000, seed=seed)
    ratings = fit_bradley_terry(PairCounts.from_codes(NAMES, *battles), tol=1e-10)
    np.testing.assert_allclose(ratings, reference_irls(*battles, n=len(NAMES)), atol=1e-4, rtol=0)


def test_fit_equals_expanded_reference_minimize(battles_20k, counts_20k):
    ratings = fit_bradley_terry(counts_20k, tol=1e-9)
    ref = reference_minimize(*battles_20k, n=len(NAMES))
    np.testing.assert_allclose(ratings, ref, atol=0.01, rtol=0)


def test_scale_base_and_init_rating(counts_20k):
    default = fit_bradley_terry(counts_20k, tol=1e-9)
    other = fit_bradley_terry(counts_20k, scale=173.7178, base=math.e, init_rating=1500, tol=1e-9)
    # both describe the same logits: (R-init)·ln(base)/scale is invariant
    np.testing.assert_allclose((other - 1500) / 173.7178, (default - 1000) * math.log(10) / 400, atol=1e-4)


def test_equal_wins_and_ties_give_equal_ratings():
    counts = PairCounts.from_rows(["x", "y"], [("x", "y", "a", 3), ("x", "y", "b", 3), ("y", "x", "tie", 4)])
    r = fit_bradley_terry(counts)
    assert r[0] == pytest.approx(r[1], abs=1e-6)


def test_only_ties_give_equal_ratings():
    counts = PairCounts.from_rows(["x", "y"], [("x", "y", "tie", 5), ("y", "x", "bothbad", 2)])
    r = fit_bradley_terry(counts)
    np.testing.assert_allclose(r, [1000.0, 1000.0], atol=1e-6)


def test_tie_counts_as_half_a_win():
    # 3 wins + 2 ties out of 5 = score 4/5: expected score 0.8 -> logit ln 4 -> gap 400·log10(4)
    counts = PairCounts.from_rows(["x", "y"], [("x", "y", "a", 3), ("x", "y", "tie", 2)])
    r = fit_bradley_terry(counts, tol=1e-10)
    assert r[0] - r[1] == pytest.approx(400 * math.log10(4), abs=1e-3)
    both_bad = PairCounts.from_rows(["x", "y"], [("x", "y", "a", 3), ("x", "y", "bothbad", 2)])
    np.testing.assert_allclose(fit_bradley_terry(both_bad, tol=1e-10), r, atol=1e-6)


def test_anchor_shifts_ratings(counts_20k):
    free = fit_bradley_terry(counts_20k)
    anchored = fit_bradley_terry(counts_20k, anchor=("m2", 1114.0))
    assert anchored[2] == pytest.approx(1114.0, abs=1e-9)
    np.testing.assert_allclose(anchored - free, np.full(6, 1114.0 - free[2]), atol=1e-9)


def test_anchor_unknown_name_raises(counts_20k):
    with pytest.raises(ValueError, match="unknown contender"):
        fit_bradley_terry(counts_20k, anchor=("nobody", 1000.0))


def test_contender_without_battles_is_reported_at_init():
    counts = PairCounts.from_rows(["x", "y", "idle"], [("x", "y", "a", 6), ("x", "y", "b", 2)])
    r = fit_bradley_terry(counts, init_rating=1200)
    assert r[2] == 1200.0
    assert (r[0] + r[1]) / 2 == pytest.approx(1200.0)  # centred over the rated contenders
    assert r[0] - r[1] == pytest.approx(400 * math.log10(3), abs=1e-3)
    # anchoring on a contender without battles falls back to centring
    np.testing.assert_allclose(fit_bradley_terry(counts, init_rating=1200, anchor=("idle", 0.0)), r)


def test_reg_keeps_a_perfect_record_finite_and_smaller():
    counts = PairCounts.from_rows(["x", "y"], [("x", "y", "a", 1)])
    gap_mle = np.ptp(fit_bradley_terry(counts))
    gap_reg = np.ptp(fit_bradley_terry(counts, reg=1.0, tol=1e-10))
    assert gap_mle > 1000  # no finite MLE: L-BFGS stops far out where the gradient is below tol
    # with the prior, theta_x = -theta_y = t solves ln(10)·σ(-2·ln(10)·t) = t (t ≈ 0.3636)
    t = gap_reg / 800
    alpha = math.log(10)
    assert alpha / (1 + math.exp(2 * alpha * t)) == pytest.approx(t, abs=1e-6)


def test_empty_counts():
    counts = PairCounts.from_rows(["x", "y"], [])
    np.testing.assert_array_equal(fit_bradley_terry(counts), [1000.0, 1000.0])


# --- bootstrap -----------------------------------------------------------------------------------


def test_bootstrap_intervals_contain_point_and_shrink(counts_20k):
    small = PairCounts.from_codes(NAMES, *simulate(2_000, seed=2))
    boot_small = bootstrap_bradley_terry(small, rounds=100, seed=0)
    boot_big = bootstrap_bradley_terry(counts_20k, rounds=100, seed=0)
    for boot in (boot_small, boot_big):
        assert boot.samples.shape == (100, 6)
        assert np.all(boot.lower <= boot.rating) and np.all(boot.rating <= boot.upper)
        assert np.all(boot.upper - boot.lower > 0)
    width_small = boot_small.upper - boot_small.lower
    width_big = boot_big.upper - boot_big.lower
    # ten times the battles: about sqrt(10) ≈ 3.2 times narrower
    assert np.all(width_big < 0.6 * width_small)


def test_bootstrap_point_equals_fit_and_is_seeded(counts_20k):
    boot = bootstrap_bradley_terry(counts_20k, rounds=20, seed=5)
    np.testing.assert_allclose(boot.rating, fit_bradley_terry(counts_20k), atol=1e-12)
    again = bootstrap_bradley_terry(counts_20k, rounds=20, seed=5)
    np.testing.assert_array_equal(boot.samples, again.samples)
    other = bootstrap_bradley_terry(counts_20k, rounds=20, seed=6)
    assert not np.array_equal(boot.samples, other.samples)


def test_bootstrap_warm_start_matches_cold_refit(counts_20k):
    # a warm-started round must reach the same optimum as a fit from zeros on the same draw
    boot = bootstrap_bradley_terry(counts_20k, rounds=3, seed=9)
    rng = np.random.default_rng(9)
    draws = rng.multinomial(counts_20k.total, counts_20k.count / counts_20k.total, size=3)
    for r in range(3):
        resampled = PairCounts(
            counts_20k.names, counts_20k.a_idx, counts_20k.b_idx, counts_20k.outcome, draws[r]
        )
        np.testing.assert_allclose(boot.samples[r], fit_bradley_terry(resampled), atol=0.01)


def test_bootstrap_with_anchor_pins_the_anchor(counts_20k):
    boot = bootstrap_bradley_terry(counts_20k, rounds=10, anchor=("m0", 800.0))
    assert np.all(boot.samples[:, 0] == pytest.approx(800.0))
    assert boot.lower[0] == pytest.approx(800.0) and boot.upper[0] == pytest.approx(800.0)


def test_bootstrap_zero_rounds():
    counts = PairCounts.from_rows(["x", "y"], [("x", "y", "a", 3), ("x", "y", "b", 1)])
    boot = bootstrap_bradley_terry(counts, rounds=0)
    np.testing.assert_array_equal(boot.lower, boot.rating)
    np.testing.assert_array_equal(boot.upper, boot.rating)


# --- ranks ---------------------------------------------------------------------------------------


def test_ranks_from_intervals_hand_made():
    lower = [1100, 1090, 1000, 900]
    upper = [1200, 1150, 1095, 950]
    # #0: nobody above -> 1; #1: lower of #0 (1100) not > 1150 -> 1;
    # #2: 1100 and 1090 > 1095? only 1100 -> 2; #3: 1100, 1090, 1000 > 950 -> 4
    np.testing.assert_array_equal(ranks_from_intervals(lower, upper), [1, 1, 2, 4])


def test_ranks_from_intervals_strict():
    # lower bound equal to the upper bound does not count
    np.testing.assert_array_equal(ranks_from_intervals([10, 5], [12, 10]), [1, 1])


# --- online Elo ----------------------------------------------------------------------------------


def test_online_elo_hand_computed():
    battles = [("x", "y", "model_a"), ("y", "z", "tie"), (2, 0, "model_b")]
    got = online_elo(battles, ["x", "y", "z"])
    # 1) x beats y, equal ratings: p = 0.5, update = 4*(1-0.5) = 2 -> x 1002, y 998
    # 2) y ties z: p_y = 1/(1+10^((1000-998)/400)) = 0.497121..., update = 4*(0.5-p_y) = 0.011513...
    p2 = 1 / (1 + 10 ** (2 / 400))
    u2 = 4 * (0.5 - p2)
    y, z = 998 + u2, 1000 - u2
    # 3) z (as a) vs x (as b), x wins: p_z = 1/(1+10^((1002-z)/400)), update = 4*(0-p_z)
    p3 = 1 / (1 + 10 ** ((1002 - z) / 400))
    u3 = -4 * p3
    expected = {"x": 1002 - u3, "y": y, "z": z + u3}
    assert u2 == pytest.approx(0.0115129, abs=1e-6)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-9)
    assert got["x"] == pytest.approx(1003.9885, abs=1e-3)


def test_online_elo_order_matters():
    forward = online_elo([("x", "y", "a"), ("y", "x", "a"), ("x", "y", "a")], ["x", "y"])
    backward = online_elo([("x", "y", "a"), ("x", "y", "a"), ("y", "x", "a")], ["x", "y"])
    assert forward["x"] != pytest.approx(backward["x"], abs=1e-6)


# --- descriptive tables and aggregation ----------------------------------------------------------


@pytest.fixture
def small_counts():
    # x vs y: x wins 3 (2 seated a, 1 seated b), y wins 1, 2 ties; x vs z: 1 both-bad only
    return PairCounts.from_rows(
        ["x", "y", "z"],
        [
            ("x", "y", "a", 2),
            ("y", "x", "b", 1),
            ("y", "x", "a", 1),
            ("x", "y", "tie", 2),
            ("z", "x", "bothbad", 1),
        ],
    )


def test_win_rate_matrix_hand_made(small_counts):
    w = win_rate_matrix(small_counts)
    assert w[0, 1] == pytest.approx(0.75)
    assert w[1, 0] == pytest.approx(0.25)
    assert np.isnan(w[0, 2]) and np.isnan(w[2, 0])  # only a both-bad vote: no decisive battle
    assert np.isnan(w[0, 0])


def test_battle_counts_hand_made(small_counts):
    m = battle_count_matrix(small_counts)
    np.testing.assert_array_equal(m, [[0, 6, 1], [6, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(battles_per_contender(small_counts), [7, 6, 1])
    wins, ties, losses = win_tie_loss(small_counts)
    np.testing.assert_array_equal(wins, [3, 1, 0])
    np.testing.assert_array_equal(ties, [3, 2, 1])
    np.testing.assert_array_equal(losses, [1, 3, 0])


def test_from_battles_aggregates():
    battles = [
        ("p", "q", "model_a"),
        ("p", "q", "model_a"),
        ("q", "p", "model_a"),
        ("p", "r", "tie"),
        ("p", "r", "tie (bothbad)"),
        ("p", "q", "model_a"),
        ("r", "q", "model_b"),
    ]
    counts = PairCounts.from_battles(battles)
    assert counts.names == ("p", "q", "r")  # first appearance, model_a column first
    rows = {
        (counts.names[a], counts.names[b], int(o)): int(c)
        for a, b, o, c in zip(counts.a_idx, counts.b_idx, counts.outcome, counts.count, strict=True)
    }
    assert rows == {
        ("p", "q", A_WINS): 3,
        ("q", "p", A_WINS): 1,
        ("p", "r", TIE): 1,
        ("p", "r", BOTHBAD): 1,
        ("r", "q", B_WINS): 1,
    }
    assert counts.total == 7


def test_from_battles_with_names_and_numeric_outcomes():
    counts = PairCounts.from_battles([("b", "a", 1.0), ("b", "a", 0.5), ("a", "b", 0.0)], names=["a", "b"])
    assert counts.names == ("a", "b")
    wins, ties, losses = win_tie_loss(counts)
    np.testing.assert_array_equal(wins, [0, 2])
    np.testing.assert_array_equal(ties, [1, 1])


def test_from_battles_matches_from_rows_and_fit(battles_20k, counts_20k):
    a, b, o = battles_20k
    letters = {A_WINS: "model_a", B_WINS: "model_b", TIE: "tie"}
    battles = [(NAMES[i], NAMES[j], letters[k]) for i, j, k in zip(a, b, o, strict=True)]
    counts = PairCounts.from_battles(battles, names=NAMES)
    np.testing.assert_array_equal(battle_count_matrix(counts), battle_count_matrix(counts_20k))
    np.testing.assert_allclose(fit_bradley_terry(counts), fit_bradley_terry(counts_20k))


def test_from_battles_accepts_a_generator_and_empty_input():
    counts = PairCounts.from_battles(b for b in [("x", "y", "model_b"), ("x", "y", "model_b")])
    assert counts.names == ("x", "y") and counts.count.tolist() == [2]
    assert counts.outcome.tolist() == [B_WINS]
    empty = PairCounts.from_battles([], names=["x"])
    assert empty.names == ("x",) and empty.total == 0


def test_from_rows_sums_repeated_keys():
    counts = PairCounts.from_rows(["x", "y"], [("x", "y", "a", 2), ("x", "y", "a", 5)])
    assert len(counts.count) == 1 and counts.count[0] == 7


@pytest.mark.parametrize(
    "rows, message",
    [
        ([("x", "nobody", "a", 1)], "unknown contender"),
        ([("x", "y", "draw", 1)], "unknown outcome"),
        ([("x", "x", "a", 1)], "itself"),
        ([("x", "y", "a", -1)], "non-negative"),
    ],
)
def test_from_rows_rejects_bad_input(rows, message):
    with pytest.raises(ValueError, match=message):
        PairCounts.from_rows(["x", "y"], rows)


def test_from_battles_rejects_unknown_winner():
    with pytest.raises(ValueError, match="unknown outcome 'draw'"):
        PairCounts.from_battles([("x", "y", "model_a"), ("x", "y", "draw")])


def test_sparse_aggregation_path_matches_dense():
    # many contenders: n*n*4 above the dense-table limit -> np.unique path
    n = 1500
    names = [f"c{i}" for i in range(n)]
    a = np.array([0, 1499, 0, 700, 0])
    b = np.array([1, 3, 1, 701, 1])
    o = np.array([A_WINS, TIE, A_WINS, B_WINS, B_WINS])
    counts = PairCounts.from_codes(names, a, b, o)
    got = sorted(
        zip(
            counts.a_idx.tolist(),
            counts.b_idx.tolist(),
            counts.outcome.tolist(),
            counts.count.tolist(),
            strict=True,
        )
    )
    assert got == [(0, 1, B_WINS, 1), (0, 1, A_WINS, 2), (700, 701, B_WINS, 1), (1499, 3, TIE, 1)]


# --- leaderboard ---------------------------------------------------------------------------------


def test_leaderboard_rows(counts_20k):
    names = [*NAMES, "idle"]
    counts = PairCounts(
        names=tuple(names),
        a_idx=counts_20k.a_idx,
        b_idx=counts_20k.b_idx,
        outcome=counts_20k.outcome,
        count=counts_20k.count,
    )
    rows = leaderboard(counts, rounds=50, seed=0)
    json.dumps(rows, allow_nan=False)  # raises on NaN/inf or numpy types
    assert [r["name"] for r in rows] == ["m5", "m4", "m3", "m2", "m1", "m0", "idle"]
    top = rows[0]
    assert top["rank"] == 1 and top["lower"] <= top["rating"] <= top["upper"]
    assert top["wins"] + top["ties"] + top["losses"] == top["battles"] > 0
    assert [r["rank"] for r in rows[:6]] == sorted(r["rank"] for r in rows[:6])
    assert rows[-1] == {
        "name": "idle",
        "rating": None,
        "lower": None,
        "upper": None,
        "rank": None,
        "battles": 0,
        "wins": 0,
        "ties": 0,
        "losses": 0,
        "provisional": False,
    }
    assert sum(r["battles"] for r in rows) == 2 * counts_20k.total


# ---------------------------------------------------------------------------------------------
# The prior (MAP) and provisional rows

PRIOR = 400.0  # the default of ANALYSIS_PRIOR_SCALE


def with_newcomers(seed: int = 3, newcomers=((1100.0, 3), (1000.0, 5), (900.0, 10))):
    """The 20k-battle log plus newcomers (true rating, battles) who met random established contenders."""
    rng = np.random.default_rng(seed)
    a, b, outcome = (list(x) for x in simulate(20_000, seed=1))
    ratings = list(TRUE_RATINGS)
    names = list(NAMES)
    for k, (true, n) in enumerate(newcomers):
        me = len(ratings)
        ratings.append(true)
        names.append(f"new{k}")
        for _ in range(n):
            other = int(rng.integers(0, len(TRUE_RATINGS)))
            p = 1.0 / (1.0 + 10.0 ** ((ratings[other] - true) / 400.0))
            win = rng.random() < p
            if rng.random() < 0.5:
                a.append(me), b.append(other), outcome.append(A_WINS if win else B_WINS)
            else:
                a.append(other), b.append(me), outcome.append(B_WINS if win else A_WINS)
    return PairCounts.from_codes(names, a, b, outcome)


def test_prior_zero_is_the_maximum_likelihood_exactly(counts_20k):
    assert prior_reg(0) == 0.0
    np.testing.assert_array_equal(fit_bradley_terry(counts_20k, prior=0), fit_bradley_terry(counts_20k))
    plain = bootstrap_bradley_terry(counts_20k, rounds=10, seed=2)
    zero = bootstrap_bradley_terry(counts_20k, rounds=10, seed=2, prior=0.0)
    for field in ("rating", "lower", "upper", "samples"):
        np.testing.assert_array_equal(getattr(zero, field), getattr(plain, field))
    rows = leaderboard(counts_20k, rounds=10, seed=2)
    assert leaderboard(counts_20k, rounds=10, seed=2, prior=0, provisional=0) == rows


def test_prior_is_a_gaussian_on_the_rating_scale():
    # N(0, prior²) on R = scale * theta  <=>  theta²/2 * (scale/prior)² added to the summed log-loss
    assert prior_reg(400.0) == 1.0
    assert prior_reg(200.0, scale=400.0) == 4.0
    counts = PairCounts.from_battles([("x", "y", "model_a")] * 3)
    np.testing.assert_allclose(
        fit_bradley_terry(counts, prior=200.0, tol=1e-10), fit_bradley_terry(counts, reg=4.0, tol=1e-10), atol=1e-9
    )


@pytest.mark.parametrize("bad", [-1.0, -1e-9, math.nan, math.inf])
def test_prior_scale_must_be_zero_or_positive(counts_20k, bad):
    with pytest.raises(ValueError, match="prior scale"):
        prior_reg(bad)
    with pytest.raises(ValueError, match="prior scale"):
        fit_bradley_terry(counts_20k, prior=bad)
    with pytest.raises(ValueError, match="prior scale"):
        bootstrap_bradley_terry(counts_20k, rounds=2, prior=bad)


def test_prior_moves_well_observed_contenders_by_under_two_points(counts_20k):
    mle = fit_bradley_terry(counts_20k, tol=1e-9)
    for prior in (PRIOR, 200.0):
        shift = np.abs(fit_bradley_terry(counts_20k, prior=prior, tol=1e-9) - mle)
        assert shift.max() <= 2.0, (prior, shift)
    # ... and in a log with newcomers, the differences between the established ones stay put
    counts = with_newcomers()
    m = len(NAMES)
    diff = np.diff(fit_bradley_terry(counts, tol=1e-9)[:m]) - np.diff(fit_bradley_terry(counts, prior=PRIOR)[:m])
    assert np.abs(diff).max() <= 2.0


def test_a_three_battle_newcomer_gets_an_interval_of_a_few_hundred_points():
    counts = with_newcomers()
    boot = bootstrap_bradley_terry(counts, rounds=100, seed=0, prior=PRIOR)
    width = boot.upper - boot.lower
    new3 = counts.index("new0")
    assert boot.battles[new3] == 3
    assert 100.0 <= width[new3] <= 1000.0, width[new3]
    assert boot.lower[new3] <= boot.rating[new3] <= boot.upper[new3]
    # the established contenders (about 6,700 battles each) keep narrow intervals
    assert np.all(width[: len(NAMES)] < 60.0), width
    # without the prior its record (here all wins or all losses) has no finite maximum: the fit
    # runs off by thousands of points and every resample repeats it, a zero-width interval
    mle = bootstrap_bradley_terry(counts, rounds=30, seed=0)
    assert abs(mle.rating[new3] - 1000.0) > 1000.0 or (mle.upper - mle.lower)[new3] > 1000.0


def test_one_vote_gives_finite_modest_ratings_with_honest_intervals():
    counts = PairCounts.from_battles([("x", "y", "model_a")])
    mle = leaderboard(counts, rounds=50)
    assert mle[0]["rating"] - mle[1]["rating"] > 2000  # FastChat's answer: 2285 against -285
    rows = leaderboard(counts, rounds=50, prior=PRIOR, provisional=20)
    x, y = rows
    assert (x["name"], y["name"]) == ("x", "y")
    assert 0 < x["rating"] - y["rating"] < 600
    for r in rows:
        assert 600 < r["rating"] < 1400 and r["provisional"] is True
        assert r["lower"] < r["rating"] < r["upper"]
        assert 100 < r["upper"] - r["lower"] < 1000
    assert x["rank"] == y["rank"] == 1  # the intervals overlap: one vote does not separate them


def test_provisional_rows_are_listed_and_ranked_after_the_established_ones():
    counts = with_newcomers(newcomers=((1600.0, 3), (1500.0, 5), (500.0, 30)))
    rows = leaderboard(counts, rounds=30, seed=0, prior=PRIOR, provisional=20)
    established = [r for r in rows if not r["provisional"]]
    provisional = [r for r in rows if r["provisional"]]
    assert {r["name"] for r in provisional} == {"new0", "new1"}
    assert rows == established + provisional  # all established rows first
    assert "new2" in {r["name"] for r in established}  # 30 battles: not provisional
    worst_established = max(r["rank"] for r in established)
    assert all(r["rank"] > len(established) >= worst_established for r in provisional)
    # the provisional rows are still sorted by rating among themselves
    assert [r["rating"] for r in provisional] == sorted((r["rating"] for r in provisional), reverse=True)
    # the newcomers do beat everyone: without the provisional rule one of them would rank first
    assert max(r["rating"] for r in provisional) > max(r["rating"] for r in established)
    assert leaderboard(counts, rounds=30, seed=0, prior=PRIOR)[0]["name"] in {"new0", "new1"}
