"""The training loop of an encoder: batches, AdamW, evaluation, checkpoints, energy. Plain Python:
no Django imports (the training app's services call it with plain values).

The batch order is a function of (seed, epoch) alone, so a run resumed from a checkpoint (step,
weights, optimiser state, dropout RNG, curves, energy so far) goes on exactly where it stopped.
Every ``eval_every`` steps the loss and the alignment and uniformity (Wang & Isola 2020, the
diagnostics' own functions) of a held-out sample are recorded: the run's path on the
alignment-uniformity plane.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from analysis.diagnostics.metrics import alignment, uniformity
from training.losses import cosent_loss, infonce_loss, simcse_loss
from workers.embedding import TOKENIZE_LOCK, pool
from workers.energy import EnergyReading

OBJECTIVES = ("simcse", "infonce", "cosent")
CHECKPOINT_FILE = "checkpoint.pt"


@dataclass(frozen=True)
class TrainingConfig:
    objective: str
    epochs: int = 1
    steps: int | None = None  # when set, the run stops after this many steps (whatever the epochs)
    batch_size: int = 32
    learning_rate: float = 2e-5
    temperature: float = 0.05  # InfoNCE / SimCSE
    max_length: int = 128
    seed: int = 0
    eval_every: int = 20
    checkpoint_every: int = 50
    # Constant learning rate by default (the plain-PyTorch trial of ARCHITECTURE.md that reached 83.07 on
    # STS-B test); warm-up and linear decay (sentence-transformers' WarmupLinear) on request.
    warmup_fraction: float = 0.0
    lr_decay: bool = False
    cosent_scale: float = 20.0

    def problems(self) -> dict[str, str]:
        """What is wrong with these settings, by setting (empty when nothing is), for a person to act on."""
        found = {}
        if self.objective not in OBJECTIVES:
            found["objective"] = f"Unknown objective {self.objective!r}: use one of {', '.join(OBJECTIVES)}."
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            found["learning_rate"] = f"The learning rate must be > 0 (got {self.learning_rate})."
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            found["temperature"] = f"The temperature τ must be > 0 (got {self.temperature})."
        if self.batch_size < 2:
            found["batch_size"] = "The batch size must be at least 2 (in-batch negatives need another pair)."
        if self.epochs < 1 or (self.steps is not None and self.steps < 1):
            found["steps"] = "Epochs and steps must be at least 1."
        if self.max_length < 8 or self.eval_every < 1 or self.checkpoint_every < 1:
            found["max_length" if self.max_length < 8 else "eval_every"] = (
                "max length must be >= 8, and eval/checkpoint intervals >= 1.")
        return found

    def check(self) -> None:
        """Raise ValueError with the first problem (see ``problems``)."""
        problems = self.problems()
        if problems:
            raise ValueError(next(iter(problems.values())))


@dataclass(frozen=True)
class Example:
    """One training example: a sentence (SimCSE), a positive pair with an optional hard negative
    (InfoNCE), or a graded pair (CoSENT)."""

    text1: str
    text2: str = ""
    score: float = 0.0
    negative: str = ""


@dataclass
class TrainResult:
    status: str  # "done" | "cancelled" | "nan"
    step: int
    total_steps: int
    curves: list[dict]
    joules: float
    seconds: float
    reading: EnergyReading | None
    resumed_from: int = 0
    message: str = ""
    extra: dict = field(default_factory=dict)


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    # A last batch of one example has no in-batch negative: it is dropped.
    full, rest = divmod(n_examples, batch_size)
    return full + (1 if rest >= 2 else 0)


def total_steps(config: TrainingConfig, n_examples: int) -> int:
    return config.steps if config.steps is not None else config.epochs * steps_per_epoch(n_examples, config.batch_size)


def batch_indices(config: TrainingConfig, n_examples: int, step: int) -> list[int]:
    """The examples of step ``step`` (0-based): epoch ``e`` is a permutation seeded by (seed, e)."""
    per_epoch = steps_per_epoch(n_examples, config.batch_size)
    epoch, index = divmod(step, per_epoch)
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    order = torch.randperm(n_examples, generator=generator)
    return order[index * config.batch_size : (index + 1) * config.batch_size].tolist()


def lr_factor(step: int, total: int, warmup_fraction: float, decay: bool) -> float:
    """Linear warm-up over ``warmup_fraction`` of the steps, then constant, or with ``decay`` linear
    decay to 0 (sentence-transformers' WarmupLinear)."""
    warmup = int(total * warmup_fraction)
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup)) if decay else 1.0


def encode(encoder: Any, texts: list[str], max_length: int) -> torch.Tensor:
    """Unit-norm sentence embeddings with gradients (mean or CLS pooling, as the encoder's folder says)."""
    if encoder.max_length:
        max_length = min(max_length, encoder.max_length)
    with TOKENIZE_LOCK:
        batch = encoder.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    batch = {k: v.to(encoder.device) for k, v in batch.items()}
    hidden = encoder.model(**batch).last_hidden_state
    return F.normalize(pool(hidden, batch["attention_mask"], encoder.pooling), p=2, dim=-1)


def batch_loss(encoder: Any, config: TrainingConfig, examples: list[Example]) -> torch.Tensor:
    if config.objective == "simcse":
        texts = [e.text1 for e in examples]
        # One forward pass over the batch twice: each copy gets its own dropout mask.
        both = encode(encoder, texts + texts, config.max_length)
        return simcse_loss(both[: len(texts)], both[len(texts) :], temperature=config.temperature)
    if config.objective == "infonce":
        negatives = [e.negative for e in examples if e.negative]
        texts = [e.text1 for e in examples] + [e.text2 for e in examples] + negatives
        out = encode(encoder, texts, config.max_length)
        n = len(examples)
        return infonce_loss(out[:n], out[n : 2 * n], temperature=config.temperature,
                            hard_negatives=out[2 * n :] if negatives else None)
    out = encode(encoder, [e.text1 for e in examples] + [e.text2 for e in examples], config.max_length)
    n = len(examples)
    scores = torch.tensor([e.score for e in examples], dtype=out.dtype, device=out.device)
    return cosent_loss(out[:n], out[n:], scores, scale=config.cosent_scale)


def evaluate(encoder: Any, pairs: list[tuple[str, str]], max_length: int, dropout_views: bool = False) -> dict:
    """Alignment of the held-out positive pairs and uniformity of all their sentences.

    ``dropout_views``: the pairs are (sentence, same sentence) and the two views differ by dropout
    (SimCSE without labelled pairs); otherwise the model is evaluated without dropout."""
    was_training = encoder.model.training
    encoder.model.train(dropout_views)
    try:
        with torch.no_grad():
            first = np.concatenate([encode(encoder, [a for a, _ in pairs[i : i + 64]], max_length).cpu().numpy()
                                    for i in range(0, len(pairs), 64)])
            second = np.concatenate([encode(encoder, [b for _, b in pairs[i : i + 64]], max_length).cpu().numpy()
                                     for i in range(0, len(pairs), 64)])
    finally:
        encoder.model.train(was_training)
    everything = first if dropout_views else np.concatenate([first, second])
    return {"alignment": round(alignment(first, second), 5), "uniformity": round(uniformity(everything), 5)}


def checkpoint_load(folder: Path) -> dict | None:
    path = Path(folder) / CHECKPOINT_FILE
    if not path.is_file():
        return None
    # weights_only: tensors, numbers, strings, lists and dicts only; nothing in it can run code.
    return torch.load(path, map_location="cpu", weights_only=True)


def _checkpoint_save(folder: Path, state: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{CHECKPOINT_FILE}.tmp-{os.getpid()}"
    torch.save(state, tmp)
    os.replace(tmp, folder / CHECKPOINT_FILE)  # whole or not at all: a kill mid-write keeps the last one


def train(
    encoder: Any,
    examples: list[Example],
    config: TrainingConfig,
    *,
    eval_pairs: list[tuple[str, str]],
    meter: Any,
    checkpoint_dir: Path | None = None,
    progress: Callable[[float, str], None] | None = None,
    on_eval: Callable[[list[dict], float | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    dropout_views: bool = False,
) -> TrainResult:
    """Train ``encoder.model`` in place; resume from ``checkpoint_dir`` when it holds a checkpoint.

    ``meter`` is an energy meter (workers.energy): each step is measured and the readings add up.
    ``on_eval(curves, seconds_left)`` gets the evaluation points so far, each ``{step, loss, alignment,
    uniformity}``, after each evaluation (step 0 is the base model). ``should_stop()`` is asked before
    each step (cancel).
    A loss that is NaN or infinite stops the run with status "nan" before the weights change.
    """
    config.check()
    n = len(examples)
    total = total_steps(config, n)
    report = progress or (lambda fraction, text: None)
    model = encoder.model
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    torch.manual_seed(config.seed)
    step, curves, joules, seconds, resumed_from = 0, [], 0.0, 0.0, 0
    state = checkpoint_load(checkpoint_dir) if checkpoint_dir else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        step, curves = int(state["step"]), list(state["curves"])
        joules, seconds, resumed_from = float(state["joules"]), float(state["seconds"]), int(state["step"])
    reading: EnergyReading | None = None
    window: list[float] = []  # losses since the last evaluation

    def record(loss: float | None, seconds_left: float | None) -> None:
        point = {"step": step, "loss": None if loss is None else round(loss, 5),
                 **evaluate(encoder, eval_pairs, config.max_length, dropout_views)}
        curves.append(point)
        if on_eval:
            on_eval(list(curves), seconds_left)

    def save() -> None:
        if checkpoint_dir is not None:
            _checkpoint_save(Path(checkpoint_dir), {
                "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(), "curves": curves, "joules": joules, "seconds": seconds,
            })

    if step == 0 and eval_pairs:
        record(None, None)
    segment_started, segment_steps = time.monotonic(), 0
    while step < total:
        if should_stop and should_stop():
            return TrainResult("cancelled", step, total, curves, joules, seconds, reading, resumed_from,
                               f"Cancelled at step {step} of {total}.")
        batch = [examples[i] for i in batch_indices(config, n, step)]
        started = time.monotonic()
        with meter.measure() as measurement:
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * lr_factor(step, total, config.warmup_fraction, config.lr_decay)
            loss = batch_loss(encoder, config, batch)
            value = loss.detach().item()
            finite = math.isfinite(value)
            if finite:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        reading = measurement.reading
        joules += reading.joules if reading else 0.0
        seconds += time.monotonic() - started
        if not finite:
            return TrainResult("nan", step, total, curves, joules, seconds, reading, resumed_from,
                               f"The loss became {value} at step {step + 1}: training stopped, nothing saved. "
                               "Try a lower learning rate or a higher temperature.")
        step += 1
        segment_steps += 1
        window.append(value)
        per_step = (time.monotonic() - segment_started) / segment_steps
        seconds_left = per_step * (total - step)
        report(step / total, f"Step {step}/{total}, loss {value:.4f}, about {duration_text(seconds_left)} left")
        if eval_pairs and (step % config.eval_every == 0 or step == total):
            record(sum(window) / len(window), seconds_left)
            window.clear()
        if step % config.checkpoint_every == 0 and step < total:
            save()
    model.eval()
    return TrainResult("done", step, total, curves, joules, seconds, reading, resumed_from)


def duration_text(seconds: float) -> str:
    """A time left as a person reads it: seconds under 90 s, else minutes."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
