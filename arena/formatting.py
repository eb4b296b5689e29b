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


def energy_shown(joules_a: float | None, joules_b: float | None) -> bool:
    """Whether the reveal showed both answers' energy: the rule for a second vote to count as energy-aware
    (the energy-aware ladder). An answer an engine served without a meter has none ("not measured")."""
    return all(joules is not None and math.isfinite(joules) for joules in (joules_a, joules_b))


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


# The words of the arena page, by kind of battle: a chat battle's answers to a prompt, a retrieval
# battle's results for a query. The template shows the first ones (views: `words`); the page's
# script reads the same dictionary (json_script "arena-words") for the sentences it writes.
PAGE_WORDS: dict[str, dict[str, str]] = {
    "chat": {
        "prompt_label": "Your prompt",
        "prompt_placeholder": "Ask anything — both models answer the same prompt.",
        "sent_heading": "Prompt",
        "pane_label": "Answer of model",
        "vote_question": "Which answer is better?",
        "per_unit_label": "Per output token",
        "noscript": "The arena needs JavaScript to stream the answers.",
        "empty_prompt": "Type a prompt first, or pick a random example.",
        "working": "is writing…",
        "side_failed": "failed to answer.",
        "both_done": "Both answers are complete. Which one is better?",
        "energy_each": "Here is the energy each answer used.",
        "battle_failed": "One of the models did not finish, so this battle cannot be voted on. Try another battle.",
        "closed": "Voting on this battle has closed. Here is the energy each answer used, and who wrote it.",
        "per_unit": "per token",
    },
    "retrieval": {
        "prompt_label": "Your query",
        "prompt_placeholder": "Search for something — both encoders search the same documents.",
        "sent_heading": "Query",
        "pane_label": "Results of model",
        "vote_question": "Which results are better?",
        "per_unit_label": "Embedding the documents (once)",
        "noscript": "The arena needs JavaScript to show the results.",
        "empty_prompt": "Type a query first, or pick a random example.",
        "working": "is searching…",
        "side_failed": "failed to search.",
        "both_done": "Both searches are done. Which results are better?",
        "energy_each": "Here is the energy each search used.",
        "battle_failed": "One of the searches did not finish, so this battle cannot be voted on. Try another battle.",
        "closed": "Voting on this battle has closed. Here is the energy each search used, and which encoder ran it.",
        "per_unit": "per 1,000 documents",
    },
}


def page_words(mode: str) -> dict[str, str]:
    """The page's words for a page mode ("anonymous", "named" or "retrieval")."""
    return PAGE_WORDS["retrieval" if mode == "retrieval" else "chat"]


# What a passage's snippet drops of reStructuredText and Markdown markup, line by line and inline.
# Heading underlines, table rules, code fences ("```python"); an underline makes "Heading" "Heading:".
_RULE_LINE = re.compile(r"^\s*(?:[=\-~^*#+_`|]{3,}[=\-~^*#+_`| ]*|(?:```|~~~)[\w+-]*\s*)$")
_UNDERLINE = re.compile(r"^\s*([=\-~^*#_])\1{2,}\s*$")
_DIRECTIVE = re.compile(r"^\s*\.\.\s+[\w:-]+::\s*")  # ".. note::" (its text on the line is kept)
_RST_COMMENT = re.compile(r"^\s*\.\.(?:\s|$)")  # ".. _target:", ".. comment" (not "...")
_MD_HEADING = re.compile(r"^\s*#{1,6}\s+")
_BULLET = re.compile(r"^\s*[*+-]\s+")  # a list item's mark: "• " once the lines are joined
_LITERAL_MARK = re.compile(r"(\S)::\s*$|\s*::\s*$")  # "Example::" is "Example:"; a lone "::" goes
_ROLE = re.compile(r":[\w-]+(?::[\w-]+)*:`([^`]*)`")  # :ref:`text <target>`, :py:func:`~len`
_LABELLED = re.compile(r"^(.+?)\s*<[^<>]*>$")  # "text <target>" inside a role
_RST_LINK = re.compile(r"`([^`<]+?)\s*<[^<>`]*>`__?")  # `text <https://…>`_
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")  # [text](url), ![alt](src)
_BACKTICKS = re.compile(r"`+(?:__?(?!\w))?")  # ``code``, `ref`_ (not the _ of `_private`)
# **word** and *word*, not f(*args, **kw) or 2**10; never __x__ (Python's __init__ stays as it is)
_STRONG = re.compile(r"(?<![\w*])\*\*(\S(?:[^*]*?\S)?)\*\*(?![\w*])")
_EMPHASIS = re.compile(r"(?<![\w*])\*([^\s*](?:[^*]*?[^\s*])?)\*(?![\w*])")


def _heading(line: str) -> str:
    """A heading joined to the text after it: "Mutable Sequence Types:" (not after "?", "." or ":")."""
    line = line.rstrip()
    return line if line.endswith((".", ":", "?", "!")) else f"{line}:"


def _role_text(match: re.Match) -> str:
    inner = match.group(1)
    labelled = _LABELLED.match(inner)
    return (labelled.group(1) if labelled else inner).lstrip("~!")


def passage_snippet(text: str, limit: int = 300) -> str:
    """A retrieved passage as a person reads it: reStructuredText and Markdown markup dropped (heading
    underlines, table rules and bars, directives, roles, links, backticks, `**`, `*`), whitespace
    collapsed, and cut at a word before `limit` characters with "…"."""
    lines: list[str] = []
    for line in text.splitlines():
        if _RULE_LINE.match(line):
            if _UNDERLINE.match(line) and lines and lines[-1].strip():
                lines[-1] = _heading(lines[-1])
            continue
        line = _DIRECTIVE.sub("", line)
        if _RST_COMMENT.match(line):
            continue
        if _MD_HEADING.match(line):
            line = _heading(_MD_HEADING.sub("", line))
        if line.lstrip().startswith("|"):  # a table row: its cells as text
            line = " ".join(cell.strip() for cell in line.split("|") if cell.strip())
        line = _BULLET.sub("• ", line)
        lines.append(_LITERAL_MARK.sub(lambda m: f"{m.group(1)}:" if m.group(1) else "", line))
    cleaned = _ROLE.sub(_role_text, " ".join(lines))
    cleaned = _MD_LINK.sub(r"\1", _RST_LINK.sub(r"\1", cleaned))
    cleaned = _EMPHASIS.sub(r"\1", _STRONG.sub(r"\1", _BACKTICKS.sub("", cleaned)))
    cleaned = " ".join(cleaned.split())
    if len(cleaned) <= limit:
        return cleaned
    cut = cleaned[:limit]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-") + "…"
