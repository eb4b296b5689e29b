"""Representation diagnostics: each metric against a direct reference computation, cases with a
known answer, and (marked ``models``) the real all-MiniLM-L6-v2 on the STS Benchmark test set."""

import json
import math
import time

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from analysis.diagnostics import metrics as diag
from analysis.diagnostics.sts import positive_pairs, read_sts


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture
def small_blocks(monkeypatch):
    """Force many small Gram-matrix blocks so that the block bookkeeping is exercised."""
    monkeypatch.setattr(diag, "_BLOCK_ELEMENTS", 7 * 50)


# --- l2_normalise, alignment ---------------------------------------------------------------


def test_l2_normalise_unit_rows_and_zero_rows_stay_zero():
    x = _rng().normal(size=(20, 5)) * 7.0
    x[3] = 0.0
    xn = diag.l2_normalise(x)
    norms = np.linalg.norm(xn, axis=1)
    assert np.allclose(np.delete(norms, 3), 1.0)
    assert np.all(xn[3] == 0.0)
    assert np.allclose(xn[0], x[0] / np.linalg.norm(x[0]))
    assert xn.dtype == np.float64


def test_alignment_matches_loop():
    rng = _rng(1)
    x, y = rng.normal(size=(40, 8)), rng.normal(size=(40, 8))
    for alpha in (2, 1, 0.5):
        ref = np.mean([np.linalg.norm(_unit(x[i]) - _unit(y[i])) ** alpha for i in range(40)])
        assert diag.alignment(x, y, alpha=alpha) == pytest.approx(ref, rel=1e-12)


def test_alignment_known_values():
    x = _rng(2).normal(size=(30, 16))
    assert diag.alignment(x, x) == pytest.approx(0.0, abs=1e-15)
    assert diag.alignment(x, 3.0 * x) == pytest.approx(0.0, abs=1e-15)  # scale does not matter
    assert diag.alignment(x, -x) == pytest.approx(4.0)  # antipodal: ||2u||^2
    with pytest.raises(ValueError, match="same shape"):
        diag.alignment(x, x[:-1])


# --- uniformity ---------------------------------------------------------------------------


def _uniformity_loop(x: np.ndarray, t: float) -> float:
    n = len(x)
    values = [math.exp(-t * float(np.sum((_unit(x[i]) - _unit(x[j])) ** 2))) for i in range(n) for j in range(i + 1, n)]
    return math.log(sum(values) / len(values))


def test_uniformity_matches_double_loop():
    x = _rng(3).normal(size=(50, 6))
    for t in (2, 0.5, 5):
        assert diag.uniformity(x, t=t) == pytest.approx(_uniformity_loop(x, t), rel=1e-12)


def test_uniformity_blocks_match_double_loop(small_blocks):
    x = _rng(4).normal(size=(50, 6))
    seen = []
    value = diag.uniformity(x, progress=lambda fraction, message: seen.append(fraction))
    assert value == pytest.approx(_uniformity_loop(x, 2), rel=1e-12)
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


def test_uniformity_large_t_does_not_underflow():
    x = _rng(5).normal(size=(30, 4))
    # exp(-200 d^2) underflows to 0 for most pairs; the running log-sum-exp keeps the exact answer.
    xn = diag.l2_normalise(x)
    d2 = np.array([np.sum((xn[i] - xn[j]) ** 2) for i in range(30) for j in range(i + 1, 30)])
    ref = float(logsumexp(-200 * d2) - math.log(len(d2)))
    assert diag.uniformity(x, t=200) == pytest.approx(ref, rel=1e-10)
    assert math.isfinite(diag.uniformity(x, t=2000))


def test_uniformity_known_values():
    v = _rng(6).normal(size=(1, 8))
    assert diag.uniformity(np.repeat(v, 10, axis=0)) == pytest.approx(0.0, abs=1e-12)  # all coincide
    assert diag.uniformity(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(-8.0)  # antipodal pair
    # Spread-out points are more uniform (lower) than a tight cluster.
    spread = _rng(7).normal(size=(200, 8))
    cluster = np.ones((200, 8)) + 0.05 * _rng(8).normal(size=(200, 8))
    assert diag.uniformity(spread) < diag.uniformity(cluster) - 1.0


def test_uniformity_sampled_pairs_estimate():
    x = _rng(9).normal(size=(400, 5))
    exact = diag.uniformity(x)
    sampled = diag.uniformity(x, max_pairs=50_000, seed=1)  # 79,800 pairs > 50,000: 316 random rows
    assert sampled != exact
    assert sampled == pytest.approx(exact, abs=0.03)
    assert diag.uniformity(x, max_pairs=50_000, seed=1) == sampled  # seeded
    assert diag.uniformity(x, max_pairs=50_000, seed=2) != sampled
    assert diag.uniformity(x, max_pairs=79_800) == exact  # enough pairs: exact


def test_sample_rows_is_largest_fitting():
    for max_pairs in (1, 2, 3, 10, 50_000, 10**8, 12_497_500):
        m = diag._sample_rows(max_pairs)
        assert m * (m - 1) // 2 <= max_pairs < (m + 1) * m // 2


# --- isotropy -------------------------------------------------------------------------------


def test_isotropy_matches_loops():
    rng = _rng(10)
    seqs = [rng.normal(size=(length, 12)) + 0.5 for length in (5, 1, 9, 2)]
    num, den = 0.0, 0
    for h in seqs:
        length = len(h)
        for i in range(length):
            for j in range(length):
                if i != j:
                    num += _cos(h[i], h[j])
        den += length * (length - 1)
    assert diag.isotropy(seqs) == pytest.approx(1.0 - num / den, rel=1e-12)


def test_isotropy_pools_pairs_over_sequences():
    # One sequence of identical states (all cos 1: 12 ordered pairs) and one of two opposite states
    # (cos -1: 2 ordered pairs): pooled 1 - (12 - 2) / 14, not the mean of per-sequence values.
    v = np.array([[1.0, 2.0, 3.0]])
    seqs = [np.repeat(v, 4, axis=0), np.vstack([v, -v])]
    assert diag.isotropy(seqs) == pytest.approx(1.0 - 10.0 / 14.0)


def test_isotropy_known_values():
    v = _rng(11).normal(size=(1, 32))
    assert diag.isotropy([np.repeat(v, 7, axis=0)]) == pytest.approx(0.0, abs=1e-12)
    rng = _rng(12)
    random_states = [rng.normal(size=(20, 2048)) for _ in range(5)]
    assert diag.isotropy(random_states) == pytest.approx(1.0, abs=0.01)


def test_isotropy_without_pairs_raises():
    with pytest.raises(ValueError, match="at least one sequence"):
        diag.isotropy([np.ones((1, 4)), np.ones((0, 4))])
    with pytest.raises(ValueError):
        diag.isotropy([])


# --- RankMe ---------------------------------------------------------------------------------


def test_rankme_matches_reference():
    x = _rng(13).normal(size=(60, 10)) + 2.0  # not centred: the mean direction counts
    sigma = np.sqrt(np.clip(np.linalg.eigvalsh(x.T @ x), 0, None))
    p = sigma / sigma.sum() + 1e-7
    assert diag.rankme(x) == pytest.approx(math.exp(-np.sum(p * np.log(p))), rel=1e-9)
    centred = x - x.mean(axis=0)
    assert diag.rankme(x) < diag.rankme(centred)  # no centring inside


def test_rankme_known_values():
    d = 64
    gaussian = _rng(14).normal(size=(20 * d, d))
    assert 0.9 * d < diag.rankme(gaussian) <= d
    rank1 = np.outer(_rng(15).normal(size=500), _rng(16).normal(size=d))
    assert diag.rankme(rank1) == pytest.approx(1.0, abs=0.01)
    rank5 = _rng(17).normal(size=(500, 5)) @ _rng(18).normal(size=(5, d))
    assert 3.0 < diag.rankme(rank5) < 5.01


# --- covariance spectrum ----------------------------------------------------------------------


def test_covariance_spectrum_matches_eigvalsh_of_np_cov():
    x = _rng(19).normal(size=(80, 12)) * np.arange(1, 13)
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    ref = np.sort(np.linalg.eigvalsh(np.cov(z, rowvar=False, bias=True)))[::-1]
    spectrum = diag.covariance_spectrum(x)
    assert spectrum.shape == (12,)
    assert np.allclose(spectrum, ref, rtol=1e-10, atol=1e-14)
    assert np.all(np.diff(spectrum) <= 0)
    assert np.allclose(diag.log_spectrum(diag.covariance_spectrum(x)), np.log(ref))


def test_covariance_spectrum_collapsed_dimensions():
    # 3-dimensional data embedded in 10 dimensions: 7 (near-)zero eigenvalues, floored in the log.
    x = _rng(20).normal(size=(100, 3)) @ _rng(21).normal(size=(3, 10))
    spectrum = diag.covariance_spectrum(x)
    assert np.all(spectrum >= 0)
    assert np.all(spectrum[:2] > 1e-3) and np.all(spectrum[3:] < 1e-12)
    logs = diag.log_spectrum(diag.covariance_spectrum(x), floor=1e-20)
    assert np.all(np.isfinite(logs)) and logs.min() >= math.log(1e-20)


# --- IsoScore --------------------------------------------------------------------------------


def _isoscore_reference(x: np.ndarray) -> float:
    # The published steps literally: PCA-rotate the points, variance of each new coordinate, ...
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    rotated = centred @ vt.T
    var = np.var(rotated, axis=0, ddof=1)
    d = x.shape[1]
    var = var / np.linalg.norm(var) * math.sqrt(d)
    delta = np.linalg.norm(var - np.ones(d)) / math.sqrt(2 * (d - math.sqrt(d)))
    phi = (d - delta**2 * (d - math.sqrt(d))) ** 2 / d**2
    return (d * phi - 1) / (d - 1)


def test_isoscore_matches_reference():
    x = _rng(22).normal(size=(300, 9)) * np.linspace(0.2, 3.0, 9) + 5.0
    assert diag.isoscore(x) == pytest.approx(_isoscore_reference(x), rel=1e-10)


def test_isoscore_known_values():
    d = 50
    gaussian = _rng(23).normal(size=(50 * d, d))
    assert diag.isoscore(gaussian) > 0.9
    # A rotated isotropic Gaussian is still isotropic (PCA reorientation).
    q, _ = np.linalg.qr(_rng(24).normal(size=(d, d)))
    assert diag.isoscore(gaussian @ q) == pytest.approx(diag.isoscore(gaussian), rel=1e-9)
    line = np.outer(_rng(25).normal(size=400), _rng(26).normal(size=d)) + 3.0
    assert diag.isoscore(line) == pytest.approx(0.0, abs=1e-6)
    # Half the dimensions used: strictly between.
    half = np.hstack([_rng(27).normal(size=(2000, d // 2)), np.zeros((2000, d - d // 2))])
    assert 0.2 < diag.isoscore(half) < 0.8


def test_isoscore_fewer_points_than_dimensions():
    x = _rng(28).normal(size=(10, 40))  # sklearn PCA would refuse; 31 directions have variance 0
    assert 0.0 <= diag.isoscore(x) < 0.5


# --- hubness -------------------------------------------------------------------------------


def _k_occurrence_loop(x: np.ndarray, k: int) -> np.ndarray:
    n = len(x)
    counts = np.zeros(n, dtype=int)
    for i in range(n):
        sims = [(_cos(x[i], x[j]), j) for j in range(n) if j != i]
        for _, j in sorted(sims, reverse=True)[:k]:
            counts[j] += 1
    return counts


def test_k_occurrence_matches_brute_force():
    x = _rng(29).normal(size=(60, 7))
    for k in (1, 5, 10):
        counts = diag.k_occurrence(x, k=k)
        assert np.array_equal(counts, _k_occurrence_loop(x, k))
        assert counts.sum() == 60 * k


def test_k_occurrence_blocks_match_brute_force(small_blocks):
    x = _rng(30).normal(size=(60, 7))
    assert np.array_equal(diag.k_occurrence(x, k=5), _k_occurrence_loop(x, 5))


def test_hubness_statistics():
    x = _rng(3).normal(size=(120, 50))
    counts = _k_occurrence_loop(x, 5)
    result = diag.hubness(x, k=5)
    assert result["k"] == 5
    assert result["skewness"] > 0.3  # some hubness already at d = 50
    assert result["skewness"] == pytest.approx(float(stats.skew(counts)), rel=1e-12)
    assert result["max_k_occurrence"] == counts.max()
    assert result["antihub_share"] == pytest.approx(np.mean(counts == 0))
    json.dumps(result, allow_nan=False)


def test_hubness_has_a_hub():
    # 40 orthonormal points (mutual cosine 0) and their normalised sum (cosine 1/sqrt(40) with each):
    # the sum is every point's nearest neighbour (N_1 = 40); its own neighbour is one of them.
    x = np.vstack([np.eye(40), np.ones((1, 40))])
    counts = diag.k_occurrence(x, k=1)
    assert counts[40] == 40 and counts.sum() == 41
    result = diag.hubness(x, k=1)
    assert result["max_k_occurrence"] == 40
    assert result["antihub_share"] == pytest.approx(39 / 41)
    assert result["skewness"] > 3.0


def test_hubness_rejects_bad_k():
    with pytest.raises(ValueError, match="k must be"):
        diag.hubness(np.eye(5), k=5)


# --- STS Spearman -----------------------------------------------------------------------------


def test_sts_spearman_perfect_and_reversed():
    gold = np.array([0.0, 1.2, 2.5, 2.5, 3.8, 5.0, 4.4, 0.6])
    theta = (5.0 - gold) / 5.0 * (math.pi / 2)  # cosine decreasing in angle: monotone in gold
    emb1 = np.tile([1.0, 0.0], (len(gold), 1))
    emb2 = np.stack([np.cos(theta), np.sin(theta)], axis=1) * 3.0
    assert diag.sts_spearman(emb1, emb2, gold) == pytest.approx(100.0)
    assert diag.sts_spearman(emb1, emb2, 5.0 - gold) == pytest.approx(-100.0)


def test_sts_spearman_matches_scipy():
    rng = _rng(32)
    e1, e2, gold = rng.normal(size=(100, 8)), rng.normal(size=(100, 8)), rng.uniform(0, 5, 100)
    cos = [_cos(e1[i], e2[i]) for i in range(100)]
    assert diag.sts_spearman(e1, e2, gold) == pytest.approx(100 * stats.spearmanr(cos, gold)[0], rel=1e-12)
    with pytest.raises(ValueError, match="one score per pair"):
        diag.sts_spearman(e1, e2, gold[:-1])


# --- embedding_metrics, input checks ----------------------------------------------------------


def test_embedding_metrics_is_json_and_consistent():
    rng = _rng(33)
    x = rng.normal(size=(120, 16))
    p1, p2 = rng.normal(size=(30, 16)), rng.normal(size=(30, 16))
    seen = []
    m = diag.embedding_metrics(x, positives=(p1, p2), progress=lambda f, msg: seen.append(f))
    json.loads(json.dumps(m, allow_nan=False))
    assert m["n"] == 120 and m["d"] == 16
    assert m["uniformity"] == pytest.approx(diag.uniformity(x))
    assert m["uniformity_exact"] is True and m["uniformity_pairs"] == 120 * 119 // 2
    assert m["rankme"] == pytest.approx(diag.rankme(x))
    assert m["isoscore"] == pytest.approx(diag.isoscore(x))
    assert m["hubness_skewness"] == pytest.approx(diag.hubness(x, k=10)["skewness"])
    assert m["spectrum"] == pytest.approx(list(diag.covariance_spectrum(x)))
    assert m["log_spectrum"] == pytest.approx(list(diag.log_spectrum(diag.covariance_spectrum(x))))
    assert m["alignment"] == pytest.approx(diag.alignment(p1, p2)) and m["alignment_pairs"] == 30
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert "alignment" not in diag.embedding_metrics(x)


def test_embedding_metrics_small_and_sampled():
    x = _rng(34).normal(size=(8, 4))
    m = diag.embedding_metrics(x, uniformity_max_pairs=10)
    assert m["hubness_skewness"] is None  # n <= k
    assert m["uniformity_exact"] is False and m["uniformity_pairs"] == 10
    json.dumps(m, allow_nan=False)


@pytest.mark.parametrize("bad", [np.zeros(5), np.full((3, 2), np.nan), np.zeros((3, 0))])
def test_inputs_are_checked(bad):
    with pytest.raises(ValueError):
        diag.rankme(bad)


def test_float32_input_gives_float64_results():
    x = _rng(35).normal(size=(50, 8)).astype(np.float32)
    assert diag.uniformity(x) == pytest.approx(diag.uniformity(x.astype(np.float64)), rel=1e-14)


# --- real model -------------------------------------------------------------------------------


def test_minilm_sts_benchmark(sts_test_file, minilm_folder):

    from workers.embedding import embed
    from workers.embedding import token_states as states_of
    from workers.loading import load_encoder

    start = time.perf_counter()
    encoder = load_encoder(minilm_folder, "cpu", "float32")
    pairs = read_sts(sts_test_file)
    emb1 = embed(encoder, [p.sentence1 for p in pairs], batch_size=64, max_length=128)
    emb2 = embed(encoder, [p.sentence2 for p in pairs], batch_size=64, max_length=128)
    spearman = diag.sts_spearman(emb1, emb2, [p.score for p in pairs])

    positives = [i for i, p in enumerate(pairs) if p.score >= 4.0]
    metrics = diag.embedding_metrics(np.vstack([emb1, emb2]), positives=(emb1[positives], emb2[positives]))

    # Token-level isotropy on the last-layer states of the first 200 first sentences (no padding).
    token_states, _ = states_of(encoder, [p.sentence1 for p in pairs[:200]], max_length=128, pool=False)
    token_isotropy = diag.isotropy(token_states)

    summary = {k: v for k, v in metrics.items() if "spectrum" not in k}
    summary["spectrum_top5"] = [round(v, 5) for v in metrics["spectrum"][:5]]
    print(f"\nall-MiniLM-L6-v2 STS-test cosine Spearman: {spearman:.2f}")
    print(f"metrics on {metrics['n']} sentence embeddings: {summary}")
    print(f"token isotropy (200 sentences): {token_isotropy:.4f}; {time.perf_counter() - start:.1f} s")

    assert 75.0 < spearman < 90.0
    assert metrics["n"] == 2 * len(pairs) == 2758 and metrics["d"] == 384
    assert metrics["alignment_pairs"] == len(positive_pairs(pairs))
    # Positive pairs are much closer than random pairs: alignment well below 2 (orthogonal).
    assert 0.0 < metrics["alignment"] < 1.0
    assert -4.0 < metrics["uniformity"] < -1.0
    assert 10.0 < metrics["rankme"] <= 384.0
    assert 0.0 < metrics["isoscore"] < 1.0
    assert 0.0 < token_isotropy < 1.0
