"""Training data from files: pairs (tab-separated) or the STS Benchmark. Plain Python, no Django.

A pairs file has one example per line, tab-separated:
- InfoNCE: ``anchor<TAB>positive`` or ``anchor<TAB>positive<TAB>hard negative``;
- CoSENT: ``sentence 1<TAB>sentence 2<TAB>score`` (any scale: only the order of scores matters).
An STS Benchmark file (7 or more columns: genre, file, year, id, score, sentence 1, sentence 2) is
read with the diagnostics' STS reader: all its pairs for CoSENT, those scored >= 4 for InfoNCE.
Blank lines and lines starting with ``#`` are skipped; any other malformed line is an error that
names its line.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from analysis.diagnostics.sts import SENTENCE2_COLUMN, positive_pairs, read_sts
from training.loop import Example


class DataError(ValueError):
    """The training data can't be used; the message names the file and line."""


def _is_sts(path: Path) -> bool:
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row and row[0].strip() and not row[0].startswith("#"):
                return len(row) > SENTENCE2_COLUMN
    return False


def read_pairs(path: Path, objective: str) -> list[Example]:
    """The examples of a pairs file (or STS Benchmark file) for ``objective`` ("infonce" or "cosent")."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"No pairs file at {path}.")
    try:
        if _is_sts(path):
            try:
                pairs = read_sts(path)
            except ValueError as error:
                raise DataError(str(error)) from None
            if objective == "infonce":
                pairs = positive_pairs(pairs)
            return [Example(p.sentence1, p.sentence2, p.score) for p in pairs]
        return _read_tsv(path, objective)
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start}).") from None


def _read_tsv(path: Path, objective: str) -> list[Example]:
    examples = []
    with path.open(encoding="utf-8", newline="") as f:
        for line_no, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            columns = line.split("\t")
            if any(not c.strip() for c in columns):
                raise DataError(f"{path}, line {line_no}: an empty column.")
            if objective == "cosent":
                if len(columns) != 3:
                    raise DataError(
                        f"{path}, line {line_no}: expected 3 tab-separated columns (sentence, sentence, score), "
                        f"found {len(columns)}."
                    )
                try:
                    score = float(columns[2])
                except ValueError:
                    score = math.nan
                if not math.isfinite(score):
                    raise DataError(f"{path}, line {line_no}: the score {columns[2]!r} is not a number.")
                examples.append(Example(columns[0], columns[1], score))
            else:
                if len(columns) not in (2, 3):
                    raise DataError(
                        f"{path}, line {line_no}: expected 2 or 3 tab-separated columns (anchor, positive, "
                        f"optional hard negative), found {len(columns)}."
                    )
                examples.append(Example(columns[0], columns[1], negative=columns[2] if len(columns) == 3 else ""))
    return examples


def holdout(examples: list, seed: int, fraction: float = 0.1, at_most: int = 200) -> tuple[list, list]:
    """(training part, held-out part): a seeded ``fraction`` of the examples (2 to ``at_most``) held out."""
    import random

    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    size = max(2, min(at_most, int(len(examples) * fraction)))
    held = set(order[:size])
    return [e for i, e in enumerate(examples) if i not in held], [examples[i] for i in sorted(held)]
