"""Each loss against a value computed by hand from its formula."""

import math

import pytest
import torch

from training.losses import cosent_loss, infonce_loss, simcse_loss


def _t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_infonce_with_in_batch_negatives():
    anchors, positives = _t([[1, 0], [0, 1]]), _t([[2, 0], [1, 1]])  # positives need not be unit vectors
    r = 1 / math.sqrt(2)
    # cosines: a1·(p1, p2) = (1, r); a2·(p1, p2) = (0, r); τ = 0.5 scales them by 2.
    row1 = -math.log(math.exp(2) / (math.exp(2) + math.exp(2 * r)))
    row2 = -math.log(math.exp(2 * r) / (math.exp(0) + math.exp(2 * r)))
    assert infonce_loss(anchors, positives, temperature=0.5).item() == pytest.approx((row1 + row2) / 2, abs=1e-12)


def test_infonce_with_a_hard_negative():
    anchors, positives, negatives = _t([[1, 0], [0, 1]]), _t([[1, 0], [0, 1]]), _t([[0, 1]])
    # a1: (1, 0 | 0) ; a2: (0, 1 | 1) with τ = 1
    row1 = -math.log(math.e / (math.e + 1 + 1))
    row2 = -math.log(math.e / (1 + math.e + math.e))
    loss = infonce_loss(anchors, positives, temperature=1.0, hard_negatives=negatives)
    assert loss.item() == pytest.approx((row1 + row2) / 2, abs=1e-12)


def test_simcse_of_identical_orthogonal_views():
    views = _t([[1, 0], [0, 1]])
    # each row: -log(e^{1/τ} / (e^{1/τ} + e^0)) = log(1 + e^{-1/τ})
    assert simcse_loss(views, views, temperature=0.5).item() == pytest.approx(math.log(1 + math.exp(-2)), abs=1e-12)


def test_cosent_orders_pairs_by_score():
    emb1, emb2 = _t([[1, 0], [1, 0], [1, 0]]), _t([[1, 0], [0, 1], [1, 1]])  # cosines 1, 0, 1/√2
    cos = [1.0, 0.0, 1 / math.sqrt(2)]
    scores = _t([5, 1, 3])
    # every (i, j) with s_i > s_j adds exp(scale (cos_j - cos_i))
    terms = [(0, 1), (0, 2), (2, 1)]
    expected = math.log(1 + sum(math.exp(20 * (cos[j] - cos[i])) for i, j in terms))
    assert cosent_loss(emb1, emb2, scores).item() == pytest.approx(expected, abs=1e-12)
    # the wrong order costs about scale × the cosine gap
    wrong = cosent_loss(emb1, emb2, _t([0, 5, 3])).item()
    assert wrong > 19


def test_cosent_of_equal_scores_is_zero():
    emb = _t([[1, 0], [0, 1]])
    assert cosent_loss(emb, emb.flip(0), _t([2, 2])).item() == 0.0


def test_losses_refuse_bad_input():
    x = _t([[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="temperature"):
        infonce_loss(x, x, temperature=0)
    with pytest.raises(ValueError, match="same shape"):
        infonce_loss(x, x[:1])
    with pytest.raises(ValueError, match="same shape"):
        cosent_loss(x, x[:1], _t([1]))
