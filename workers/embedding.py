"""Sentence embeddings: mean pooling over the attention mask, then L2 normalisation (the
sentence-transformers recipe of all-MiniLM-L6-v2 and all-mpnet-base-v2). No Django imports."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from workers.loading import LoadedEncoder

# A fast tokenizer's padding/truncation settings are mutable state of its Rust object; two threads
# changing them at once can fail with "Already borrowed". Tokenising is quick next to the model.
_TOKENIZE_LOCK = threading.Lock()


def _pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    hidden = hidden.float()  # pool in float32 even for bfloat16 models
    if mode == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)


def embed(
    encoder: LoadedEncoder,
    texts: list[str],
    batch_size: int = 32,
    max_length: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Unit-norm float32 embeddings, shape (len(texts), embedding_dim), in the order of ``texts``.

    ``progress(done, total)`` is called after each batch. Texts are truncated to ``max_length``
    tokens (and to the folder's sentence-transformers max_seq_length when it is smaller).
    """
    n, dim = len(texts), encoder.embedding_dim
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if encoder.max_length:
        max_length = min(max_length, encoder.max_length)
    # Batch texts of similar length together so that little padding is computed; the result is
    # put back in the input order.
    order = sorted(range(n), key=lambda i: len(texts[i]), reverse=True)
    out = np.empty((n, dim), dtype=np.float32)
    done = 0
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            with _TOKENIZE_LOCK:
                batch = encoder.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
            batch = {k: v.to(encoder.device) for k, v in batch.items()}
            hidden = encoder.model(**batch).last_hidden_state
            pooled = F.normalize(_pool(hidden, batch["attention_mask"], encoder.pooling), p=2, dim=-1)
            out[idx] = pooled.cpu().numpy()
            done += len(idx)
            if progress is not None:
                progress(done, n)
    return out


def token_states(
    loaded,
    texts: list[str],
    max_length: int = 128,
    pool: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Last-layer token states of each text (for isotropy), and their mean-pooled, unit-norm rows.

    Works for encoders (``last_hidden_state``) and causal language models (the last entry of
    ``hidden_states``); texts run one at a time, so no padding enters the states.
    """
    states: list[np.ndarray] = []
    pooled = []
    is_encoder = isinstance(loaded, LoadedEncoder)
    with torch.inference_mode():
        for done, text in enumerate(texts, start=1):
            with _TOKENIZE_LOCK:
                batch = loaded.tokenizer([text], truncation=True, max_length=max_length, return_tensors="pt")
            batch = {k: v.to(loaded.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
            if is_encoder:
                hidden = loaded.model(**batch).last_hidden_state[0]
            else:
                hidden = loaded.model(**batch, output_hidden_states=True).hidden_states[-1][0]
            hidden = hidden.float()
            states.append(hidden.cpu().numpy())
            if pool:
                pooled.append(F.normalize(hidden.mean(dim=0), p=2, dim=-1).cpu().numpy())
            if progress is not None:
                progress(done, len(texts))
    dim = states[0].shape[1] if states else 0
    return states, (np.stack(pooled).astype(np.float32) if pooled else np.zeros((0, dim), dtype=np.float32))
