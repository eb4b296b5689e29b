"""Contextual Bradley-Terry: ratings with extra per-battle features, for style control and the
price of energy.

Plain numpy/scipy, no Django. The logit of "a beats b" is

    ln(10)/400 · (R_a − R_b) + Σ_k β_k · x_k

with a tie or "both bad" as half a win (``arena.choices.SCORE_OF_A``), fitted on per-battle rows
(the features are continuous, so battles do not aggregate into pair counts) by L-BFGS with the
analytic gradient, under the same Gaussian prior on the ratings as ``ratings`` (``prior_reg``) and
one as weak on β (see :func:`fit_contextual`). Intervals are the Laplace approximation: the
inverse of the Hessian of the negative log-posterior at its maximum gives the covariance of the
ratings and coefficients, and the 95 % intervals are ±1.96 standard deviations. (A bootstrap
would refit per-battle rows a hundred times: at a million battles that is minutes; the Laplace
intervals cost one fit and one small matrix inverse, about 3 s in all.)

* **Style control** (lmarena's, FastChat's ``elo_analysis.py``): per battle and for each of answer
  length (tokens), markdown headers, list items and bold spans, the normalised difference
  ``(a − b)/(a + b)`` (0 when both are 0), standardised over the battles. The ratings are then what
  is left once the voters' taste for length and markdown is accounted for.
* **The price of energy**: on the energy-aware ladder, one feature ``log2(E_a/E_b)``; −β in rating
  points (``400/ln 10`` per unit of logit) is what each doubling of an answer's energy costs it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from analysis.jsonsafe import json_float
from analysis.leaderboard.ratings import Z95, PairCounts, leaderboard_rows, outcome_code, prior_reg
from arena.choices import ENERGY, SCORE_OF_A
from arena.formatting import energy_shown
from arena.reveal import JOULES, shows_energy

SCALE, INIT = 400.0, 1000.0  # rating = SCALE·θ + INIT, as ratings.fit_bradley_terry
ALPHA = math.log(10.0)  # logit per unit of θ
POINTS = SCALE / ALPHA  # rating points per unit of logit
STYLE_FEATURES = ("length", "headers", "lists", "bold")
ENERGY_PRICE_MIN_BATTLES = 30  # fewer energy-aware votes with both energies known give no price


class ContextRow(NamedTuple):
    """One counted battle with what is known of its answers (None = unknown)."""

    model_a: str
    model_b: str
    winner: str  # our choice codes: "a", "b", "tie", "bothbad"
    winner_after: str | None  # the vote after the energy reveal, or None
    tokens_a: int | None  # answer length in tokens
    tokens_b: int | None
    headers_a: int | None
    headers_b: int | None
    lists_a: int | None
    lists_b: int | None
    bold_a: int | None
    bold_b: int | None
    energy_a_j: float | None
    energy_b_j: float | None
    reveal: str = JOULES  # what the reveal before the final vote showed (arena.reveal)


# ---------------------------------------------------------------------------------------------
# The kernel


def contextual_loss_and_grad(
    params: np.ndarray, a: np.ndarray, b: np.ndarray, score: np.ndarray, x: np.ndarray, reg: float,
    reg_beta: float = 0.0,
) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood over the battles plus ``reg/2·|θ|² + reg_beta/2·|β|²``, and its gradient.

    ``params`` is θ (one per contender, ``a``/``b`` index it) followed by β (one per column of
    ``x``, shape battles × features).
    """
    n = len(params) - x.shape[1]
    theta, beta = params[:n], params[n:]
    d = ALPHA * (theta[a] - theta[b]) + x @ beta
    m = len(d)
    loss = float(np.sum(np.logaddexp(0.0, d) - score * d)) / m
    g_row = (expit(d) - score) / m
    grad_theta = ALPHA * (np.bincount(a, g_row, n) - np.bincount(b, g_row, n))
    grad_beta = x.T @ g_row
    if reg:
        loss += 0.5 * reg * float(theta @ theta)
        grad_theta += reg * theta
    if reg_beta:
        loss += 0.5 * reg_beta * float(beta @ beta)
        grad_beta += reg_beta * beta
    return loss, np.concatenate([grad_theta, grad_beta])


@dataclass(frozen=True, eq=False)
class ContextualFit:
    """Ratings (index = contenders 0..n-1; those without battles at ``INIT`` with no interval)
    and coefficients (logit per unit of each feature), with their Laplace standard errors."""

    rating: np.ndarray
    rating_se: np.ndarray
    coef: np.ndarray
    coef_se: np.ndarray

    @property
    def lower(self) -> np.ndarray:
        return self.rating - Z95 * self.rating_se

    @property
    def upper(self) -> np.ndarray:
        return self.rating + Z95 * self.rating_se


def fit_contextual(
    a: np.ndarray,
    b: np.ndarray,
    score: np.ndarray,
    x: np.ndarray,
    n: int,
    *,
    prior: float = 0.0,
    tol: float = 1e-6,
    maxiter: int = 1000,
) -> ContextualFit:
    """MAP of the contextual Bradley-Terry over contenders 0..n-1, ratings centred on ``INIT``
    over the contenders with battles, and the Laplace covariance.

    ``prior`` (rating points, 0 = none) is the Gaussian prior of the ratings (``ratings.prior_reg``)
    and, as weak, of each coefficient: a standard deviation of ``prior`` rating points per unit of
    its feature. Without it a feature that separates the outcomes perfectly (a tiny arena where
    every voter took the cheaper answer) would have an infinite coefficient.
    """
    reg_sum = prior_reg(prior, SCALE)  # on the summed log-likelihood
    reg_beta_sum = prior_reg(prior, POINTS)  # β in logit = points / POINTS
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(a):
        raise ValueError("x must have one row per battle (battles x features)")
    k = x.shape[1]
    active = np.flatnonzero(np.bincount(a, minlength=n) + np.bincount(b, minlength=n))
    rating, rating_se = np.full(n, INIT), np.zeros(n)
    if not len(active):
        return ContextualFit(rating, rating_se, np.zeros(k), np.zeros(k))
    remap = np.full(n, -1, dtype=np.int64)
    remap[active] = np.arange(len(active))
    ia, ib, n_act = remap[a], remap[b], len(active)
    m = len(ia)
    result = minimize(
        contextual_loss_and_grad,
        np.zeros(n_act + k),
        args=(ia, ib, score, x, reg_sum / m, reg_beta_sum / m),
        jac=True,
        method="L-BFGS-B",
        # as ratings._fit_theta: the gradient alone decides when to stop
        options={"gtol": tol, "ftol": 1e-15, "maxiter": maxiter},
    )
    theta, beta = result.x[:n_act], result.x[n_act:]
    cov = _laplace_covariance(theta, beta, ia, ib, x, reg_sum, reg_beta_sum)
    # ratings are reported centred: the covariance of θ − mean(θ)
    c = cov[:n_act, :n_act]
    c_centred = c - c.mean(axis=0) - c.mean(axis=1)[:, None] + c.mean()
    rating[active] = SCALE * (theta - theta.mean()) + INIT
    rating_se[active] = SCALE * np.sqrt(np.clip(np.diag(c_centred), 0.0, None))
    coef_se = np.sqrt(np.clip(np.diag(cov)[n_act:], 0.0, None))
    return ContextualFit(rating, rating_se, beta, coef_se)


def _laplace_covariance(theta, beta, a, b, x, reg_sum, reg_beta_sum) -> np.ndarray:
    """Inverse of the Hessian of the summed negative log-posterior, parameters (θ, β)."""
    n, k = len(theta), x.shape[1]
    p = expit(ALPHA * (theta[a] - theta[b]) + x @ beta)
    v = p * (1.0 - p)
    pair = np.bincount(a * n + b, v, n * n).reshape(n, n)
    pair = pair + pair.T
    h = np.empty((n + k, n + k))
    h[:n, :n] = ALPHA**2 * (np.diag(pair.sum(axis=1)) - pair) + reg_sum * np.eye(n)
    vx = v[:, None] * x
    cross = np.zeros((n, k))
    for j in range(k):  # a few features
        cross[:, j] = ALPHA * (np.bincount(a, vx[:, j], n) - np.bincount(b, vx[:, j], n))
    h[:n, n:], h[n:, :n] = cross, cross.T
    h[n:, n:] = x.T @ vx + reg_beta_sum * np.eye(k)
    if not reg_sum:
        # without a prior a common shift of θ changes nothing: pin the mean (it does not change
        # the covariance of the centred ratings nor of β)
        h[:n, :n] += 1.0 / n
    try:
        return np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(h, hermitian=True)


# ---------------------------------------------------------------------------------------------
# Battles to arrays


def _column(rows: Sequence[ContextRow], field: str) -> np.ndarray:
    """One field of every row as floats (None -> NaN); map() runs in C, no Python loop per row."""
    return np.array(list(map(attrgetter(field), rows)), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class _Battles:
    """The battles of one ladder: contender indexes, outcome codes and the score of side a."""

    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    score: np.ndarray


def _battles(rows: Sequence[ContextRow], names: Sequence[str], field: str) -> _Battles:
    index = {name: i for i, name in enumerate(names)}
    try:
        a = np.fromiter(map(index.__getitem__, map(attrgetter("model_a"), rows)), np.int64, len(rows))
        b = np.fromiter(map(index.__getitem__, map(attrgetter("model_b"), rows)), np.int64, len(rows))
    except KeyError as exc:
        raise ValueError(f"unknown contender {exc.args[0]!r}") from None
    winners = list(map(attrgetter(field), rows))
    bad = [w for w in set(winners) if w not in SCORE_OF_A]
    if bad:
        raise ValueError(f'"{field}" must be one of {", ".join(SCORE_OF_A)}, not {bad[0]!r}')
    codes = {w: outcome_code(w) for w in set(winners)}
    outcome = np.fromiter(map(codes.__getitem__, winners), np.int64, len(rows))
    score = np.fromiter(map(SCORE_OF_A.__getitem__, winners), np.float64, len(rows))
    return _Battles(a, b, outcome, score)


def _ladder_rows(rows: Sequence[ContextRow], ladder: str) -> list[ContextRow]:
    """The battles a ladder counts: the energy-aware one, those whose second vote followed a reveal of
    both energies (arena.formatting.energy_shown)."""
    if ladder != ENERGY:
        return list(rows)
    return [
        r for r in rows
        if r.winner_after is not None and energy_shown(r.energy_a_j, r.energy_b_j) and shows_energy(r.reveal)
    ]


def style_diffs(rows: Sequence[ContextRow]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised differences ``(a − b)/(a + b)`` (0 when both are 0) of length, headers, lists and
    bold, shape battles × 4, and which battles have all eight counts known."""
    cols = []
    known = np.ones(len(rows), dtype=bool)
    for prefix in ("tokens", "headers", "lists", "bold"):
        va, vb = _column(rows, f"{prefix}_a"), _column(rows, f"{prefix}_b")
        known &= np.isfinite(va) & np.isfinite(vb)
        total = va + vb
        with np.errstate(invalid="ignore", divide="ignore"):
            cols.append(np.where(total > 0, (va - vb) / total, 0.0))
    return np.stack(cols, axis=1).reshape(len(rows), len(STYLE_FEATURES)), known


# ---------------------------------------------------------------------------------------------
# Style control


def style_control(
    rows: Sequence[ContextRow], names: Sequence[str], *, ladder: str, prior: float = 0.0, provisional: int = 0
) -> dict:
    """The style-controlled ladder: ``{"battles", "rows", "coefficients", "left_out"}``.

    ``rows`` are the leaderboard rows of ``ratings.leaderboard`` (same fields) from the battles of
    ``ladder`` whose eight style counts are known; ``left_out`` counts the others. Each coefficient
    is in rating points per standard deviation (``sd``) of its feature's normalised difference
    between the two answers, with its 95 % interval: what an answer gains by being that much
    longer (or more marked up) than the other. A feature that is the same in every battle is not
    fitted (``points`` None, with a ``reason``).
    """
    rows = _ladder_rows(rows, ladder)
    diffs, known = style_diffs(rows)
    used = [r for r, ok in zip(rows, known, strict=True) if ok]
    diffs = diffs[known]
    battles = _battles(used, names, "winner_after" if ladder == ENERGY else "winner")
    mean, sd = (diffs.mean(axis=0), diffs.std(axis=0)) if len(used) else (np.zeros(4), np.zeros(4))
    varies = sd > 1e-12
    x = (diffs[:, varies] - mean[varies]) / sd[varies]
    fit = fit_contextual(battles.a, battles.b, battles.score, x, len(names), prior=prior)
    counts = PairCounts.from_codes(names, battles.a, battles.b, battles.outcome)
    coefficients, j = [], 0
    for f, feature in enumerate(STYLE_FEATURES):
        entry = {"feature": feature, "sd": json_float(sd[f]) if len(used) else None}
        if varies[f]:
            beta, half = fit.coef[j], Z95 * fit.coef_se[j]
            entry |= {
                "coef": json_float(beta),
                "points": json_float(POINTS * beta),
                "lower": json_float(POINTS * (beta - half)),
                "upper": json_float(POINTS * (beta + half)),
                "reason": None,
            }
            j += 1
        else:
            reason = "no battle with the style counts known" if not used else "the same in every battle"
            entry |= {"coef": None, "points": None, "lower": None, "upper": None, "reason": reason}
        coefficients.append(entry)
    return {
        "battles": len(used),
        "left_out": len(rows) - len(used),
        "rows": leaderboard_rows(counts, fit.rating, fit.lower, fit.upper, provisional=provisional),
        "coefficients": coefficients,
    }


# ---------------------------------------------------------------------------------------------
# The price of energy


def energy_price(
    rows: Sequence[ContextRow],
    names: Sequence[str],
    families: Mapping[str, str],
    *,
    prior: float = 0.0,
    minimum: int = ENERGY_PRICE_MIN_BATTLES,
) -> dict:
    """What each doubling of an answer's energy costs it on the energy-aware ladder, in rating
    points with a 95 % interval: ``{"overall": price, "by_family": {family: price}}``.

    Fitted on the votes after the energy reveal whose two energies are known and positive, with
    the contenders' ratings and the one feature ``log2(E_a/E_b)``; per family on the battles whose
    two sides are of that family. Each price: ``{"battles", "points", "lower", "upper", "reason"}``,
    ``points`` None (and a ``reason``) with fewer than ``minimum`` such battles, fewer than two
    contenders, or no difference of energy to learn from.
    """
    rows = _ladder_rows(rows, ENERGY)
    ea, eb = _column(rows, "energy_a_j"), _column(rows, "energy_b_j")
    known = np.isfinite(ea) & np.isfinite(eb) & (ea > 0) & (eb > 0)
    used = [r for r, ok in zip(rows, known, strict=True) if ok]
    x = np.log2(ea[known] / eb[known])
    style, style_known = style_diffs(used)
    x = np.column_stack([x, style]) if len(used) else x[:, None]
    overall = _price(used, x, style_known, names, prior, minimum)
    by_family: dict[str, dict] = {}
    fam_a = np.array([families.get(r.model_a, "") for r in used], dtype=object)
    fam_b = np.array([families.get(r.model_b, "") for r in used], dtype=object)
    same = (fam_a == fam_b) & (fam_a != "")
    for family in sorted(set(fam_a[same])):
        mask = same & (fam_a == family)
        subset = [r for r, ok in zip(used, mask, strict=True) if ok]
        by_family[family] = _price(subset, x[mask], style_known[mask], names, prior, minimum)
    return {"overall": overall, "by_family": by_family, "min_battles": minimum}


def _price(
    used: list[ContextRow], x: np.ndarray, style_known: np.ndarray, names: Sequence[str], prior: float, minimum: int
) -> dict:
    """``x``: log2 of the energy ratio, then the four style differences (see :func:`style_diffs`).

    Longer answers cost more energy, and voters may like length for itself: fitted alone, the price
    of energy would absorb that taste (a simulated log where voters like length and dislike energy
    gave half the true price). So when every battle has its style counts (our own battles always do)
    the style features are fitted beside it and the price is the one of energy at equal style."""
    out = {"battles": len(used), "points": None, "lower": None, "upper": None, "reason": None,
           "style_controlled": False}
    contenders = {r.model_a for r in used} | {r.model_b for r in used}
    if len(used) < minimum:
        return out | {"reason": f"fewer than {minimum} energy-aware votes with both energies known"}
    if len(contenders) < 2:
        return out | {"reason": "fewer than two contenders"}
    if float(np.std(x[:, 0])) < 1e-12:
        return out | {"reason": "the two energies never differ"}
    features = x[:, :1]
    if style_known.all():
        style = x[:, 1:]
        sd = style.std(axis=0)
        varies = sd > 1e-12
        features = np.column_stack([features, (style[:, varies] - style[:, varies].mean(axis=0)) / sd[varies]])
        out["style_controlled"] = True
    battles = _battles(used, names, "winner_after")
    fit = fit_contextual(battles.a, battles.b, battles.score, features, len(names), prior=prior)
    beta, half = float(fit.coef[0]), Z95 * float(fit.coef_se[0])
    # a doubling of a's energy adds β to the logit of "a wins": it costs −β in points
    return out | {
        "points": json_float(-POINTS * beta),
        "lower": json_float(-POINTS * (beta + half)),
        "upper": json_float(-POINTS * (beta - half)),
    }
