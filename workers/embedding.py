"""Sentence embeddings: mean pooling over the attention mask, then L2 normalisation (the
sentence-transformers recipe of all-MiniLM-L6-v2 and all-mpnet-base-v2). No Django imports."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from workers.energy import EnergyMeter, EnergyReading, split_by_tokens
from workers.loading import LoadedEncoder

# A fast tokenizer's padding/truncation settings are mutable state of its Rust object; two threads
# changing them at once can fail with "Already borrowed". Tokenising is quick next to the model.
TOKENIZE_LOCK = threading.Lock()


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
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
            with TOKENIZE_LOCK:
                batch = encoder.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
            batch = {k: v.to(encoder.device) for k, v in batch.items()}
            hidden = encoder.model(**batch).last_hidden_state
            pooled = F.normalize(pool(hidden, batch["attention_mask"], encoder.pooling), p=2, dim=-1)
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
            with TOKENIZE_LOCK:
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


@dataclass
class _Gathered:
    texts: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    vectors: np.ndarray | None = None
    readings: list[EnergyReading] = field(default_factory=list)
    error: BaseException | None = None
    sizes: list[int] = field(default_factory=list)  # how many texts each caller brought, in order


class EmbedBatcher:
    """Embeds the texts of concurrent callers on one encoder together (retrieval queries): the first
    caller waits ``gather_s`` for others, runs one forward pass for all, measures it and splits its
    energy among the callers by the tokens of their texts (the shares add up to the measurement)."""

    def __init__(
        self,
        encoder: LoadedEncoder,
        *,
        meter: EnergyMeter,
        step_lock: threading.Lock,
        gather_s: float = 0.02,
        max_texts: int = 64,
    ) -> None:
        self.encoder = encoder
        self.meter = meter
        self.step_lock = step_lock
        self.gather_s = gather_s
        self.max_texts = max_texts
        self._lock = threading.Lock()
        self._open: _Gathered | None = None

    def embed(self, texts: list[str], max_length: int = 256) -> tuple[np.ndarray, EnergyReading]:
        started = time.monotonic()
        with self._lock:
            group = self._open
            leader = group is None or len(group.texts) + len(texts) > self.max_texts
            if leader:
                group = self._open = _Gathered()
            start, index = len(group.texts), len(group.sizes)
            group.texts.extend(texts)
            group.sizes.append(len(texts))
        if leader:
            time.sleep(self.gather_s)
            with self._lock:
                if self._open is group:
                    self._open = None  # closed: later callers start their own group
            self._run(group, max_length)
        else:
            group.done.wait()
        if group.error is not None:
            raise group.error
        assert group.vectors is not None
        reading = group.readings[index]
        reading = EnergyReading(
            joules=reading.joules, seconds=time.monotonic() - started, source=reading.source,
            device=reading.device, method=reading.method,
        )
        return group.vectors[start : start + len(texts)], reading

    def _run(self, group: _Gathered, max_length: int) -> None:
        try:
            limit = min(max_length, self.encoder.max_length or max_length)
            with TOKENIZE_LOCK:
                encoded = self.encoder.tokenizer(group.texts, truncation=True, max_length=limit)["input_ids"]
            lengths = [len(ids) for ids in encoded]
            with self.step_lock, self.meter.measure() as measurement:
                group.vectors = embed(self.encoder, group.texts, batch_size=self.max_texts, max_length=max_length)
            reading = measurement.reading
            assert reading is not None
            # Which texts belong to which call: calls appended their texts in order.
            per_call: dict[str, int] = {}
            sizes = group.sizes
            offset = 0
            for call, size in enumerate(sizes):
                per_call[str(call)] = sum(lengths[offset : offset + size])
                offset += size
            shares = split_by_tokens(reading.joules, per_call)
            total = sum(per_call.values())
            group.readings = [
                EnergyReading(
                    joules=shares[str(call)], seconds=reading.seconds, source=reading.source, device=reading.device,
                    method=(
                        f"share of a micro-batch of {len(sizes)} quer{'y' if len(sizes) == 1 else 'ies'}, split by "
                        f"tokens ({per_call[str(call)]} of {total}); "
                        f"its share is {self.meter.describe(shares[str(call)])}"
                    ),
                )
                for call in range(len(sizes))
            ]
        except BaseException as error:  # every caller of the group gets it
            group.error = error
        finally:
            group.done.set()
