"""Token-by-token text generation with streaming, sampling and contrastive search. No Django imports.

Why our own loop instead of ``model.generate`` + ``TextIteratorStreamer``: the streamer runs
generation in a second thread, and the CPU energy estimate counts the *calling* thread's CPU time
(see ``workers.energy``). Here every forward pass runs in the caller's thread, under
``torch.inference_mode()``, with the KV cache, and the loop can stop on a deadline or a cancel flag
between tokens.

Contrastive search (Su & Collier 2022, "A Contrastive Framework for Neural Text Generation") was
removed from transformers 5; it is implemented here. At each step, among the top-k candidates v:

    score(v) = (1 - α) · p(v | x<t)  -  α · max_j cos(h_v, h_j)

where h_v is the last-layer hidden state of v and h_j those of all previous tokens (prompt and
output). With α = 0 it is greedy decoding.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F

from workers.loading import LoadedLM

METHODS = ("greedy", "sampling", "contrastive")
FINISH_REASONS = ("stop", "length", "timeout", "cancelled")


@dataclass
class DecodingConfig:
    method: str = "greedy"  # "greedy" | "sampling" | "contrastive"
    max_new_tokens: int = 256
    temperature: float = 0.7  # sampling; <= 0 means greedy
    top_p: float = 0.9  # sampling: nucleus mass kept (1.0 = off)
    top_k: int = 50  # sampling: keep the k most likely tokens (0 = off)
    contrastive_k: int = 4  # contrastive: number of candidates per step
    penalty_alpha: float = 0.6  # contrastive: weight of the degeneration penalty
    seed: int | None = None  # sampling: seeds a private torch.Generator
    repetition_penalty: float = 1.0  # CTRL-style, as transformers applies it (1.0 = off)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"Unknown decoding method {self.method!r}: use one of {', '.join(METHODS)}")
        if self.max_new_tokens < 0:
            raise ValueError("max_new_tokens must be >= 0")
        if self.method == "contrastive":
            if self.contrastive_k < 1:
                raise ValueError("contrastive_k must be >= 1")
            if not 0.0 <= self.penalty_alpha <= 1.0:
                raise ValueError("penalty_alpha must be between 0 and 1")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError("top_p must be in (0, 1]")
        if self.top_k < 0:
            raise ValueError("top_k must be >= 0")
        if self.repetition_penalty <= 0:
            raise ValueError("repetition_penalty must be > 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecodingConfig:
        """Build from a dict (e.g. a JSON field), ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GenerationResult:
    text: str  # exactly the concatenation of the on_token deltas
    prompt_tokens: int
    output_tokens: int  # generated tokens, not counting the end-of-sequence token
    time_to_first_token_s: float | None  # None when no token was produced
    duration_s: float
    finish_reason: str  # "stop" (end of sequence) | "length" | "timeout" | "cancelled" (should_stop)
    token_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# A prompt: one user turn, or a conversation (messages with "role" user/assistant and "content", ending
# with the user's turn) that a chat model continues through its chat template.
Prompt = str | list[dict[str, str]]


def conversation_of(prompt: Prompt) -> list[dict[str, str]]:
    """The prompt as chat messages; a conversation must alternate user and assistant, user first and last."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    roles = [message.get("role") for message in prompt]
    expected = ["user" if index % 2 == 0 else "assistant" for index in range(len(roles))]
    if not prompt or roles != expected or roles[-1] != "user":
        raise ValueError("A conversation alternates user and assistant turns, from the user's to the user's.")
    return [{"role": message["role"], "content": str(message.get("content", ""))} for message in prompt]


def build_prompt_ids(lm: LoadedLM, prompt: Prompt) -> torch.Tensor:
    """Token ids (1, L) on ``lm.device``: the chat template of the conversation (one user turn for a
    plain prompt) for chat models, the raw text (plus BOS when the tokenizer adds one) for completion
    models, which take no conversation."""
    tok = lm.tokenizer
    if lm.has_chat_template:
        # Render to text, then tokenize without adding specials: the template already holds them,
        # and apply_chat_template's tokenized return type changed across transformers versions.
        text = tok.apply_chat_template(conversation_of(prompt), tokenize=False, add_generation_prompt=True)
        ids = tok(text, add_special_tokens=False)["input_ids"]
    elif isinstance(prompt, str):
        ids = tok(prompt)["input_ids"]
    else:
        raise ValueError("A completion model (no chat template) continues a text, not a conversation.")
    if not ids:  # empty prompt on a tokenizer without BOS: the model needs one token to start from
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if start is None:
            raise ValueError("The prompt is empty and the tokenizer has no BOS/EOS token to start from.")
        ids = [start]
    return torch.tensor([ids], dtype=torch.long, device=lm.device)


def eos_token_ids(lm: LoadedLM) -> set[int]:
    """Ids that end generation: the tokenizer's EOS and the generation config's (int or list)."""
    ids: set[int] = set()
    sources = [
        getattr(lm.tokenizer, "eos_token_id", None),
        getattr(getattr(lm.model, "generation_config", None), "eos_token_id", None),
    ]
    for src in sources:
        if isinstance(src, int):
            ids.add(src)
        elif isinstance(src, list | tuple):
            ids.update(int(i) for i in src if i is not None)
    return ids


class TextStream:
    """Incremental detokenisation: decode all output so far and emit the new suffix.

    Decoding the whole output (rather than token by token) gets multi-byte characters split across
    byte-level BPE tokens and sentencepiece's leading-space pieces right; text ending in U+FFFD is an
    incomplete character and is held back until the next token completes it.
    """

    def __init__(self, tokenizer: Any, on_token: Callable[[str], None] | None) -> None:
        self.tokenizer = tokenizer
        self.on_token = on_token
        self.text = ""

    def update(self, ids: list[int], final: bool = False) -> None:
        decoded = self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        if not final and decoded.endswith("\ufffd"):
            return
        # Past text can't be taken back from the page, so only what lies beyond it is sent: the
        # stored text stays equal to what the user saw.
        delta = decoded[len(self.text) :]
        if delta:
            self.text += delta
            if self.on_token is not None:
                self.on_token(delta)


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    if penalty == 1.0:
        return logits
    picked = logits[seen]
    logits[seen] = torch.where(picked > 0, picked / penalty, picked * penalty)
    return logits


def _sample(logits: torch.Tensor, cfg: DecodingConfig, generator: torch.Generator | None) -> int:
    if cfg.temperature <= 0:
        return int(torch.argmax(logits))
    logits = logits / cfg.temperature
    if 0 < cfg.top_k < logits.shape[-1]:
        kth = torch.topk(logits, cfg.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if cfg.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a token when the tokens before it already hold top_p of the mass (keeps >= 1).
        remove = (torch.cumsum(probs, dim=-1) - probs) > cfg.top_p
        logits = logits.scatter(0, order[remove], float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def degeneration_penalty(candidates: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """max_j cos(h_v, h_j) for each candidate row of ``candidates`` (k, H) over ``context`` (L, H)."""
    cos = F.normalize(candidates.float(), dim=-1) @ F.normalize(context.float(), dim=-1).T
    return cos.max(dim=-1).values


def cache_kwarg(model: Any) -> str:
    # transformers 5.2x renamed the forward argument past_key_values to cache (old name deprecated).
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def returned_cache(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def generate(
    lm: LoadedLM,
    prompt: Prompt,
    decoding: DecodingConfig,
    on_token: Callable[[str], None] | None = None,
    deadline: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    around_step: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
) -> GenerationResult:
    """Generate an answer to ``prompt``, streaming text deltas to ``on_token``.

    Stops at an end-of-sequence token ("stop"), after ``max_new_tokens`` ("length"), when
    ``time.monotonic()`` passes ``deadline`` ("timeout") or when ``should_stop()`` returns True
    ("cancelled"); both are checked before each forward pass. ``around_step()``, when given, is
    entered around each forward pass (the runtime measures steps on a whole-device meter with it).
    """
    step = around_step or contextlib.nullcontext
    started = time.monotonic()
    model, tok = lm.model, lm.tokenizer
    input_ids = build_prompt_ids(lm, prompt)
    stops = eos_token_ids(lm)
    stream = TextStream(tok, on_token)
    generated: list[int] = []
    ttft: float | None = None
    finish = "length"
    contrastive = decoding.method == "contrastive"
    generator = None
    if decoding.method == "sampling" and decoding.seed is not None:
        generator = torch.Generator(device=input_ids.device)
        generator.manual_seed(int(decoding.seed))

    cache_kw = cache_kwarg(model)
    with torch.inference_mode():
        past: Any = None
        logits: torch.Tensor | None = None  # next-token logits (V,), from the previous step
        context_h: torch.Tensor | None = None  # contrastive: last-layer states of all tokens so far
        seen: torch.Tensor | None = None  # repetition penalty: tokens in prompt and output
        next_input = input_ids
        for _step in range(decoding.max_new_tokens):
            if deadline is not None and time.monotonic() >= deadline:
                finish = "timeout"
                break
            if should_stop is not None and should_stop():
                finish = "cancelled"
                break
            if logits is None:  # prefill, or the chosen token of the last greedy/sampling step
                with step():
                    out = model(
                        input_ids=next_input,
                        use_cache=True,
                        output_hidden_states=contrastive,
                        logits_to_keep=1,
                        **({cache_kw: past} if past is not None else {}),
                    )
                past = returned_cache(out)
                logits = out.logits[0, -1]
                if contrastive:
                    context_h = out.hidden_states[-1][0]
            logits = logits.float()
            if seen is None:
                seen = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
                seen[input_ids[0]] = True
            logits = apply_repetition_penalty(logits, seen, decoding.repetition_penalty)

            if contrastive:
                assert context_h is not None
                probs = torch.softmax(logits, dim=-1)
                k = min(decoding.contrastive_k, probs.shape[-1])
                top_p, top_ids = torch.topk(probs, k)
                # All k candidates in one batch over a k-fold copy of the KV cache; the winner's
                # row of the cache and its logits then serve the next step.
                past.batch_repeat_interleave(k)
                with step():
                    cand = model(
                        input_ids=top_ids.view(k, 1),
                        use_cache=True,
                        output_hidden_states=True,
                        **{cache_kw: past},
                    )
                past = returned_cache(cand)
                cand_h = cand.hidden_states[-1][:, -1, :]
                alpha = decoding.penalty_alpha
                scores = (1 - alpha) * top_p - alpha * degeneration_penalty(cand_h, context_h)
                best = int(torch.argmax(scores))
                token = int(top_ids[best])
                past.batch_select_indices(torch.tensor([best], device=top_ids.device))
                context_h = torch.cat([context_h, cand_h[best : best + 1]], dim=0)
                logits = cand.logits[best, -1]
            elif decoding.method == "sampling":
                token = _sample(logits, decoding, generator)
                logits = None
            else:
                token = int(torch.argmax(logits))
                logits = None

            if ttft is None:
                ttft = time.monotonic() - started
            if token in stops:
                finish = "stop"
                break
            generated.append(token)
            seen[token] = True
            stream.update(generated)
            next_input = torch.tensor([[token]], dtype=torch.long, device=input_ids.device)
    stream.update(generated, final=True)
    return GenerationResult(
        text=stream.text,
        prompt_tokens=int(input_ids.shape[1]),
        output_tokens=len(generated),
        time_to_first_token_s=ttft,
        duration_s=time.monotonic() - started,
        finish_reason=finish,
        token_ids=generated,
    )
