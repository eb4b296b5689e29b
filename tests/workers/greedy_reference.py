"""The reference for greedy text: transformers' own ``model.generate``, cut at the first end token."""

import torch

from workers.generation import build_prompt_ids, eos_token_ids


def hf_greedy(lm, prompt: str, n: int) -> list[int]:
    ids = build_prompt_ids(lm, prompt)
    out = lm.model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        max_new_tokens=n,
        pad_token_id=lm.tokenizer.pad_token_id,
    )
    tokens = out[0, ids.shape[1] :].tolist()
    stops = eos_token_ids(lm)
    return tokens[: next((i for i, t in enumerate(tokens) if t in stops), len(tokens))]
