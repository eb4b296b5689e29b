"""A plain reference of contrastive search, to check the runtime's cached implementation against."""

from typing import Any

import torch

from workers.generation import degeneration_penalty


def contrastive_search_reference(
    model: Any,
    input_ids: torch.Tensor,
    k: int,
    alpha: float,
    max_new_tokens: int,
    eos_token_ids: set[int] | frozenset[int] = frozenset(),
) -> list[int]:
    """Contrastive search the plain way: no KV cache, the whole sequence is re-run
    at every step, and each candidate is scored on the full sequence plus itself."""
    seq = [int(t) for t in input_ids[0]]
    device = input_ids.device
    produced: list[int] = []
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            out = model(input_ids=torch.tensor([seq], device=device), use_cache=False, output_hidden_states=True)
            probs = torch.softmax(out.logits[0, -1].float(), dim=-1)
            top_p, top_ids = torch.topk(probs, min(k, probs.shape[-1]))
            candidates = torch.tensor([seq + [int(t)] for t in top_ids], device=device)
            cand = model(input_ids=candidates, use_cache=False, output_hidden_states=True)
            cand_h = cand.hidden_states[-1][:, -1, :]
            context_h = out.hidden_states[-1][0]
            scores = (1 - alpha) * top_p - alpha * degeneration_penalty(cand_h, context_h)
            token = int(top_ids[int(torch.argmax(scores))])
            if token in eos_token_ids:
                break
            seq.append(token)
            produced.append(token)
    return produced
