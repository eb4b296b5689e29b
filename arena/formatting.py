"""Texts shown to voters. Plain Python: no Django imports."""

import math
import re

# Two answers whose energies differ by less than this factor used "about the same energy": the
# reveal says so, and the switch statistics count no move toward the cheaper answer between them.
ABOUT_THE_SAME_RATIO = 1.05


def energy_about_the_same(joules_a: float, joules_b: float) -> bool:
    """True when neither answer used at least ABOUT_THE_SAME_RATIO times the other's energy (both
    positive); an answer with no measurable energy is the same only as another such answer."""
    if joules_a <= 0 or joules_b <= 0:
        return joules_a <= 0 and joules_b <= 0
    return max(joules_a, joules_b) / min(joules_a, joules_b) < ABOUT_THE_SAME_RATIO


def energy_ratio(joules_a: float | None, joules_b: float | None) -> tuple[str, float | None]:
    """("A used 2.4× the energy of B", 2.4): the larger side over the smaller one."""
    if joules_a is None or joules_b is None:
        return "The energy of one answer is unknown, so they cannot be compared.", None
    if joules_a <= 0 or joules_b <= 0:
        return "One answer used no measurable energy, so no ratio can be given.", None
    high, low, ratio = ("A", "B", joules_a / joules_b) if joules_a >= joules_b else ("B", "A", joules_b / joules_a)
    if energy_about_the_same(joules_a, joules_b):
        return "A and B used about the same energy.", round(ratio, 2)
    return f"{high} used {ratio:.1f}× the energy of {low}.", round(ratio, 2)


# The everyday equivalent of an answer's energy: an LED bulb that replaces a 60 W incandescent one draws
# about 10 W (U.S. Department of Energy, Energy Saver, "Lighting Choices to Save You Money"; docs/arena-protocol.md).
LED_BULB_WATTS = 10.0


def energy_everyday(joules: float | None) -> str:
    """The energy in watt-hours and as time an LED bulb could stay lit on it: "0.015 Wh: a 10 W LED
    bulb lit for 5.4 s". Empty when unknown."""
    if joules is None or joules < 0:
        return ""
    watt_hours = joules / 3600.0
    seconds = joules / LED_BULB_WATTS
    if seconds < 1:
        lit = f"{seconds:.2f} s"
    elif seconds < 120:
        lit = f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    elif seconds < 7200:
        lit = f"{seconds / 60:.0f} min"
    else:
        lit = f"{seconds / 3600:.1f} h"
    return f"{_two_digits(watt_hours)} Wh: a {LED_BULB_WATTS:g} W LED bulb lit for {lit}"


def _two_digits(value: float) -> str:
    """Two significant digits, never in scientific notation: 0.00056, 0.015, 1.5, 150."""
    if value <= 0:
        return "0"
    decimals = max(0, 1 - math.floor(math.log10(value)))
    return f"{value:.{decimals}f}"


def identity_terms(*names: str) -> set[str]:
    """Words that would reveal a model: its name, family and maker, without version digits.

    A multi-word name ("Hugging Face") is kept whole, so that common words ("face") don't match.
    """
    terms = set()
    for name in names:
        name = (name or "").strip()
        if not name:
            continue
        if " " not in name:
            for part in re.split(r"[\-_/]+", name):
                stem = re.sub(r"[\d.]+[a-zA-Z]?$", "", part).lower()
                if len(stem) >= 4 and stem not in {"instruct", "base", "chat", "large", "small"}:
                    terms.add(stem)
        terms.add(re.sub(r"[\d.]+$", "", re.sub(r"[\s\-_]+", "", name).lower()))
    return {t for t in terms if len(t) >= 4}


def mentions_identity(text: str, terms: set[str]) -> bool:
    """True when the answer names its own model or maker (FastChat filters such battles)."""
    lowered = text.lower()
    squashed = re.sub(r"[\s\-_]+", "", lowered)
    return any(re.search(rf"\b{re.escape(term)}", lowered) or term in squashed for term in terms)


def prompt_fingerprint(prompt: str) -> str:
    """The same prompt up to case and spacing hashes the same (for flagging repeated prompts)."""
    import hashlib

    normalised = " ".join(prompt.casefold().split())
    return hashlib.sha256(normalised.encode()).hexdigest()
