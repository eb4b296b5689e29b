"""Reader for the STS Benchmark CSV files (sts-train/dev/test.csv). Plain Python, no Django.

The files are tab-separated: genre, file, year, id, score (0-5), sentence 1, sentence 2, and on
some lines extra columns after the sentences (source notes), which are ignored. Sentences contain
bare double quotes, so the files must be read with ``csv.QUOTE_NONE``: with the default quoting a
quote opens a field that swallows tabs and newlines and pairs get merged.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SCORE_COLUMN = 4
SENTENCE1_COLUMN = 5
SENTENCE2_COLUMN = 6


@dataclass(frozen=True)
class StsPair:
    sentence1: str
    sentence2: str
    score: float  # gold similarity, 0 (unrelated) to 5 (equivalent)


def read_sts(path: Path, limit: int | None = None) -> list[StsPair]:
    """The pairs of an STS Benchmark file, in file order; at most ``limit`` when given.

    Blank lines are skipped. A line with fewer than 7 columns or a score that is not a finite
    number raises ``ValueError`` naming the file and the (1-based) line number.
    """
    path = Path(path)
    pairs: list[StsPair] = []
    if limit is not None and limit <= 0:
        return pairs
    with path.open(encoding="utf-8", newline="") as f:
        # QUOTE_NONE: no field can span lines, so the reader's row number is the line number.
        for line_no, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) <= SENTENCE2_COLUMN:
                raise ValueError(
                    f"{path}, line {line_no}: expected at least {SENTENCE2_COLUMN + 1} tab-separated "
                    f"columns, found {len(row)}"
                )
            try:
                score = float(row[SCORE_COLUMN])
            except ValueError:
                score = math.nan
            if not math.isfinite(score):
                raise ValueError(f"{path}, line {line_no}: score {row[SCORE_COLUMN]!r} is not a number")
            pairs.append(StsPair(row[SENTENCE1_COLUMN], row[SENTENCE2_COLUMN], score))
            if limit is not None and len(pairs) >= limit:
                break
    return pairs


def positive_pairs(pairs: Iterable[StsPair], threshold: float = 4.0) -> list[StsPair]:
    """Pairs with gold score ``>= threshold``: near-paraphrases, used as the positive pairs of
    :func:`analysis.diagnostics.metrics.alignment`."""
    return [p for p in pairs if p.score >= threshold]
