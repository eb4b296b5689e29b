"""Reveal conditions: simulated voters with known effects are recovered, and by-hand cases are exact."""

import json
import math

import numpy as np
import pytest
from scipy.special import expit

from analysis.leaderboard.reveal import (
    CONDITIONS,
    CONTROL,
    SHOWS_ENERGY,
    RevealVote,
    battles_needed,
    logistic_fit,
    newcombe_interval,
    power_table,
    reveal_analysis,
)

CHOICE = np.array(["a", "b", "tie", "bothbad"], dtype=object)


def simulate(condition, n, rng, p_toward=None, logit=None):
    """n battles of one condition. Among the eligible ones (blind choice used more energy) the final
    vote moves to the cheaper answer with probability ``p_toward``, or ``expit(b0 + b1·x)`` with
    ``logit = (b0, b1)`` and x = log2(energy ratio) ~ U(0.2, 3). Also: 10 % of battles with blind tie or
    both bad, 10 % with energies about the same, 5 % without a final vote, and voters who chose the
    cheaper answer blind move to the other with probability 0.05."""
    blind = CHOICE[rng.choice(4, n, p=[0.45, 0.45, 0.05, 0.05])]
    x = rng.uniform(0.2, 3.0, n)
    same = rng.random(n) < 0.1
    ratio = np.where(same, 1.02, 2.0**x)
    cheap = rng.lognormal(0.0, 1.0, n)
    a_more = rng.random(n) < 0.5
    energy_a = np.where(a_more, cheap * ratio, cheap)
    energy_b = np.where(a_more, cheap, cheap * ratio)
    chose_more = ((blind == "a") & a_more) | ((blind == "b") & ~a_more)
    p_move = expit(logit[0] + logit[1] * x) if logit else np.full(n, p_toward)
    p_move = np.where(chose_more & ~same, p_move, 0.05)
    move = rng.random(n) < p_move
    other = np.where(blind == "a", "b", "a")
    after = np.where(move & np.isin(blind, ["a", "b"]), other, blind)
    after = np.where(rng.random(n) < 0.05, None, after)
    return [
        RevealVote(condition, str(bl), None if af is None else str(af), float(ea), float(eb))
        for bl, af, ea, eb in zip(blind, after, energy_a, energy_b, strict=True)
    ]


def covers(interval, truth):
    return interval["lower"] <= truth <= interval["upper"]


TRUTH = {"control": 0.10, "joules": 0.30, "relative": 0.25}
# Each 95 % interval misses its truth once in 20 draws, and this test checks ten of them: the seed is
# one where none misses (the coverage itself is what the tests over many seeds check).
SEED = 1
LOGIT = (-2.0, 1.0)  # "carbon": log-odds of a move toward the cheaper answer = -2 + 1·log2(ratio)


def test_simulated_effects_lie_in_the_intervals(seed=SEED):
    rng = np.random.default_rng(seed)
    votes = []
    for name, p in TRUTH.items():
        votes += simulate(name, 4000, rng, p_toward=p)
    votes += simulate("carbon", 4000, rng, logit=LOGIT)
    result = reveal_analysis(votes)
    json.dumps(result, allow_nan=False)
    assert list(result["conditions"]) == list(CONDITIONS)
    assert result["minimum"] == 20
    for name, p in TRUTH.items():
        entry = result["conditions"][name]
        assert entry["reason"] is None
        assert entry["toward_cheaper"]["n"] > 1200  # about 4000 × 0.9 × 0.9 × 0.95 / 2
        assert covers(entry["toward_cheaper"], p)
        # with a constant rate the true slope on the energy ratio is 0
        assert entry["logistic"]["slope_lower"] <= 0 <= entry["logistic"]["slope_upper"]
        if name != CONTROL:
            assert covers(entry["vs_control"], p - TRUTH[CONTROL])
            assert entry["vs_control"]["lower"] > 0  # the effect is detected
    assert result["conditions"][CONTROL]["vs_control"] is None
    carbon = result["conditions"]["carbon"]
    assert carbon["logistic"]["slope_lower"] <= LOGIT[1] <= carbon["logistic"]["slope_upper"]
    assert carbon["logistic"]["intercept"] == pytest.approx(LOGIT[0], abs=0.4)
    grid = np.linspace(0.2, 3.0, 100001)  # the true marginal rate: expit averaged over x ~ U(0.2, 3)
    assert covers(carbon["toward_cheaper"], float(expit(LOGIT[0] + LOGIT[1] * grid).mean()))


def test_newcombe_interval_covers_the_true_difference_over_seeds():
    hits = 0
    for seed in range(50):
        rng = np.random.default_rng(seed)
        votes = simulate(CONTROL, 600, rng, p_toward=0.10) + simulate("joules", 600, rng, p_toward=0.30)
        vs = reveal_analysis(votes)["conditions"]["joules"]["vs_control"]
        hits += covers(vs, 0.20)
    assert hits >= 43  # nominal 95 %: 47.5 of 50 expected


def test_logistic_slope_interval_covers_the_true_slope_over_seeds():
    hits = 0
    for seed in range(40):
        votes = simulate("carbon", 1500, np.random.default_rng(seed), logit=LOGIT)
        fit = reveal_analysis(votes)["conditions"]["carbon"]
        hits += fit["logistic"]["slope_lower"] <= LOGIT[1] <= fit["logistic"]["slope_upper"]
    assert hits >= 34  # nominal 95 %: 38 of 40 expected


def test_counts_and_rates_by_hand():
    votes = [
        RevealVote("joules", "a", "b", 10.0, 2.0),  # eligible (a used more), toward cheaper, switch
        RevealVote("joules", "a", "b", 10.0, 2.0),
        RevealVote("joules", "b", "b", 1.0, 4.0),  # eligible, kept
        RevealVote("joules", "b", "tie", 1.0, 4.0),  # eligible, switch (to tie), not toward cheaper
        RevealVote("joules", "a", "b", 1.0, 4.0),  # chose the cheaper: switch, not eligible
        RevealVote("joules", "a", "b", 139.0, 138.0),  # about the same: switch, not eligible
        RevealVote("joules", "tie", "a", 1.0, 4.0),  # blind tie: switch, not eligible
        RevealVote("joules", "bothbad", "bothbad", 1.0, 4.0),  # not eligible
        RevealVote("joules", "a", "b", None, 4.0),  # energy unknown: switch, not eligible
        RevealVote("joules", "a", None, 10.0, 2.0),  # no final vote: not a battle
    ]
    entry = reveal_analysis(votes, minimum=1)["conditions"]["joules"]
    assert entry["battles"] == 9
    assert entry["switch"]["count"] == 7 and entry["switch"]["n"] == 9
    assert entry["switch"]["rate"] == round(7 / 9, 4)
    assert entry["toward_cheaper"]["count"] == 2 and entry["toward_cheaper"]["n"] == 4
    assert entry["toward_cheaper"]["rate"] == 0.5
    # Wilson 95 % for 2 of 4: 0.1500 to 0.8500
    assert entry["toward_cheaper"]["lower"] == pytest.approx(0.1500, abs=1e-4)
    assert entry["toward_cheaper"]["upper"] == pytest.approx(0.8500, abs=1e-4)
    assert entry["reason"] is None
    assert entry["vs_control"] == {
        "difference": None, "lower": None, "upper": None, "reason": "no control battles to compare with."
    }
    assert entry["logistic"]["n"] == 4


def test_about_the_same_and_tie_blind_votes_are_not_eligible():
    votes = [RevealVote("relative", "a", "b", 1.04, 1.0)] * 30 + [RevealVote("relative", "tie", "a", 3.0, 1.0)] * 30
    votes += [RevealVote("relative", "bothbad", "b", 3.0, 1.0)] * 30
    entry = reveal_analysis(votes)["conditions"]["relative"]
    assert entry["battles"] == 90 and entry["switch"]["count"] == 90
    assert entry["toward_cheaper"] == {"count": 0, "n": 0, "rate": None, "lower": None, "upper": None}
    assert entry["logistic"]["reason"] == "too few eligible votes for the fit: 0 of the 20 needed."


def test_reasons_when_too_few():
    votes = [RevealVote("joules", "a", "b", 10.0, 2.0)] * 7 + [RevealVote("control", "a", "a", 10.0, 2.0)] * 25
    result = reveal_analysis(votes)
    joules = result["conditions"]["joules"]
    assert joules["reason"] == "too few battles with both votes: 7 of the 20 needed."
    assert joules["vs_control"]["difference"] is None
    assert joules["vs_control"]["reason"] == (
        "too few eligible votes (blind choice used more energy): joules has 7, control 25, each needs 20."
    )
    assert joules["logistic"]["slope"] is None and "7 of the 20" in joules["logistic"]["reason"]
    assert result["conditions"]["control"]["reason"] is None
    # every condition is there, those without votes with counts 0
    carbon = result["conditions"]["carbon"]
    assert carbon["battles"] == 0
    assert carbon["switch"] == {"count": 0, "n": 0, "rate": None, "lower": None, "upper": None}
    assert carbon["reason"] == "too few battles with both votes: 0 of the 20 needed."
    # no spread in x: all 25 control votes have the same ratio
    assert result["conditions"]["control"]["logistic"]["reason"] == (
        "every eligible vote has the same energy ratio: there is no slope to fit."
    )
    assert set(SHOWS_ENERGY) | {CONTROL} == set(CONDITIONS)


def test_logistic_without_a_finite_fit():
    x = np.linspace(0.2, 3.0, 40)
    assert "every eligible vote switched" in logistic_fit(x, np.ones(40))["reason"]
    assert "no eligible vote switched" in logistic_fit(x, np.zeros(40))["reason"]
    assert "separates" in logistic_fit(x, (x > 1.5).astype(int))["reason"]


def test_logistic_fit_matches_a_known_maximum():
    # grouped data: at x = 0 one of 4 switched, at x = 1 three of 4. The saturated fit is the maximum:
    # intercept = logit(1/4) = -ln 3, slope = logit(3/4) - logit(1/4) = 2 ln 3, Wald
    # se² = 1/(4·3/16) + 1/(4·3/16) = 8/3 for the slope.
    x = [0, 0, 0, 0, 1, 1, 1, 1]
    y = [1, 0, 0, 0, 1, 1, 1, 0]
    fit = logistic_fit(x, y, minimum=1)
    assert fit["intercept"] == pytest.approx(-math.log(3), abs=1e-4)
    assert fit["slope"] == pytest.approx(2 * math.log(3), abs=1e-4)
    half = 1.959963984540054 * math.sqrt(8 / 3)
    assert fit["slope_lower"] == pytest.approx(2 * math.log(3) - half, abs=1e-4)
    assert fit["slope_upper"] == pytest.approx(2 * math.log(3) + half, abs=1e-4)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe (1998), Table II, method 10 (hybrid score, no continuity correction)
        ((56, 70, 48, 80), (0.2000, 0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.6000, 0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.5714, 0.0582, 0.8062)),
        ((5, 56, 0, 29), (0.0893, -0.0381, 0.1926)),
        ((0, 10, 0, 20), (0.0000, -0.1611, 0.2775)),
        ((10, 10, 0, 20), (1.0000, 0.6791, 1.0000)),
    ],
)
def test_newcombe_against_the_published_table(counts, expected):
    assert newcombe_interval(*counts) == pytest.approx(expected, abs=5e-5)


def test_battles_needed_textbook_values():
    # pooled two-proportion z-test (Fleiss, Levin & Paik 2003, §4.2, uncorrected; R's power.prop.test):
    # 0.10 vs 0.20, α .05 two-sided, power .8: n = 198.96 -> 199
    assert battles_needed(0.10, 0.10) == 199
    # R's power.prop.test(p1 = .50, p2 = .75, power = .90) help-page example: n = 76.7 -> 77
    assert battles_needed(0.50, 0.25, power=0.9) == 77
    assert battles_needed(0.20, -0.10) == battles_needed(0.10, 0.10)  # symmetric
    for bad in [(0.0, 0.1), (1.0, -0.1), (0.9, 0.1), (0.3, 0.0), (-0.1, 0.2), (math.nan, 0.1)]:
        with pytest.raises(ValueError):
            battles_needed(*bad)
    with pytest.raises(ValueError):
        battles_needed(0.1, 0.1, power=1.0)


def test_power_table():
    rows = power_table()
    assert len(rows) == 16
    assert {"baseline": 0.1, "difference": 0.1, "alpha": 0.05, "power": 0.8, "battles": 199} in rows
    # a larger effect needs fewer battles, a baseline nearer 0.5 more
    assert [r["battles"] for r in rows if r["baseline"] == 0.1] == sorted(
        (r["battles"] for r in rows if r["baseline"] == 0.1), reverse=True
    )
    assert power_table(baselines=(0.9,), differences=(0.1,))[0]["battles"] is None


def test_vote_validation():
    with pytest.raises(ValueError):
        RevealVote("sound", "a", "b", 1.0, 2.0)
    with pytest.raises(ValueError):
        RevealVote("joules", "c", "b", 1.0, 2.0)
    with pytest.raises(ValueError):
        RevealVote("joules", "a", "maybe", 1.0, 2.0)
