"""Contextual Bradley-Terry: ratings with extra per-battle features (style control, the price
of energy).

Plain numpy/scipy, no Django.
"""

from __future__ import annotations

from typing import NamedTuple


class ContextRow(NamedTuple):
    """One counted battle with what is known of its answers (None = unknown)."""

    model_a: str
    model_b: str
    winner: str  # our choice codes: "a", "b", "tie", "bothbad"
    winner_after: str | None  # the vote after the energy reveal, or None
    tokens_a: int | None  # answer length in tokens
    tokens_b: int | None
    headers_a: int | None
    headers_b: int | None
    lists_a: int | None
    lists_b: int | None
    bold_a: int | None
    bold_b: int | None
    energy_a_j: float | None
    energy_b_j: float | None
