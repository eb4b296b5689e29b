"""Contrastive losses for sentence encoders. Plain PyTorch: no Django imports.

Every loss takes embeddings (rows are sentences; they need not be normalised: cosine similarity is
used throughout) and returns a scalar tensor to minimise.

- :func:`infonce_loss`: supervised InfoNCE (Oord et al. 2018; SimCSE's supervised form, Gao et al.
  2021): anchor ``i`` must pick its positive ``i`` among every positive (and hard negative) of the batch.
- :func:`simcse_loss`: unsupervised SimCSE, the same InfoNCE where the positive is the same sentence
  seen through a second dropout mask.
- :func:`cosent_loss`: CoSENT (Su 2022) on graded pairs: every pair scored higher must have a higher
  cosine than every pair scored lower.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.normalize(a, p=2, dim=-1) @ F.normalize(b, p=2, dim=-1).T


def infonce_loss(
    anchors: torch.Tensor,
    positives: torch.Tensor,
    temperature: float = 0.05,
    hard_negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over the batch of ``-log softmax_j(cos(a_i, c_j) / τ)[i]``, the candidates ``c`` being
    every positive of the batch (in-batch negatives) followed by the hard negatives, if any."""
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    if anchors.shape != positives.shape:
        raise ValueError(f"anchors and positives must have the same shape, got {anchors.shape} and {positives.shape}")
    candidates = positives if hard_negatives is None else torch.cat([positives, hard_negatives], dim=0)
    logits = _cosine_matrix(anchors, candidates) / temperature
    labels = torch.arange(anchors.shape[0], device=anchors.device)
    return F.cross_entropy(logits, labels)


def simcse_loss(view1: torch.Tensor, view2: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """Unsupervised SimCSE: row ``i`` of both views is one sentence under two dropout masks."""
    return infonce_loss(view1, view2, temperature=temperature)


def cosent_loss(emb1: torch.Tensor, emb2: torch.Tensor, scores: torch.Tensor, scale: float = 20.0) -> torch.Tensor:
    """CoSENT: ``log(1 + Σ_{s_i > s_j} exp(scale · (cos_j - cos_i)))`` over the pairs of the batch,
    ``cos_i`` the cosine of pair ``i`` and ``s_i`` its gold score (only the order of scores matters)."""
    if emb1.shape != emb2.shape:
        raise ValueError(f"emb1 and emb2 must have the same shape, got {emb1.shape} and {emb2.shape}")
    cos = F.cosine_similarity(emb1, emb2, dim=-1) * scale
    diff = cos[None, :] - cos[:, None]  # diff[i, j] = cos_j - cos_i
    higher = scores[:, None] > scores[None, :]  # pair i should be more similar than pair j
    # The leading 0 is the "1 +": logsumexp([0, x...]) = log(1 + Σ exp(x)), stable for large x.
    terms = torch.cat([torch.zeros(1, device=cos.device, dtype=cos.dtype), diff[higher]])
    return torch.logsumexp(terms, dim=0)
