"""Numeric kernels of representation diagnostics for sentence embeddings.

Plain Python/numpy/scipy, no Django. Every function takes ``(n, d)`` arrays (anything
``np.asarray`` accepts) and computes in float64, whatever the input dtype, so that a float32 or
bfloat16-derived embedding matrix gives the same figures as its float64 copy up to rounding.

What is measured (see ARCHITECTURE.md, "Anchors"):

- :func:`alignment` and :func:`uniformity`: Wang & Isola 2020, on L2-normalised embeddings.
- :func:`isotropy`: Su & Collier 2022, mean pairwise cosine of last-layer token states.
- :func:`rankme`: Garrido et al. 2023, entropy of the normalised singular values.
- :func:`covariance_spectrum` / :func:`log_spectrum`: Jing et al. 2022, eigenvalues of the
  covariance of the L2-normalised embeddings (dimensional collapse).
- :func:`isoscore`: Rudman et al. 2022.
- :func:`hubness`: k-occurrence skewness (Radovanović et al. 2010) under cosine similarity.
- :func:`sts_spearman`: MTEB's STS main score, Spearman of cosine similarity x 100.

Pairwise quantities (uniformity, hubness) are computed over row blocks of the Gram matrix so that
memory stays at a few tens of MB for n up to ~20k; the work is still O(n^2 d).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

from analysis.jsonsafe import json_float

Progress = Callable[[float, str], None]

# Elements of one Gram-matrix block (float64): 2**22 * 8 B = 32 MB, with a few temporaries of the
# same size alongside. Small enough for a shared 2-core box, large enough that BLAS stays efficient.
_BLOCK_ELEMENTS = 1 << 22
_TINY = 1e-12  # norms below this are treated as zero vectors


def _matrix(x: np.ndarray, name: str = "x", min_rows: int = 1) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n, d) array, got shape {a.shape}")
    if a.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {a.shape[0]}")
    if a.shape[1] < 1:
        raise ValueError(f"{name} has no columns")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _block_rows(n: int) -> int:
    return max(1, min(n, _BLOCK_ELEMENTS // max(n, 1)))


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit Euclidean norm (float64). All-zero rows stay zero rather than
    becoming NaN, so one empty embedding does not poison a whole metric."""
    a = _matrix(x)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.maximum(norms, _TINY)


def alignment(x: np.ndarray, y: np.ndarray, alpha: float = 2) -> float:
    """Alignment (Wang & Isola 2020): mean ``||f(x_i) - f(y_i)||^alpha`` over positive pairs.

    Row ``i`` of ``x`` and row ``i`` of ``y`` form a positive pair; both are L2-normalised first.
    Lower is better; 0 when every pair is identical, at most ``2^alpha``.
    """
    a, b = l2_normalise(x), l2_normalise(y)
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same shape, got {a.shape} and {b.shape}")
    dist = np.linalg.norm(a - b, axis=1)
    return float(np.mean(dist**alpha))


def uniformity(
    x: np.ndarray,
    t: float = 2,
    max_pairs: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> float:
    """Uniformity (Wang & Isola 2020): ``log mean_{i<j} exp(-t ||f(x_i) - f(x_j)||^2)``.

    Embeddings are L2-normalised first. Lower (more negative) is more uniform; the bound for
    unit vectors is ``-4t`` (all pairs antipodal, only possible for n = 2) and 0 when all points
    coincide.

    Exact by default: every pair ``i < j``, over row blocks of the Gram matrix (O(n^2 d) time,
    bounded memory; about 2 s for 10,000 x 384 on 2 cores). With ``max_pairs`` set and
    ``n(n-1)/2 > max_pairs``, it is estimated instead from all pairs among ``m`` rows drawn at
    random without replacement (seeded by ``seed``), ``m`` the largest with
    ``m(m-1)/2 <= max_pairs``: an unbiased estimate of the mean inside the log.
    ``progress(fraction, message)`` is called after each block.
    """
    xn = l2_normalise(x)
    n = xn.shape[0]
    if n < 2:
        raise ValueError("uniformity needs at least 2 rows")
    total_pairs = n * (n - 1) // 2
    if max_pairs is not None and total_pairs > max_pairs:
        if max_pairs < 1:
            raise ValueError("max_pairs must be >= 1")
        # Sample rows, not pairs: all pairs among m random rows (without replacement) are an
        # unbiased estimate of the mean over all pairs, and the Gram-block path computes them with
        # BLAS; gathering millions of random row pairs is slower than the exact pass up to n ~ 10k.
        subset = np.random.default_rng(seed).choice(n, size=_sample_rows(max_pairs), replace=False)
        return uniformity(xn[np.sort(subset)], t=t, progress=progress)

    sq = np.einsum("ij,ij->i", xn, xn)  # 1, or 0 for a zero row
    # Running log-sum-exp over blocks: exp(-t d^2) underflows for large t if summed directly.
    log_max, scaled_sum = -np.inf, 0.0
    rows = _block_rows(n)
    for start in range(0, n - 1, rows):
        stop = min(start + rows, n)
        # Only columns j >= start are needed for i < j; the first (stop - start) columns form
        # the diagonal sub-block, of which only the strict upper triangle counts.
        gram = xn[start:stop] @ xn[start:].T
        d2 = sq[start:stop, None] + sq[None, start:] - 2.0 * gram
        np.maximum(d2, 0.0, out=d2)
        b = stop - start
        keep = np.ones(d2.shape, dtype=bool)
        keep[:, :b] = np.triu(np.ones((b, b), dtype=bool), k=1)
        log_max, scaled_sum = _logsumexp_update(log_max, scaled_sum, -t * d2[keep])
        if progress is not None:
            done = total_pairs - (n - stop) * (n - stop - 1) // 2
            progress(done / total_pairs, "uniformity")
    return float(log_max + math.log(scaled_sum) - math.log(total_pairs))


def _sample_rows(max_pairs: int) -> int:
    """The largest m >= 2 with m(m-1)/2 <= max_pairs."""
    m = int((1 + math.sqrt(1 + 8 * max_pairs)) // 2)
    while m * (m - 1) // 2 > max_pairs:  # guard against float rounding of the square root
        m -= 1
    return max(m, 2)


def _logsumexp_update(log_max: float, scaled_sum: float, values: np.ndarray) -> tuple[float, float]:
    """Fold ``values`` into a running ``log(sum exp)`` kept as ``(m, s)`` with total ``m + log s``.
    Start from ``(-inf, 0.0)``."""
    if values.size == 0:
        return log_max, scaled_sum
    new_max = max(log_max, float(values.max()))
    # Rescale what was summed so far to the new maximum (exp(-inf) = 0 on the first block).
    scaled_sum = scaled_sum * math.exp(log_max - new_max) + float(np.exp(values - new_max).sum())
    return new_max, scaled_sum


def isotropy(token_states: Sequence[np.ndarray]) -> float:
    """Isotropy of token representations (Su & Collier 2022, "contrastive search" paper):
    ``1 - sum_seq sum_{i != j} cos(h_i, h_j) / sum_seq L (L - 1)``.

    ``token_states`` holds one ``(L, d)`` matrix of last-layer token states per sequence (padding
    already removed). Cosines are only taken *within* a sequence; the sums are pooled over
    sequences (a long sequence weighs more, as in the anchor formula), not averaged per sequence.
    Sequences with ``L < 2`` have no pairs and are skipped; if none is left a ``ValueError`` is
    raised. 1 means mutually orthogonal token states on average, 0 means all states of a sequence
    point the same way (the anisotropy Su & Collier observe in some models). A zero state vector
    has cosine 0 with every other state.
    """
    cos_sum = 0.0
    pair_count = 0
    for k, states in enumerate(token_states):
        h = _matrix(states, name=f"token_states[{k}]", min_rows=0)
        length = h.shape[0]
        if length < 2:
            continue
        hn = l2_normalise(h)
        # sum_{i != j} cos = ||sum_i h_i||^2 - sum_i ||h_i||^2 for unit rows: O(L d) instead of O(L^2 d).
        s = hn.sum(axis=0)
        cos_sum += float(s @ s) - float(np.einsum("ij,ij->", hn, hn))
        pair_count += length * (length - 1)
    if pair_count == 0:
        raise ValueError("isotropy needs at least one sequence with 2 or more token states")
    return 1.0 - cos_sum / pair_count


def rankme(x: np.ndarray, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023): ``exp(-sum_k p_k log p_k)`` with ``p = sigma / ||sigma||_1 + eps``.

    ``sigma`` are the singular values of the ``(n, d)`` embedding matrix *as given*: not centred
    and not re-normalised, as in the paper (Definition of RankMe on the embedding matrix Z; the
    reference code is ``svdvals(Z)``). With unit-norm but non-centred embeddings a shared mean
    direction therefore counts as one large singular value and lowers the score. Ranges from about
    1 (rank-1 data) to ``min(n, d)`` (all singular values equal).
    """
    a = _matrix(x)
    sigma = np.linalg.svd(a, compute_uv=False)
    total = sigma.sum()
    if total <= 0:
        raise ValueError("rankme of an all-zero matrix is undefined")
    p = sigma / total + eps
    return float(math.exp(-np.sum(p * np.log(p))))


def covariance_spectrum(x: np.ndarray) -> np.ndarray:
    """Eigenvalues (= singular values, the matrix being symmetric PSD) of the covariance matrix of
    the L2-normalised embeddings, sorted descending, length d (Jing et al. 2022).

    The covariance is ``1/n sum_i (z_i - mean)(z_i - mean)^T`` as in Jing et al. (population
    normalisation, not numpy's default 1/(n-1)). Round-off negatives are clipped to 0. When
    ``n <= d`` at least ``d - n + 1`` eigenvalues are 0.
    """
    z = l2_normalise(x)
    n = z.shape[0]
    z = z - z.mean(axis=0)
    cov = (z.T @ z) / n
    eig = np.linalg.eigvalsh(cov)[::-1]
    return np.clip(eig, 0.0, None)


def log_spectrum(spectrum: np.ndarray, floor: float = 1e-12) -> np.ndarray:
    """Natural log of a :func:`covariance_spectrum`, with eigenvalues below ``floor`` raised to
    ``floor`` so that collapsed dimensions show as ``log(floor)`` instead of ``-inf``."""
    if floor <= 0:
        raise ValueError("floor must be > 0")
    return np.log(np.maximum(spectrum, floor))


def isoscore(x: np.ndarray) -> float:
    """IsoScore (Rudman et al. 2022): how uniformly the variance is spread over all d dimensions.

    The published algorithm: (1) centre and rotate the points to their principal components;
    (2) take the variance vector of the reoriented data (diagonal of its covariance); (3) scale it
    to the norm of the all-ones vector, ``sqrt(d)``; (4) ``delta = ||var - 1|| / sqrt(2 (d - sqrt d))``;
    (5) ``phi = (d - delta^2 (d - sqrt d))^2 / d^2``; (6) ``IsoScore = (d phi - 1) / (d - 1)``.

    Steps (1)-(2) are done exactly by taking the eigenvalues of the d x d covariance matrix (the
    variances along the principal axes), which also works when ``n < d`` (the missing directions
    have variance 0) where sklearn's PCA would refuse. Raw embeddings, not L2-normalised, as in the
    paper. 1 = isotropic, 0 = all variance in one direction. The 1/(n-1) vs 1/n choice cancels in
    step (3).
    """
    a = _matrix(x, min_rows=2)
    d = a.shape[1]
    if d < 2:
        raise ValueError("isoscore needs d >= 2")
    centred = a - a.mean(axis=0)
    variances = np.clip(np.linalg.eigvalsh(centred.T @ centred / (a.shape[0] - 1)), 0.0, None)
    norm = np.linalg.norm(variances)
    if norm <= 0:
        raise ValueError("isoscore of points that all coincide is undefined")
    sqrt_d = math.sqrt(d)
    normalised = variances * (sqrt_d / norm)
    delta = np.linalg.norm(normalised - 1.0) / math.sqrt(2.0 * (d - sqrt_d))
    phi = (d - delta**2 * (d - sqrt_d)) ** 2 / d**2
    return float((d * phi - 1.0) / (d - 1.0))


def k_occurrence(x: np.ndarray, k: int = 10, progress: Progress | None = None) -> np.ndarray:
    """``N_k[i]``: how many other points have point ``i`` among their ``k`` nearest neighbours by
    cosine similarity (a point is never its own neighbour). Sums to ``n k``.

    Computed over row blocks of the cosine-similarity matrix (memory bounded, O(n^2 d) time).
    Exact ties at the k-th neighbour are broken arbitrarily (by ``np.argpartition``).
    """
    xn = l2_normalise(x)
    n = xn.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and n - 1 = {n - 1}, got {k}")
    counts = np.zeros(n, dtype=np.int64)
    rows = _block_rows(n)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        sim = xn[start:stop] @ xn.T
        sim[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # exclude itself
        neighbours = np.argpartition(sim, -k, axis=1)[:, -k:]  # the k largest, no negated copy
        counts += np.bincount(neighbours.ravel(), minlength=n)
        if progress is not None:
            progress(stop / n, "hubness")
    return counts


def hubness(x: np.ndarray, k: int = 10, progress: Progress | None = None) -> dict:
    """Hubness of the cosine k-NN graph: statistics of the k-occurrence ``N_k`` (see
    :func:`k_occurrence`).

    Returns ``{"k", "skewness", "max_k_occurrence", "antihub_share"}``: the skewness of ``N_k``
    (``scipy.stats.skew``, default biased estimator; large positive = a few hubs appear in many
    neighbour lists; NaN when every point has the same N_k), its maximum, and the share of points
    that are nobody's neighbour (``N_k = 0``, "anti-hubs").
    """
    counts = k_occurrence(x, k=k, progress=progress)
    with np.errstate(all="ignore"):
        # A constant N_k has zero variance: skew is NaN (scipy warns); keep NaN, documented.
        skewness = float(stats.skew(counts.astype(np.float64))) if counts.std() > 0 else float("nan")
    return {
        "k": int(k),
        "skewness": skewness,
        "max_k_occurrence": int(counts.max()),
        "antihub_share": float(np.mean(counts == 0)),
    }


def sts_spearman(emb1: np.ndarray, emb2: np.ndarray, gold: np.ndarray | Sequence[float]) -> float:
    """MTEB's STS main score: Spearman rank correlation x 100 between the cosine similarity of
    row ``i`` of ``emb1`` and ``emb2`` and the gold score of pair ``i``."""
    a, b = l2_normalise(emb1), l2_normalise(emb2)
    if a.shape != b.shape:
        raise ValueError(f"emb1 and emb2 must have the same shape, got {a.shape} and {b.shape}")
    g = np.asarray(gold, dtype=np.float64)
    if g.shape != (a.shape[0],):
        raise ValueError(f"gold must have one score per pair ({a.shape[0]}), got shape {g.shape}")
    if a.shape[0] < 2:
        raise ValueError("sts_spearman needs at least 2 pairs")
    cos = np.einsum("ij,ij->i", a, b)
    return float(stats.spearmanr(cos, g).statistic * 100.0)


def embedding_metrics(
    x: np.ndarray,
    positives: tuple[np.ndarray, np.ndarray] | None = None,
    hubness_k: int = 10,
    uniformity_max_pairs: int | None = 50_000_000,
    progress: Progress | None = None,
) -> dict:
    """The embedding-only diagnostics of ``x`` in one JSON-serialisable dict (floats, ints, lists;
    non-finite values become ``None``).

    Keys: ``n``, ``d``, ``uniformity`` (t=2; exact when ``n(n-1)/2 <= uniformity_max_pairs``,
    i.e. n <= 10,000 by default, else estimated from the pairs of a random subset of rows, see
    :func:`uniformity`; ``uniformity_exact`` and ``uniformity_pairs`` say which), ``rankme``,
    ``isoscore``, ``hubness_k``, ``hubness_skewness``, ``hubness_max_k_occurrence``,
    ``hubness_antihub_share``, ``spectrum`` (covariance eigenvalues of the normalised embeddings,
    descending), ``log_spectrum`` (natural log, floored at 1e-12); plus ``alignment`` (alpha=2)
    and ``alignment_pairs`` when ``positives = (x1, x2)`` are given (rows are positive pairs; they
    need not be rows of ``x``). ``hubness_*`` are None when ``n <= hubness_k``.
    """
    a = _matrix(x, min_rows=2)
    n, d = a.shape
    report = progress or (lambda fraction, message: None)
    total_pairs = n * (n - 1) // 2
    exact = uniformity_max_pairs is None or total_pairs <= uniformity_max_pairs

    def stage(lo: float, hi: float) -> Progress:
        return lambda fraction, message: report(lo + (hi - lo) * fraction, message)

    result: dict = {"n": int(n), "d": int(d)}
    result["uniformity"] = json_float(uniformity(a, t=2, max_pairs=uniformity_max_pairs, progress=stage(0.0, 0.45)))
    result["uniformity_exact"] = bool(exact)
    sampled_rows = n if exact else _sample_rows(uniformity_max_pairs)
    result["uniformity_pairs"] = int(sampled_rows * (sampled_rows - 1) // 2)
    result["rankme"] = json_float(rankme(a))
    result["isoscore"] = json_float(isoscore(a))
    report(0.5, "spectrum")
    spectrum = covariance_spectrum(a)
    result["spectrum"] = [float(v) for v in spectrum]
    result["log_spectrum"] = [float(v) for v in log_spectrum(spectrum)]
    result["hubness_k"] = int(hubness_k)
    if n > hubness_k:
        hub = hubness(a, k=hubness_k, progress=stage(0.5, 0.95))
        result["hubness_skewness"] = json_float(hub["skewness"])
        result["hubness_max_k_occurrence"] = hub["max_k_occurrence"]
        result["hubness_antihub_share"] = hub["antihub_share"]
    else:
        result["hubness_skewness"] = None
        result["hubness_max_k_occurrence"] = None
        result["hubness_antihub_share"] = None
    if positives is not None:
        x1, x2 = positives
        result["alignment"] = json_float(alignment(x1, x2))
        result["alignment_pairs"] = int(np.asarray(x1).shape[0])
    report(1.0, "done")
    return result
