"""Reveal conditions: what the reveal after the blind vote shows, randomized per session so that the
effect of showing energy can be measured against a control group. Plain Python (no Django).

- ``joules``: the figures (joules, J/token, the ratio, the everyday equivalent, the method);
- ``relative``: GEA's reveal: only which answer used less energy and roughly how many times less, no
  absolute figure anywhere;
- ``carbon``: the figures plus grams of CO2e from the grid intensity the operator sets;
- ``control``: no energy before the final vote, which is still asked; its switch rate is the baseline.
  After the final vote the energy is shown too, so no one leaves without it.

The operator's mix (``ARENA_REVEAL_CONDITIONS``, e.g. ``joules=1,relative=1,control=1``) gives each
condition a weight; a session's first battle draws one, and the session keeps it (arena.services).
"""

from __future__ import annotations

import math
import random

JOULES, RELATIVE, CARBON, CONTROL = "joules", "relative", "carbon", "control"
CONDITIONS = (JOULES, RELATIVE, CARBON, CONTROL)
DEFAULT_MIX = "joules=1"
JOULES_PER_KWH = 3.6e6


def shows_energy(condition: str) -> bool:
    """Whether the reveal before the final vote shows the energy: a final vote is energy-aware only then
    (the energy-aware ladder, the switch rate); a control group's final vote is a second look."""
    return condition != CONTROL


def conditions_parse(text: str) -> dict[str, float]:
    """`joules=1,relative=1,control=1` -> {"joules": 1.0, ...} (conditions of weight > 0). Raises
    ValueError with a sentence for an unknown name, a weight that is not a positive number, a name given
    twice, or an empty mix."""
    mix: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, equals, weight = part.partition("=")
        name = name.strip().lower()
        if name not in CONDITIONS:
            raise ValueError(f"'{name}' is not a reveal condition: use {', '.join(CONDITIONS)}.")
        if name in mix:
            raise ValueError(f"'{name}' is given twice.")
        try:
            value = float(weight) if equals else 1.0
        except ValueError:
            raise ValueError(f"the weight of '{name}' is not a number: '{weight.strip()}'.") from None
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"the weight of '{name}' must be a positive number, not {weight.strip()}.")
        mix[name] = value
    if not mix:
        raise ValueError(f"no condition is given: e.g. {DEFAULT_MIX} or joules=1,relative=1,control=1.")
    return mix


def condition_draw(mix: dict[str, float], rng: random.Random | None = None) -> str:
    """A condition drawn with the mix's weights (a mix of one is that one, and draws nothing)."""
    names = sorted(mix)
    if len(names) == 1:
        return names[0]
    return (rng or random).choices(names, weights=[mix[name] for name in names])[0]


def co2e_grams(joules: float, grams_per_kwh: float) -> float:
    """Grams of CO2-equivalent of `joules` of electricity at a grid intensity in g CO2e per kWh."""
    return joules / JOULES_PER_KWH * grams_per_kwh


def times_less(ratio: float) -> str:
    """Roughly how many times: "about 2×" (whole numbers from 2, one decimal below)."""
    return f"about {round(ratio):d}×" if ratio >= 2 else f"about {ratio:.1f}×"
