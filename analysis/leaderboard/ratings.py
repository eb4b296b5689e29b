"""Arena ratings: Bradley-Terry by maximum likelihood, bootstrap intervals, online Elo.

Plain numpy/scipy, no Django. Anchored on FastChat's ``fastchat/serve/monitor/rating_systems.py``:

* the data are unique ``(contender a, contender b, outcome)`` rows with counts, so the cost of a
  fit depends on the number of contenders, not on the number of votes;
* a tie (and a "both bad" vote) counts as half a win for each side (outcome 0.5);
* the logit of "a beats b" is ``ln(base)/scale * (R_a - R_b)``; the fit works on the natural scale
  ``theta`` with ``logit = ln(base) * (theta_a - theta_b)`` and reports ``R = scale*theta + init``;
* the bootstrap is a multinomial draw of the total number of battles over the unique rows, with
  probabilities count/total, and the interval is the 2.5/97.5 percentiles;
* rank = 1 + number of contenders whose lower bound is strictly above this one's upper bound.

Differences from FastChat, all deliberate:

* the loss is the *mean* negative log-likelihood (FastChat sums for the point fit and averages in
  the bootstrap), so ``tol`` means the same thing whatever the number of battles;
* the default iteration limit is 1000 rather than 100, and L-BFGS-B's relative-decrease stop
  (``ftol``) is effectively disabled so that ``tol`` (the largest gradient component) alone decides
  when to stop; at the default ``tol=1e-6`` the fit was measured within 0.01 rating points of the
  exact optimum for 50 contenders (about 1e-4 with ``tol=1e-8``, which costs a few iterations);
* bootstrap fits start from the point fit (warm start) instead of zeros, and run in-process;
* contenders without any battle are left out of the fit; they are reported at ``init_rating`` and
  can be recognised by ``battles == 0`` (the leaderboard reports them with ``None`` ratings);
* optionally (``prior`` > 0, in rating points) a Gaussian prior N(0, prior²) on every rating: the
  point fit is then the maximum a posteriori, finite for a contender that never lost, and each
  bootstrap round also centres the prior on a fresh draw from the prior (a randomised prior, as
  Osband et al. 2018), so that the rounds vary as much as the posterior where the data are few (one
  vote resamples into itself: the plain bootstrap would give it a zero-width interval) and as the
  plain bootstrap where they are many. ``prior=0`` is FastChat's maximum likelihood, unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from analysis.jsonsafe import json_float
from arena import choices

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile: every 95% interval of the leaderboard

# Outcome codes. FastChat uses 0 = b wins, 1 = tie, 2 = a wins; "both bad" gets its own code so
# that it can be reported apart from ties, but it scores like a tie.
B_WINS, TIE, A_WINS, BOTHBAD = 0, 1, 2, 3
_CHOICE_CODE = {choices.B: B_WINS, choices.TIE: TIE, choices.A: A_WINS, choices.BOTH_BAD: BOTHBAD}
OUTCOME_NAMES = tuple(sorted(_CHOICE_CODE, key=_CHOICE_CODE.__getitem__))  # our choice code, by outcome code
_SCORE = np.array([choices.SCORE_OF_A[name] for name in OUTCOME_NAMES])  # score of side a, by outcome code
# FastChat's spelling of the winner in its battle logs, by our choice code
FASTCHAT_WINNER = {choices.A: "model_a", choices.B: "model_b", choices.TIE: "tie", choices.BOTH_BAD: "tie (bothbad)"}

_OUTCOME_CODE: dict[object, int] = {
    **_CHOICE_CODE,
    **{FASTCHAT_WINNER[choice]: code for choice, code in _CHOICE_CODE.items()},
    # numeric score of side a
    1.0: A_WINS,
    0.0: B_WINS,
    0.5: TIE,
}


def outcome_code(outcome: object) -> int:
    """Code of one outcome given as "a"/"b"/"tie"/"bothbad", FastChat's winner string, or 1/0/0.5."""
    try:
        return _OUTCOME_CODE[outcome]
    except (KeyError, TypeError):
        raise ValueError(f"unknown outcome {outcome!r}") from None


@dataclass(frozen=True, eq=False)
class PairCounts:
    """Aggregated battles: unique ``(a_idx, b_idx, outcome)`` rows with their counts.

    ``a_idx``/``b_idx`` index ``names``; ``outcome`` holds the codes ``B_WINS, TIE, A_WINS,
    BOTHBAD`` (0..3); ``count`` is a positive integer per row. The seat order (a, b) is kept as
    given, as FastChat does, so that position effects remain visible.
    """

    names: tuple[str, ...]
    a_idx: np.ndarray
    b_idx: np.ndarray
    outcome: np.ndarray
    count: np.ndarray

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def total(self) -> int:
        return int(self.count.sum())

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"unknown contender {name!r}") from None

    @classmethod
    def from_codes(
        cls,
        names: Sequence[str],
        a_idx: np.ndarray | Sequence[int],
        b_idx: np.ndarray | Sequence[int],
        outcome: np.ndarray | Sequence[int],
        count: np.ndarray | Sequence[int] | None = None,
    ) -> PairCounts:
        """Aggregate integer-coded battles (or rows with counts) into unique rows.

        Vectorised: each row is encoded as one integer ``(a*n + b)*4 + outcome`` and counted with
        ``np.bincount`` (or ``np.unique`` when n*n*4 is too large for a dense table).
        """
        names = tuple(names)
        if len(set(names)) != len(names):
            raise ValueError("contender names must be unique")
        n = len(names)
        a = np.asarray(a_idx, dtype=np.int64).ravel()
        b = np.asarray(b_idx, dtype=np.int64).ravel()
        o = np.asarray(outcome, dtype=np.int64).ravel()
        c = np.ones(len(a), dtype=np.int64) if count is None else np.asarray(count).ravel()
        if not (len(a) == len(b) == len(o) == len(c)):
            raise ValueError("a_idx, b_idx, outcome and count must have the same length")
        if len(a):
            if min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n:
                raise ValueError("contender index out of range")
            if np.any(a == b):
                raise ValueError("a contender cannot battle itself")
            if o.min() < 0 or o.max() > BOTHBAD:
                raise ValueError("outcome codes must be in 0..3")
            if np.any(c < 0) or not np.all(np.equal(np.mod(c, 1), 0)):
                raise ValueError("counts must be non-negative integers")
        c = c.astype(np.int64)
        key = (a * n + b) * 4 + o
        size = n * n * 4
        if size <= max(4 * len(key), 1 << 22):
            # dense table: O(battles), no sort
            if count is None:
                table = np.bincount(key, minlength=size)
            else:
                table = np.bincount(key, weights=c, minlength=size).round().astype(np.int64)
            keys = np.flatnonzero(table)
            counts = table[keys]
        else:
            keys, inverse = np.unique(key, return_inverse=True)
            counts = np.bincount(inverse, weights=c, minlength=len(keys)).round().astype(np.int64)
            keep = counts > 0
            keys, counts = keys[keep], counts[keep]
        pair, o_out = np.divmod(keys, 4)
        a_out, b_out = np.divmod(pair, n)
        return cls(names, a_out, b_out, o_out.astype(np.int8), counts.astype(np.int64))

    @classmethod
    def from_rows(cls, names: Sequence[str], rows: Iterable[tuple[str, str, object, int]]) -> PairCounts:
        """Build from ``(name_a, name_b, outcome, count)`` rows (e.g. stored pair-outcome counts).

        Repeated keys are summed; ``outcome`` is anything :func:`outcome_code` accepts.
        """
        names = tuple(names)
        index = {name: i for i, name in enumerate(names)}
        a, b, o, c = [], [], [], []
        for name_a, name_b, outcome, count in rows:
            try:
                a.append(index[name_a])
                b.append(index[name_b])
            except KeyError as exc:
                raise ValueError(f"unknown contender {exc.args[0]!r}") from None
            o.append(outcome_code(outcome))
            c.append(int(count))
        return cls.from_codes(names, a, b, o, c)

    @classmethod
    def from_battles(
        cls,
        battles: Iterable[tuple[str, str, object]],
        names: Sequence[str] | None = None,
    ) -> PairCounts:
        """Aggregate individual battles ``(model_a, model_b, winner)``.

        ``winner`` uses FastChat's spelling ("model_a", "model_b", "tie", "tie (bothbad)") or ours.
        Without ``names`` the contenders are numbered in order of first appearance, model_a column
        first (as FastChat's ``pd.factorize`` of model_a then model_b).
        """
        # map() over itemgetter and dict lookups runs in C: no Python-level loop per battle
        # (zip(*battles) is ~10x slower on a million tuples).
        if not isinstance(battles, Sequence):
            battles = list(battles)
        m = len(battles)
        col_a = list(map(itemgetter(0), battles))
        col_b = list(map(itemgetter(1), battles))
        if names is None:
            names = tuple(dict.fromkeys(col_a + col_b))
        index = {name: i for i, name in enumerate(names)}
        try:
            a = np.fromiter(map(index.__getitem__, col_a), dtype=np.int64, count=m)
            b = np.fromiter(map(index.__getitem__, col_b), dtype=np.int64, count=m)
        except KeyError as exc:
            raise ValueError(f"unknown contender {exc.args[0]!r}") from None
        col_w = map(itemgetter(2), battles)
        try:
            o = np.fromiter(map(_OUTCOME_CODE.__getitem__, col_w), dtype=np.int64, count=m)
        except (KeyError, TypeError):
            for _, _, w in battles:
                outcome_code(w)  # raises ValueError naming the first bad outcome
            raise
        return cls.from_codes(names, a, b, o)


# ---------------------------------------------------------------------------------------------
# Bradley-Terry


def _bt_loss_and_grad(theta, a, b, score, weight, alpha, reg, centre=None):
    """Mean negative log-likelihood (weights sum to 1) and its gradient, plus ``reg/2·|theta - centre|²``."""
    d = alpha * (theta[a] - theta[b])
    # -[s log σ(d) + (1-s) log σ(-d)] = log(1 + e^d) - s·d, written stably
    loss = float(np.dot(weight, np.logaddexp(0.0, d) - score * d))
    g_row = alpha * weight * (expit(d) - score)
    n = len(theta)
    # bincount is much faster than FastChat's np.add.at
    grad = np.bincount(a, g_row, n) - np.bincount(b, g_row, n)
    if reg:
        off = theta if centre is None else theta - centre
        loss += 0.5 * reg * float(np.dot(off, off))
        grad += reg * off
    return loss, grad


def prior_reg(prior: float, scale: float = 400.0) -> float:
    """The ``reg`` of a Gaussian prior N(0, prior²) on the ratings (``prior`` in rating points).

    Ratings are ``scale * theta``, so the prior on theta has standard deviation ``prior/scale`` and
    adds ``theta²/2 * (scale/prior)²`` to the summed negative log-likelihood. 0 means no prior.
    """
    prior = float(prior)
    if not math.isfinite(prior) or prior < 0:
        raise ValueError(f"the prior scale must be 0 (no prior) or a positive number of rating points, not {prior!r}")
    return 0.0 if prior == 0 else (float(scale) / prior) ** 2


def _fit_theta(a, b, score, count, n, alpha, tol, reg, maxiter, x0=None, centre=None):
    """Natural-scale MLE (MAP with ``reg``: prior N(centre or 0, 1/reg)) over contenders 0..n-1."""
    total = float(count.sum())
    weight = count / total
    x0 = np.zeros(n) if x0 is None else np.asarray(x0, dtype=np.float64)
    result = minimize(
        _bt_loss_and_grad,
        x0,
        args=(a, b, score, weight, alpha, reg / total, centre),
        jac=True,
        method="L-BFGS-B",
        # the default ftol (2.2e-9 relative decrease) can stop before gtol is met
        options={"gtol": tol, "ftol": 1e-15, "maxiter": maxiter},
    )
    return result.x


@dataclass(frozen=True)
class _Design:
    """The rows of a PairCounts re-indexed onto the contenders that have battles."""

    active: np.ndarray  # original index of each fitted contender
    a: np.ndarray
    b: np.ndarray
    score: np.ndarray
    count: np.ndarray


def _design(counts: PairCounts) -> _Design:
    battles = battles_per_contender(counts)
    active = np.flatnonzero(battles > 0)
    remap = np.full(counts.n, -1, dtype=np.int64)
    remap[active] = np.arange(len(active))
    keep = counts.count > 0
    return _Design(
        active,
        remap[counts.a_idx[keep]],
        remap[counts.b_idx[keep]],
        _SCORE[counts.outcome[keep]],
        counts.count[keep].astype(np.float64),
    )


def _unordered_pairs(design: _Design) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each row's unordered pair: (row -> pair index, whether the row is seated the other way,
    lower and higher contender of each pair). The log-likelihood of a pair's battles depends only on
    their number and the summed score of its lower contender (a row seated (hi, lo) with score s
    counts as 1 - s for lo), so a fit over pairs has the optimum of the fit over rows at a fraction
    of the cost: one row per pair instead of one per seat and outcome."""
    lo, hi = np.minimum(design.a, design.b), np.maximum(design.a, design.b)
    keys, pair = np.unique(lo * max(len(design.active), 1) + hi, return_inverse=True)
    return pair, design.a > design.b, *np.divmod(keys, max(len(design.active), 1))


def _fit_pairs(pairs, design, weight, alpha, tol, reg, maxiter, x0=None, centre=None):
    """:func:`_fit_theta` over unordered pairs (see :func:`_unordered_pairs`); ``weight`` per row."""
    pair, flipped, lo, hi = pairs
    n_pair = np.bincount(pair, weight, len(lo))
    score_lo = np.bincount(pair, weight * np.where(flipped, 1.0 - design.score, design.score), len(lo))
    used = n_pair > 0
    return _newton(
        lo[used], hi[used], score_lo[used] / n_pair[used], n_pair[used], len(design.active), alpha, tol, reg,
        maxiter, x0=x0, centre=centre,
    )


def _newton(lo, hi, score, count, n, alpha, tol, reg, maxiter, x0=None, centre=None):
    """The MAP of :func:`_fit_theta` (``reg`` > 0, so the problem is strictly convex) by Newton's method
    with a backtracking line search, for unique pairs ``lo``/``hi``: with a prior the Hessian (n x n)
    is positive definite and a handful of steps reach ``tol`` where L-BFGS takes dozens of
    evaluations, each with scipy's per-call overhead: 100 bootstrap rounds of 50 contenders in a
    fraction of the time. Same stopping rule: the largest gradient component of the mean loss."""
    total = float(count.sum())
    weight, r = count / total, reg / total
    theta = np.zeros(n) if x0 is None else np.array(x0, dtype=np.float64)
    diag = np.arange(n)

    def loss_grad(t):
        return _bt_loss_and_grad(t, lo, hi, score, weight, alpha, r, centre)

    loss, grad = loss_grad(theta)
    for _ in range(maxiter):
        if np.abs(grad).max() <= tol:
            break
        d = alpha * (theta[lo] - theta[hi])
        p = expit(d)
        h_row = alpha * alpha * weight * p * (1.0 - p)
        hessian = np.zeros((n, n))
        hessian[lo, hi] = -h_row  # pairs are unique, so plain assignment
        hessian[hi, lo] = -h_row
        hessian[diag, diag] = np.bincount(lo, h_row, n) + np.bincount(hi, h_row, n) + r
        step = np.linalg.solve(hessian, grad)
        for _ in range(40):  # backtrack until the loss decreases (far from the optimum a full step can overshoot)
            trial = theta - step
            trial_loss, trial_grad = loss_grad(trial)
            if trial_loss <= loss:
                break
            step *= 0.5
        else:
            break  # no decrease: at the optimum within floating point
        theta, loss, grad = trial, trial_loss, trial_grad
    return theta


def _to_ratings(theta, design, counts, scale, init_rating, anchor):
    """Map natural-scale fits (..., n_active) to ratings (..., n), centred or anchored."""
    theta = np.atleast_2d(theta)
    out = np.full((theta.shape[0], counts.n), float(init_rating))
    if len(design.active):
        r = scale * (theta - theta.mean(axis=1, keepdims=True)) + init_rating
        if anchor is not None:
            where = np.flatnonzero(design.active == counts.index(anchor[0]))
            if len(where):  # an anchor without battles falls back to centring
                r += float(anchor[1]) - r[:, where]
        out[:, design.active] = r
    return out


def _check_anchor(counts: PairCounts, anchor):
    if anchor is not None:
        counts.index(anchor[0])  # raises on an unknown name (likely a typo)


def fit_bradley_terry(
    counts: PairCounts,
    scale: float = 400.0,
    base: float = 10.0,
    init_rating: float = 1000.0,
    anchor: tuple[str, float] | None = None,
    tol: float = 1e-6,
    reg: float = 0.0,
    maxiter: int = 1000,
    prior: float = 0.0,
) -> np.ndarray:
    """Bradley-Terry ratings (length ``counts.n``) by L-BFGS with the analytic gradient.

    Ratings are centred so that their mean over the contenders with battles is ``init_rating``;
    with ``anchor=(name, rating)`` they are shifted so that ``name`` has ``rating`` instead (as
    FastChat's baseline model), unless that contender has no battles. Contenders without battles
    get ``init_rating``. ``reg`` > 0 adds ``reg/2 * sum(theta^2)`` to the summed log-loss (a
    Gaussian prior, so a contender with a perfect record stays finite); 0 is FastChat's choice.
    ``prior`` > 0 sets that prior by its standard deviation in rating points instead
    (:func:`prior_reg`); it is added to ``reg``.
    Ratings of disconnected groups of contenders are only defined relative to their own group.
    """
    _check_anchor(counts, anchor)
    if prior:
        reg = reg + prior_reg(prior, scale)
    design = _design(counts)
    theta = np.zeros(0)
    if len(design.active) and reg:
        # with a prior, over unordered pairs (same optimum, fewer rows); without, FastChat's rows exactly
        theta = _fit_pairs(_unordered_pairs(design), design, design.count, math.log(base), tol, reg, maxiter)
    elif len(design.active):
        theta = _fit_theta(
            design.a,
            design.b,
            design.score,
            design.count,
            len(design.active),
            math.log(base),
            tol,
            reg,
            maxiter,
        )
    return _to_ratings(theta, design, counts, scale, init_rating, anchor)[0]


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Point ratings with percentile-bootstrap intervals, per contender (index = ``names``)."""

    names: tuple[str, ...]
    rating: np.ndarray  # point fit on all data
    lower: np.ndarray  # 2.5th percentile of the bootstrap ratings
    upper: np.ndarray  # 97.5th percentile
    samples: np.ndarray  # rounds x n bootstrap ratings
    battles: np.ndarray  # battles per contender; 0 means "not rated" (reported at init_rating)


def bootstrap_bradley_terry(
    counts: PairCounts,
    rounds: int = 100,
    seed: int = 0,
    scale: float = 400.0,
    base: float = 10.0,
    init_rating: float = 1000.0,
    anchor: tuple[str, float] | None = None,
    tol: float = 1e-6,
    reg: float = 0.0,
    maxiter: int = 1000,
    prior: float = 0.0,
) -> BootstrapResult:
    """Point fit plus ``rounds`` refits on multinomial resamples of the unique rows.

    Each round draws ``total`` battles over the unique rows with probabilities count/total
    (FastChat's scheme; a row may get 0). Fits are warm-started from the point fit. With an anchor
    every round is shifted so that the anchor has its rating (its interval is then a point). A
    contender that drew no battle in a round keeps its point value in that round (with a prior it
    goes to the prior's mean, the posterior of no data). ``rounds=0`` gives lower = upper = rating.

    ``prior`` > 0 (rating points, see :func:`prior_reg`) fits the point and every round with that
    prior; the rounds redraw the outcomes within each seated pair, keeping its number of battles
    (:func:`_resample_within_pairs`), and are aligned on the point fit by their battle-weighted
    mean (anchorless boards); in each round the prior's centre is itself drawn from N(0, prior²) (after the resamples,
    from the same generator), so that a contender with one or three battles, whose resamples barely
    differ, varies as its posterior does. ``prior=0`` is the bootstrap alone, as FastChat's.
    """
    _check_anchor(counts, anchor)
    if prior:
        reg = reg + prior_reg(prior, scale)
    design = _design(counts)
    n_act = len(design.active)
    alpha = math.log(base)
    battles = battles_per_contender(counts)
    theta = np.zeros(0)
    # with a prior, fits run over unordered pairs (same optima, a fraction of the cost: see _unordered_pairs)
    pairs = _unordered_pairs(design) if n_act and reg else None
    if pairs is not None:
        theta = _fit_pairs(pairs, design, design.count, alpha, tol, reg, maxiter)
    elif n_act:
        theta = _fit_theta(design.a, design.b, design.score, design.count, n_act, alpha, tol, reg, maxiter)
    rating = _to_ratings(theta, design, counts, scale, init_rating, anchor)[0]

    thetas = np.zeros((rounds, n_act))
    if n_act and rounds > 0:
        total = int(design.count.sum())
        rng = np.random.default_rng(seed)
        if prior:
            draws = _resample_within_pairs(rng, design, counts, rounds)
        else:
            draws = rng.multinomial(total, design.count / total, size=rounds)
        # randomised prior: each round's prior is centred on a draw from the prior itself
        centres = rng.normal(0.0, 1.0 / math.sqrt(reg), size=(rounds, n_act)) if prior and reg else None
        for r in range(rounds):
            w = draws[r].astype(np.float64)
            centre = None if centres is None else centres[r]
            if pairs is not None:
                thetas[r] = _fit_pairs(pairs, design, w, alpha, tol, reg, maxiter, x0=theta, centre=centre)
            else:
                thetas[r] = _fit_theta(
                    design.a, design.b, design.score, w, n_act, alpha, tol, reg, maxiter, x0=theta, centre=centre,
                )
    samples = _to_ratings(thetas, design, counts, scale, init_rating, anchor)[:rounds]
    if prior and n_act and rounds > 0 and anchor is None:
        # Align each round on the point fit by the battle-weighted mean rather than the plain mean,
        # so that the few-battle contenders' wide swings do not shift everyone's interval.
        wt = battles[design.active] / battles[design.active].sum()
        shift = (rating[design.active] - samples[:, design.active]) @ wt
        samples[:, design.active] += shift[:, None]
    if rounds > 0:
        lower, upper = np.percentile(samples, [2.5, 97.5], axis=0)
    else:
        lower, upper = rating.copy(), rating.copy()
    return BootstrapResult(counts.names, rating, lower, upper, samples, battles)


def _resample_within_pairs(rng, design, counts, rounds):
    """Bootstrap weights (rounds x rows) that keep each seated pair's number of battles and redraw
    its outcomes from their observed shares: who met whom is the sampler's choice, only the
    outcomes are random. So a contender keeps its battles in every round (a global multinomial
    would give a 3-battle contender none in 5 % of the rounds, and then only its prior)."""
    keep = counts.count > 0
    pair = design.a * len(design.active) + design.b
    _, group = np.unique(pair, return_inverse=True)
    outcome = counts.outcome[keep].astype(np.int64)
    table = np.zeros((int(group.max()) + 1, 4))
    np.add.at(table, (group, outcome), design.count)
    n_pair = table.sum(axis=1)
    draws = rng.multinomial(n_pair.astype(np.int64), table / n_pair[:, None], size=(rounds, len(n_pair)))
    return draws[:, group, outcome]


def ranks_from_intervals(lower: Sequence[float], upper: Sequence[float]) -> np.ndarray:
    """Rank = 1 + number of contenders whose lower bound is strictly above this one's upper bound."""
    lo = np.asarray(lower, dtype=np.float64)
    up = np.asarray(upper, dtype=np.float64)
    return 1 + (lo[None, :] > up[:, None]).sum(axis=1)


# ---------------------------------------------------------------------------------------------
# Online Elo


ELO_K, ELO_BASE, ELO_SCALE, ELO_INIT = 4.0, 10.0, 400.0, 1000.0  # FastChat's compute_elo


def elo_step(
    rating_a: float, rating_b: float, winner: object, k: float = ELO_K, base: float = ELO_BASE,
    scale: float = ELO_SCALE,
) -> float:
    """How much A's online Elo moves after one battle (B moves the opposite way): ``k`` times A's
    score (the winner as for :func:`outcome_code`; ties and both-bad score 0.5) less its expected score."""
    expected = 1.0 / (1.0 + math.exp(math.log(base) / scale * (rating_b - rating_a)))
    return float(k * (_SCORE[outcome_code(winner)] - expected))


def online_elo(
    battles: Iterable[tuple[str | int, str | int, object]],
    names: Sequence[str],
    k: float = ELO_K,
    base: float = ELO_BASE,
    scale: float = ELO_SCALE,
    init: float = ELO_INIT,
) -> dict[str, float]:
    """FastChat's ``compute_elo``: sequential Elo updates (:func:`elo_step`) in the given (time) order.

    Contenders are given by name or by index into ``names``; the winner as for
    :func:`outcome_code` (ties and both-bad score 0.5).
    """
    names = list(names)
    index = {name: i for i, name in enumerate(names)}
    ratings = [float(init)] * len(names)
    for a, b, winner in battles:
        ia = a if isinstance(a, (int, np.integer)) else index[a]
        ib = b if isinstance(b, (int, np.integer)) else index[b]
        update = elo_step(ratings[ia], ratings[ib], winner, k, base, scale)
        ratings[ia] += update
        ratings[ib] -= update
    return dict(zip(names, ratings, strict=True))


# ---------------------------------------------------------------------------------------------
# Descriptive tables


def _pair_table(counts: PairCounts, mask: np.ndarray, swap: bool = False) -> np.ndarray:
    """n x n table of the counts of the masked rows, indexed [a, b] (or [b, a] with ``swap``)."""
    n = counts.n
    a, b, c = counts.a_idx[mask], counts.b_idx[mask], counts.count[mask]
    if swap:
        a, b = b, a
    return np.bincount(a * n + b, weights=c, minlength=n * n).reshape(n, n)


def battle_count_matrix(counts: PairCounts) -> np.ndarray:
    """Symmetric n x n matrix of the number of battles (all outcomes) between each pair."""
    m = _pair_table(counts, np.ones(len(counts.count), dtype=bool))
    return (m + m.T).astype(np.int64)


def battles_per_contender(counts: PairCounts) -> np.ndarray:
    """Number of battles each contender took part in."""
    n = counts.n
    c = counts.count.astype(np.float64)
    return (np.bincount(counts.a_idx, c, n) + np.bincount(counts.b_idx, c, n)).astype(np.int64)


def win_rate_matrix(counts: PairCounts) -> np.ndarray:
    """``W[i, j]`` = share of the decisive battles between i and j that i won (either seat).

    Ties and both-bad votes are left out; NaN where a pair has no decisive battle (and on the
    diagonal).
    """
    # wins[i, j]: i beat j, from seat a (outcome "a") or from seat b (outcome "b")
    wins = _pair_table(counts, counts.outcome == A_WINS) + _pair_table(
        counts, counts.outcome == B_WINS, swap=True
    )
    decisive = wins + wins.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(decisive > 0, wins / decisive, np.nan)


def win_tie_loss(counts: PairCounts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wins, ties (including both-bad) and losses per contender."""
    n = counts.n
    c = counts.count.astype(np.float64)
    a, b, o = counts.a_idx, counts.b_idx, counts.outcome

    def per(idx, mask):
        return np.bincount(idx[mask], c[mask], n)

    a_win, b_win, drawn = o == A_WINS, o == B_WINS, (o == TIE) | (o == BOTHBAD)
    wins = per(a, a_win) + per(b, b_win)
    losses = per(a, b_win) + per(b, a_win)
    ties = per(a, drawn) + per(b, drawn)
    return wins.astype(np.int64), ties.astype(np.int64), losses.astype(np.int64)


def leaderboard(
    counts: PairCounts,
    rounds: int = 100,
    seed: int = 0,
    anchor: tuple[str, float] | None = None,
    provisional: int = 0,
    **fit_kwargs,
) -> list[dict]:
    """Leaderboard rows sorted by rating (best first), JSON-serialisable.

    Each row: name, rating, lower, upper, rank, battles, wins, ties (incl. both-bad), losses,
    provisional. Contenders with fewer than ``provisional`` battles are provisional: they come
    after every established contender, ranked among themselves from one more than the number of
    established contenders, so that none is ranked above a contender with real evidence.
    Contenders without battles come last with rating/lower/upper/rank ``None``; ranks are computed
    among the rated contenders only. ``fit_kwargs`` go to :func:`bootstrap_bradley_terry`.
    """
    boot = bootstrap_bradley_terry(counts, rounds=rounds, seed=seed, anchor=anchor, **fit_kwargs)
    return leaderboard_rows(counts, boot.rating, boot.lower, boot.upper, provisional=provisional)


def leaderboard_rows(
    counts: PairCounts,
    rating: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    provisional: int = 0,
) -> list[dict]:
    """The rows of :func:`leaderboard` from ratings and 95 % bounds per contender (index =
    ``counts.names``), however they were fitted: ranks from the intervals, provisional rows after
    the established ones, contenders without battles last with ``None``."""
    battles = battles_per_contender(counts)
    wins, ties, losses = win_tie_loss(counts)
    rated = battles > 0
    tentative = rated & (battles < provisional)
    established = rated & ~tentative
    ranks = np.zeros(counts.n, dtype=np.int64)
    ranks[established] = ranks_from_intervals(lower[established], upper[established])
    ranks[tentative] = int(established.sum()) + ranks_from_intervals(lower[tentative], upper[tentative])
    order = sorted(
        range(counts.n),
        key=lambda i: (not rated[i], bool(tentative[i]), -rating[i] if rated[i] else 0.0, counts.names[i]),
    )
    rows = []
    for i in order:
        ok = bool(rated[i])
        rows.append(
            {
                "name": counts.names[i],
                "rating": json_float(rating[i]) if ok else None,
                "lower": json_float(lower[i]) if ok else None,
                "upper": json_float(upper[i]) if ok else None,
                "rank": int(ranks[i]) if ok else None,
                "battles": int(battles[i]),
                "wins": int(wins[i]),
                "ties": int(ties[i]),
                "losses": int(losses[i]),
                "provisional": bool(tentative[i]),
            }
        )
    return rows
