"""Reveal conditions: does showing energy change votes, and by how much?

Each voting session is assigned at random what the reveal between the blind and the final vote
shows: ``joules`` (the figures), ``relative`` (only which answer used less energy and roughly how
many times less), ``carbon`` (the figures and grams CO2e) or ``control`` (no energy at all; the
final vote is still asked, and its switches are the baseline: voters who change their mind with
nothing new to go on). Per condition, :func:`reveal_analysis` computes:

* **switch**: the share of battles with both votes whose final vote differs from the blind one,
  ``k/n`` with its 95 % Wilson score interval (``gea.wilson_interval``; Wilson 1927)::

      centre ± half = (p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n),   z = 1.96

* **toward_cheaper**: among the *eligible* votes (GEA's rule, ``gea.GeaVote.blind_side_energy``
  = "more": the blind choice was one side, both energies are known, not "about the same", and the
  final vote was cast), the share whose final vote moved to the other, cheaper, answer; Wilson
  interval as above.
* **vs_control**: for a condition that shows energy, the difference of its ``toward_cheaper``
  rate minus control's, ``D = p₁ − p₂``, with Newcombe's hybrid score interval for a difference
  of two independent proportions (Newcombe 1998, Statistics in Medicine 17:873–890, method 10),
  built from the two Wilson intervals ``(l₁, u₁)`` and ``(l₂, u₂)``::

      lower = D − sqrt((p₁ − l₁)² + (u₂ − p₂)²)
      upper = D + sqrt((u₁ − p₁)² + (p₂ − l₂)²)

  (unlike the Wald interval it stays inside [−1, 1] and keeps its coverage near 0 and 1).
* **logistic**: a logistic regression of "switched toward the cheaper answer" (0/1) on
  ``x = log2(E_blind / E_other)`` over the eligible votes (x > log2 1.05 > 0 there; votes with an
  energy of 0 have no finite x and are left out), ``logit P(switch) = intercept + slope·x``,
  fitted by maximum likelihood (Newton's method in a trust region, ``scipy.optimize.minimize``
  ``trust-exact`` with the analytic gradient and Hessian). The 95 % interval of the slope is Wald's,
  ``slope ± 1.96·sqrt([I⁻¹]₁₁)`` with ``I = Xᵀ diag(p(1−p)) X`` the observed (= expected)
  information at the maximum. The slope is how much more likely (in log-odds) a switch becomes for
  each doubling of the energy ratio; with no spread in x, too few votes, or outcomes that x
  separates perfectly (no finite maximum), there is no fit and a ``reason`` says why.

:func:`battles_needed` is the sample size per group of a two-sided two-proportion z-test with the
pooled variance under H0 (Fleiss, Levin & Paik 2003, Statistical Methods for Rates and
Proportions, 3rd ed., §4.2, without continuity correction; the formula of R's ``power.prop.test``)::

      n = (z_{1−α/2}·sqrt(2·p̄(1−p̄)) + z_{power}·sqrt(p₁(1−p₁) + p₂(1−p₂)))² / (p₂ − p₁)²,
      p̄ = (p₁ + p₂)/2

e.g. 0.10 against 0.20 at α = 0.05 and 80 % power: n = 198.97, so 199 eligible votes per
condition. :func:`power_table` lists it for a few baselines and effects (docs/leaderboard.md).

Plain Python/numpy/scipy, no Django.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from scipy.stats import norm

from analysis.jsonsafe import json_float
from analysis.leaderboard.gea import GeaVote, wilson_interval
from analysis.leaderboard.ratings import Z95
from arena.choices import CHOICES, OTHER_SIDE
from arena.reveal import CONDITIONS, CONTROL, shows_energy

SHOWS_ENERGY = tuple(name for name in CONDITIONS if shows_energy(name))
DIGITS = 4  # rates, bounds and coefficients are rounded to this many decimals


@dataclass(frozen=True)
class RevealVote:
    """One battle's two votes under one reveal condition. ``after`` is None when the final vote was
    not cast; an energy is None when it is not known."""

    condition: str
    blind: str
    after: str | None
    energy_a_j: float | None
    energy_b_j: float | None

    def __post_init__(self):
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}, not {self.condition!r}")
        if self.blind not in CHOICES:
            raise ValueError(f"blind must be one of {CHOICES}, not {self.blind!r}")
        if self.after is not None and self.after not in CHOICES:
            raise ValueError(f"after must be one of {CHOICES} or None, not {self.after!r}")

    def gea_vote(self) -> GeaVote:
        """The same votes as a GEA vote (contenders do not matter here)."""
        return GeaVote("a", "b", None, None, self.energy_a_j, self.energy_b_j, self.blind, self.after)

    def log2_ratio(self) -> float:
        """log2(energy of the blind choice / energy of the other answer); NaN when not finite.
        Only meaningful when the blind choice was one side and both energies are known."""
        mine, other = (self.energy_a_j, self.energy_b_j) if self.blind == "a" else (self.energy_b_j, self.energy_a_j)
        try:
            mine, other = float(mine), float(other)
        except (TypeError, ValueError):
            return math.nan
        if not (mine > 0 and other > 0 and math.isfinite(mine) and math.isfinite(other)):
            return math.nan
        return math.log2(mine / other)


def _num(value: float | None, digits: int = DIGITS) -> float | None:
    """A JSON-safe float rounded to ``digits`` decimals (None stays None, NaN/inf become None)."""
    if value is None:
        return None
    value = json_float(value)
    return None if value is None else round(value, digits)


def _proportion(count: int, n: int) -> dict:
    rate, lower, upper = wilson_interval(count, n)
    return {"count": int(count), "n": int(n), "rate": _num(rate), "lower": _num(lower), "upper": _num(upper)}


def newcombe_interval(count1: int, n1: int, count2: int, n2: int, z: float = Z95) -> tuple[float, float, float]:
    """``p1 − p2`` and Newcombe's hybrid score interval (1998, method 10) from the two Wilson
    intervals; both n must be positive."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both groups need at least one vote")
    p1, l1, u1 = wilson_interval(count1, n1, z)
    p2, l2, u2 = wilson_interval(count2, n2, z)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


# ---------------------------------------------------------------------------------------------
# The logistic regression on the energy ratio


def _logistic_loss(beta: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood of ``logit P(y=1) = beta[0] + beta[1]·x`` and its gradient."""
    eta = beta[0] + beta[1] * x
    r = expit(eta) - y
    m = len(x)
    return float(np.sum(np.logaddexp(0.0, eta) - y * eta)) / m, np.array([r.sum(), r @ x]) / m


def _logistic_information(beta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The summed information ``Xᵀ diag(p(1−p)) X`` (the Hessian of the summed negative log-likelihood)."""
    p = expit(beta[0] + beta[1] * x)
    w = p * (1.0 - p)
    return np.array([[w.sum(), w @ x], [w @ x, (w * x) @ x]])


def logistic_fit(x: Iterable[float], y: Iterable[int], *, minimum: int = 20) -> dict:
    """``{"intercept", "slope", "slope_lower", "slope_upper", "n", "reason"}``: the maximum-likelihood
    logistic regression of y (0/1) on x with the Wald 95 % interval of the slope; the figures are None
    and ``reason`` a sentence when there is no finite fit."""
    x = np.asarray(list(x), dtype=np.float64)
    y = np.asarray(list(y), dtype=np.float64)
    n = len(x)
    out = {"intercept": None, "slope": None, "slope_lower": None, "slope_upper": None, "n": n, "reason": None}
    ones, zeros = x[y == 1], x[y == 0]
    if n < minimum:
        out["reason"] = f"too few eligible votes for the fit: {n} of the {minimum} needed."
    elif np.ptp(x) == 0:
        out["reason"] = "every eligible vote has the same energy ratio: there is no slope to fit."
    elif not len(ones) or not len(zeros):
        out["reason"] = (
            "no finite fit: " + ("every" if len(ones) else "no") + " eligible vote switched toward the cheaper answer."
        )
    elif ones.min() >= zeros.max() or ones.max() <= zeros.min():
        out["reason"] = "no finite fit: the energy ratio separates the votes that switched from those that did not."
    if out["reason"]:
        return out
    # fitted on centred x (better conditioned), then moved back: intercept = a − slope·mean(x)
    centre = float(x.mean())
    xc = x - centre
    result = minimize(
        _logistic_loss, np.zeros(2), args=(xc, y), jac=True, method="trust-exact",
        hess=lambda beta, x, y: _logistic_information(beta, x) / len(x),
        options={"gtol": 1e-9},
    )
    beta = np.array([result.x[0] - result.x[1] * centre, result.x[1]])
    # trust-exact may stop on rounding noise a hair short of its gtol: what counts is a vanishing gradient
    converged = np.all(np.isfinite(beta)) and np.max(np.abs(_logistic_loss(result.x, xc, y)[1])) < 1e-6
    try:
        cov = np.linalg.inv(_logistic_information(beta, x))
    except np.linalg.LinAlgError:
        cov = None
    if not converged or cov is None or not cov[1, 1] > 0:
        out["reason"] = f"the fit did not converge ({result.message})."
        return out
    intercept, slope = beta
    se = math.sqrt(cov[1, 1])
    out.update(
        intercept=_num(intercept), slope=_num(slope),
        slope_lower=_num(slope - Z95 * se), slope_upper=_num(slope + Z95 * se),
    )
    return out


# ---------------------------------------------------------------------------------------------
# The analysis


def _condition_counts(votes: list[RevealVote]) -> dict:
    """Battles, switches, and the eligible votes as (x, switched toward cheaper) of one condition."""
    battles = switched = 0
    eligible_x, eligible_y = [], []
    for vote in votes:
        if vote.after is None:
            continue
        battles += 1
        switched += vote.after != vote.blind
        if vote.gea_vote().blind_side_energy() == "more":  # GEA's rule of which votes are eligible
            eligible_x.append(vote.log2_ratio())
            eligible_y.append(int(vote.after == OTHER_SIDE[vote.blind]))
    return {"battles": battles, "switched": switched, "x": eligible_x, "y": eligible_y}


def reveal_analysis(votes: Iterable[RevealVote], *, minimum: int = 20) -> dict:
    """Per reveal condition, the switch rates, the move toward the cheaper answer, its difference to
    control (Newcombe) and its logistic regression on the energy ratio (see the module docstring).

    Returns ``{"conditions": {name: {"battles", "switch", "toward_cheaper", "vs_control", "logistic",
    "reason"}}, "minimum": minimum}`` with every condition of :data:`CONDITIONS`, in that order (one
    without votes has counts 0 and reasons).
    """
    by_condition: dict[str, list[RevealVote]] = {name: [] for name in CONDITIONS}
    for vote in votes:
        by_condition[vote.condition].append(vote)
    counts = {name: _condition_counts(group) for name, group in by_condition.items()}
    control = counts[CONTROL]
    conditions = {}
    for name in CONDITIONS:
        c = counts[name]
        n_eligible, toward = len(c["y"]), sum(c["y"])
        x = np.array(c["x"], dtype=np.float64)
        finite = np.isfinite(x)
        entry = {
            "battles": c["battles"],
            "switch": _proportion(c["switched"], c["battles"]),
            "toward_cheaper": _proportion(toward, n_eligible),
            "vs_control": None if name == CONTROL else _vs_control(name, c["y"], control["y"], minimum, control),
            "logistic": logistic_fit(x[finite], np.array(c["y"])[finite], minimum=minimum),
            "reason": None,
        }
        if c["battles"] < minimum:
            entry["reason"] = f"too few battles with both votes: {c['battles']} of the {minimum} needed."
        conditions[name] = entry
    return {"conditions": conditions, "minimum": minimum}


def _vs_control(name: str, y: list[int], y_control: list[int], minimum: int, control: dict) -> dict:
    out = {"difference": None, "lower": None, "upper": None, "reason": None}
    n, n_control = len(y), len(y_control)
    if not control["battles"]:
        out["reason"] = "no control battles to compare with."
    elif n < minimum or n_control < minimum:
        out["reason"] = (
            f"too few eligible votes (blind choice used more energy): {name} has {n}, control {n_control}, "
            f"each needs {minimum}."
        )
    else:
        d, lower, upper = newcombe_interval(sum(y), n, sum(y_control), n_control)
        out.update(difference=_num(d), lower=_num(lower), upper=_num(upper))
    return out


# ---------------------------------------------------------------------------------------------
# How many battles


def battles_needed(p_baseline: float, difference: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Eligible votes per condition for a two-sided two-proportion z-test at level ``alpha`` to detect
    ``p_baseline`` against ``p_baseline + difference`` with probability ``power`` (pooled variance
    under H0, no continuity correction; see the module docstring), rounded up."""
    values = (p_baseline, difference, alpha, power)
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise ValueError("p_baseline, difference, alpha and power must be finite numbers")
    p1, p2 = float(p_baseline), float(p_baseline) + float(difference)
    if not (0 < p1 < 1 and 0 < p2 < 1):
        raise ValueError(f"both proportions must lie strictly between 0 and 1, not {p1} and {p2}")
    if difference == 0:
        raise ValueError("a difference of 0 cannot be detected")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError("alpha and power must lie strictly between 0 and 1")
    pbar = (p1 + p2) / 2
    root = norm.ppf(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar)) + norm.ppf(power) * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2)
    )
    # a hair below an integer from rounding (e.g. 100.00000000001) is that integer
    return math.ceil(round(root**2 / (p2 - p1) ** 2, 9))


def power_table(
    baselines: Iterable[float] = (0.05, 0.1, 0.2, 0.3), differences: Iterable[float] = (0.05, 0.1, 0.15, 0.2),
    *, alpha: float = 0.05, power: float = 0.8,
) -> list[dict]:
    """One row per (baseline, difference): ``{"baseline", "difference", "alpha", "power", "battles"}``,
    battles from :func:`battles_needed` (None where baseline + difference is not strictly inside (0, 1))."""
    rows = []
    for p in baselines:
        for d in differences:
            n = battles_needed(p, d, alpha=alpha, power=power) if 0 < p + d < 1 and d else None
            rows.append({"baseline": p, "difference": d, "alpha": alpha, "power": power, "battles": n})
    return rows
