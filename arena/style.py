"""The style of an answer, as lmarena's style control counts it: markdown headers, list items and
bold spans (code blocks removed first), beside the answer's length in tokens.

Plain Python, no Django: the arena stores the counts with each answer, the battle log carries them
as FastChat's ``conv_metadata``, and the leaderboard's style control uses them as features.
Patterns are those of FastChat's ``count_markdown_elements`` (``fastchat/serve/monitor/``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

_CODE_BLOCK = re.compile(r"```[^`]*```")
_HEADER = re.compile(r"^#{1,6}\s", re.MULTILINE)
_ORDERED_ITEM = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
_UNORDERED_ITEM = re.compile(r"^\s*[-*+]\s", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


class MarkdownCounts(NamedTuple):
    headers: int
    lists: int
    bold: int


def markdown_counts(text: str) -> MarkdownCounts:
    """Headers (``#`` to ``######``), list items (ordered and unordered) and bold spans (``**`` or
    ``__``) of ``text``, outside fenced code blocks."""
    text = _CODE_BLOCK.sub("", text or "")
    return MarkdownCounts(
        headers=len(_HEADER.findall(text)),
        lists=len(_ORDERED_ITEM.findall(text)) + len(_UNORDERED_ITEM.findall(text)),
        bold=len(_BOLD.findall(text)),
    )
