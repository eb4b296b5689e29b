"""Contrastive search for many requests at once, in one decode loop per model. No Django imports.

transformers' continuous batching has no contrastive search, so these requests get a loop of their
own beside the model's ``batching.BatchEngine``: requests join between steps and leave when done,
and each step runs the candidates of every request in the batch through one forward pass.

The batch's KV cache is one ``DynamicCache`` whose rows are aligned on the right: a shorter row is
padded on the left, and the padding is masked out of attention (each row keeps its own positions).
The prompts of requests that arrived since the last step are read together in one step of their
own (padded the same way), and their rows are then padded into the batch. Columns no row uses any
more (their request has left) are cut off. In a step, each request's top-k candidates go through one forward
pass over a k-fold copy of the cache (k = the largest contrastive_k in the batch; a request with a
smaller one repeats its best candidate in the spare rows and ignores them), and each request keeps
the candidate with the best score of ``generation`` (Su & Collier 2022). The text is the one of
``generation.generate`` up to the float rounding of padded, batched arithmetic (tests compare them,
on SmolLM2 too: equal).

Energy: each step, a prompt's reading or a pass of candidates, is measured and split among its
requests by the tokens each computed in it (its prompt; k candidates), as in ``batching``.

A step that fails (out of memory, say) fails the request that joined last, which is the one that
made the batch too big, with a message for a person; the step is then run again without it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache

from workers.batching import POLL_S, AdmittedEngine, BatchRequestFailed, Ticket, Update, kv_bytes_per_token
from workers.generation import (
    DecodingConfig,
    apply_repetition_penalty,
    cache_kwarg,
    degeneration_penalty,
    returned_cache,
)
from workers.loading import LoadedLM


@dataclass
class _Row:
    """A request in the batch: the state the one-request loop keeps, per row of the cache."""

    ticket: Ticket
    decoding: DecodingConfig
    logits: torch.Tensor  # (V,) next-token logits, from its last step
    context: torch.Tensor  # (L, H) last-layer states of its prompt and output so far
    seen: torch.Tensor  # (V,) bool: tokens in its prompt and output (repetition penalty)
    length: int  # its tokens in the cache (its next position)
    tokens: list[int] = field(default_factory=list)  # its output so far


def failure_message(error: BaseException) -> str:
    if isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower():
        return (
            "The model ran out of memory with this request in its batch; the others go on. "
            "Try again in a moment, or with a shorter prompt."
        )
    return f"The batch could not run this request: {error}"


class ContrastiveBatchEngine(AdmittedEngine):
    """One model's shared contrastive-search loop. ``generate`` is called from many threads at once."""

    def __init__(self, lm: LoadedLM, **kwargs: Any) -> None:  # AdmittedEngine's arguments
        super().__init__(lm, **kwargs)
        # The memory budget, in tokens of KV cache (each request's row and its k copies in a step).
        self.kv_slots = max(1, self.limits.kv_cache_bytes // kv_bytes_per_token(lm.model))
        self._cache_kw = cache_kwarg(lm.model)
        self._inbox: list[tuple[Ticket, DecodingConfig]] = []
        self._held: set[str] = set()  # requests in the inbox or the batch
        self._cancelled: set[str] = set()
        self._rows: list[_Row] = []  # only the loop's thread changes these three
        self._cache: DynamicCache | None = None
        self._mask: torch.Tensor | None = None  # (B, L): 1 where a row holds a token, 0 for padding
        self._thread: threading.Thread | None = None

    # --- callers' side: AdmittedEngine.generate, with these hooks --------------------------------------

    def _copies(self, decoding: DecodingConfig) -> int:
        return max(1, decoding.contrastive_k)

    def _loop_failure(self) -> str | None:
        return None if self._loop_alive() else "The batch loop stopped before this request finished."

    def _enter(self, ticket: Ticket, decoding: DecodingConfig) -> None:
        with self._cond:
            if self.closed:
                raise BatchRequestFailed("The model's batch engine was closed (the model was unloaded).")
            if not self._loop_alive():
                self._thread = threading.Thread(target=self._loop, daemon=True, name="contrastive-batch")
                self._thread.start()
            self._inbox.append((ticket, decoding))
            self._held.add(ticket.rid)
            self._cond.notify_all()

    def _cancel(self, ticket: Ticket) -> None:
        """Take the request out of the loop and wait until the loop has dropped it: no later step can
        then charge it, so its reading holds every share it was given."""
        limit = time.monotonic() + 30
        with self._cond:
            if ticket.rid not in self._held:
                return
            self._cancelled.add(ticket.rid)
            self._cond.notify_all()
            while ticket.rid in self._held and self._loop_alive() and time.monotonic() < limit:
                self._cond.wait(POLL_S)

    def _loop_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- the loop ------------------------------------------------------------------------------------

    def _loop(self) -> None:
        with torch.inference_mode():
            while True:
                with self._cond:
                    while not self.closed and not self._inbox and not self._rows:
                        self._cond.wait(0.5)
                    if self.closed:
                        break
                    new, self._inbox = self._inbox, []
                    cancelled = set(self._cancelled)
                try:
                    self._leave([row.ticket for row in self._rows if row.ticket.rid in cancelled])
                    self._forget([ticket for ticket, _ in new if ticket.rid in cancelled])
                    arrivals = [(ticket, decoding) for ticket, decoding in new if ticket.rid not in cancelled]
                    if arrivals:
                        self._prefill(arrivals)
                    if self._rows:
                        self._decode()
                except Exception as error:  # noqa: BLE001 - a fault of the loop fails what it holds, not the loop
                    self._fail_all(failure_message(error))
        self._fail_all("The model's batch engine was closed (the model was unloaded).")

    def _prefill(self, arrivals: list[tuple[Ticket, DecodingConfig]]) -> None:
        """Read the prompts of requests that arrived together in one measured step (padded on the
        left, like the batch), then pad their rows into the batch. If that step fails, each prompt is
        read alone, so that only a request that fails alone fails."""
        if len(arrivals) > 1:
            try:
                self._read_prompts(arrivals)
                return
            except Exception:  # noqa: BLE001 - one at a time below
                pass
        for ticket, decoding in arrivals:
            try:
                self._read_prompts([(ticket, decoding)])
            except Exception as error:  # noqa: BLE001 - the request fails alone
                self._fail(ticket, error)

    def _read_prompts(self, arrivals: list[tuple[Ticket, DecodingConfig]]) -> None:
        device = self.lm.device
        width = max(len(ticket.ids) for ticket, _ in arrivals)
        pad = self.stops[0] if self.stops else 0  # any id: padding is masked out
        ids = torch.tensor(
            [[pad] * (width - len(t.ids)) + t.ids for t, _ in arrivals], dtype=torch.long, device=device
        )
        mask = torch.tensor(
            [[0] * (width - len(t.ids)) + [1] * len(t.ids) for t, _ in arrivals], dtype=torch.long, device=device
        )
        inputs: dict = {"input_ids": ids}
        if len(arrivals) > 1:  # alone, exactly the one-request loop's call
            inputs.update(attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0))
        cache = DynamicCache()  # plain layers, that rows of any length can be padded into
        out = self.measure_step(
            {ticket.rid: len(ticket.ids) for ticket, _ in arrivals},
            lambda: self.lm.model(
                **inputs, use_cache=True, output_hidden_states=True, logits_to_keep=1, **{self._cache_kw: cache}
            ),
        )
        cache = returned_cache(out) or cache
        rows = []
        for i, (ticket, decoding) in enumerate(arrivals):
            n = len(ticket.ids)
            logits = out.logits[i, -1].float()
            seen = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
            seen[ids[i, width - n :]] = True
            rows.append(_Row(ticket, decoding, logits, out.hidden_states[-1][i, width - n :], seen, n))
        self._join(rows, cache, mask)

    def _join(self, rows: list[_Row], cache: DynamicCache, mask: torch.Tensor) -> None:
        if self._cache is None or self._mask is None:
            self._cache, self._mask, self._rows = cache, mask, rows
            return
        width = max(self._mask.shape[1], mask.shape[1])
        for into, layer in zip(self._cache.layers, cache.layers, strict=True):
            into.keys = torch.cat([_pad_left(into.keys, width), _pad_left(layer.keys, width)], dim=0)
            into.values = torch.cat([_pad_left(into.values, width), _pad_left(layer.values, width)], dim=0)
        self._mask = torch.cat([_pad_left(self._mask, width), _pad_left(mask, width)], dim=0)
        self._rows.extend(rows)

    def _decode(self) -> None:
        """One pass of candidates for every request in the batch; each keeps its best."""
        rows = self._rows
        assert self._cache is not None and self._mask is not None
        width = max(row.decoding.contrastive_k for row in rows)
        top_probs, top_ids = [], []
        for row in rows:
            row.logits = apply_repetition_penalty(row.logits, row.seen, row.decoding.repetition_penalty)
            probs = torch.softmax(row.logits, dim=-1)
            k = min(row.decoding.contrastive_k, probs.shape[-1])
            p, ids = torch.topk(probs, k)
            top_probs.append(p)
            top_ids.append(torch.cat([ids, ids[:1].expand(width - k)]))
        device = self.lm.device
        length = self._mask.shape[1]
        new_column = torch.ones(len(rows) * width, 1, dtype=torch.long, device=device)
        mask = torch.cat([self._mask.repeat_interleave(width, dim=0), new_column], dim=1)
        positions = torch.tensor([row.length for row in rows], device=device).repeat_interleave(width).view(-1, 1)
        inputs = torch.stack(top_ids).view(-1, 1)
        cache = self._cache

        def candidates():
            cache.batch_repeat_interleave(width)
            return self.lm.model(
                input_ids=inputs, attention_mask=mask, position_ids=positions, use_cache=True,
                output_hidden_states=True, **{self._cache_kw: cache},
            )

        try:
            out = self.measure_step({row.ticket.rid: width for row in rows}, candidates)
        except Exception as error:  # noqa: BLE001 - the newest request fails; the step runs again without it
            _restore(cache, len(rows), width, length)
            self._fail(rows[-1].ticket, error)
            self._keep(range(len(rows) - 1))
            return
        states = out.hidden_states[-1][:, -1, :]
        logits = out.logits[:, -1, :]
        chosen, ended = [], []
        for i, row in enumerate(rows):
            k = top_probs[i].shape[0]
            h = states[i * width : i * width + k]
            alpha = row.decoding.penalty_alpha
            scores = (1 - alpha) * top_probs[i] - alpha * degeneration_penalty(h, row.context)
            best = int(torch.argmax(scores))
            token = int(top_ids[i][best])
            chosen.append(i * width + best)
            row.context = torch.cat([row.context, h[best : best + 1]], dim=0)
            row.logits = logits[i * width + best].float()
            row.length += 1
            row.tokens.append(token)
            finished = token in self.stops or len(row.tokens) >= row.ticket.max_new_tokens
            if token not in self.stops:
                row.seen[token] = True
            row.ticket.outputs.put(Update(list(row.tokens), finished))
            if finished:
                ended.append(row)
        cache.batch_select_indices(torch.tensor(chosen, device=device))
        self._mask = mask[chosen]
        self._leave([row.ticket for row in ended])

    def _leave(self, tickets: list[Ticket]) -> None:
        if not tickets:
            return
        gone = {ticket.rid for ticket in tickets}
        self._keep(i for i, row in enumerate(self._rows) if row.ticket.rid not in gone)
        self._forget(tickets)

    def _keep(self, indices: Iterable[int]) -> None:
        """Keep only these rows of the batch, and cut the columns only padding is left in."""
        keep = list(indices)
        if not keep:
            self._rows, self._cache, self._mask = [], None, None
            return
        if len(keep) == len(self._rows):
            return
        assert self._cache is not None and self._mask is not None
        self._rows = [self._rows[i] for i in keep]
        index = torch.tensor(keep, device=self._mask.device)
        self._cache.batch_select_indices(index)
        mask = self._mask[index]
        first = int(mask.any(dim=0).int().argmax())
        if first > 0:
            for layer in self._cache.layers:
                layer.keys, layer.values = layer.keys[:, :, first:], layer.values[:, :, first:]
            mask = mask[:, first:]
        self._mask = mask

    def _forget(self, tickets: list[Ticket]) -> None:
        with self._cond:
            for ticket in tickets:
                self._held.discard(ticket.rid)
                self._cancelled.discard(ticket.rid)
            self._cond.notify_all()

    def _fail(self, ticket: Ticket, error: BaseException) -> None:
        ticket.outputs.put(Update([], error=failure_message(error)))
        self._forget([ticket])

    def _fail_all(self, message: str) -> None:
        with self._cond:
            pending, self._inbox = self._inbox, []
        tickets = [row.ticket for row in self._rows] + [ticket for ticket, _ in pending]
        self._rows, self._cache, self._mask = [], None, None
        for ticket in tickets:
            ticket.outputs.put(Update([], error=message))
        self._forget(tickets)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)


def _pad_left(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """Pad the sequence dimension (the last of a mask, the third of keys/values) with zeros on the left."""
    dim = 1 if tensor.dim() == 2 else 2
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _restore(cache: DynamicCache, rows: int, width: int, length: int) -> None:
    """Undo what a failed pass of candidates did to the cache: the k-fold copy of each row, and the
    candidates' keys and values appended to the layers it reached."""
    for layer in cache.layers:
        if layer.keys is None or layer.keys.numel() == 0:
            continue
        if layer.keys.shape[0] == rows * width and width > 1:
            layer.keys, layer.values = layer.keys[::width], layer.values[::width]
        layer.keys, layer.values = layer.keys[:, :, :length], layer.values[:, :, :length]
