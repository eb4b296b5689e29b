"""Battle logs in FastChat's clean-battle format (plus our energy fields and second vote): one
record per counted battle, read from a ``.jsonl`` or ``.json`` file and written as ``.jsonl``.

Plain Python, no Django: the leaderboard command rates a log file without touching the database.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from analysis.leaderboard import gea
from analysis.leaderboard.ratings import FASTCHAT_WINNER
from arena.choices import RANKED_KINDS
from arena.reveal import CONDITIONS, JOULES

# our choice codes <-> FastChat's clean-battle "winner" spelling
TO_FASTCHAT = FASTCHAT_WINNER
FROM_FASTCHAT = {value: key for key, value in TO_FASTCHAT.items()}
DEFAULT_KIND = "chat"  # the kind of a battle whose line says none


@dataclass(frozen=True, slots=True)
class BattleRecord:
    """One counted battle as in the exported log: FastChat's fields plus energy and the second vote.

    ``winner``/``winner_after`` use our codes (a, b, tie, bothbad); times are Unix seconds.
    """

    key: str
    kind: str
    model_a: str
    model_b: str
    family_a: str
    family_b: str
    winner: str
    tstamp: float
    winner_after: str | None = None
    tstamp_after: float | None = None
    energy_a_j: float | None = None
    energy_b_j: float | None = None
    output_tokens_a: int | None = None
    output_tokens_b: int | None = None
    energy_source_a: str = ""
    energy_source_b: str = ""
    # markdown counts of the answers (style control; None = unknown)
    headers_a: int | None = None
    headers_b: int | None = None
    lists_a: int | None = None
    lists_b: int | None = None
    bold_a: int | None = None
    bold_b: int | None = None
    reveal: str = JOULES  # what the reveal before the final vote showed (arena.reveal)
    categories: tuple[str, ...] = ()  # what its prompts are about (arena.categories)

    def gea_vote(self) -> gea.GeaVote:
        return gea.GeaVote(
            self.model_a, self.model_b, self.family_a or None, self.family_b or None,
            self.energy_a_j, self.energy_b_j, self.winner, self.winner_after,
        )

    def to_json(self) -> dict:
        """The exported line: FastChat's clean-battle fields first, then ours."""
        return {
            "question_id": self.key,
            "model_a": self.model_a,
            "model_b": self.model_b,
            "winner": TO_FASTCHAT[self.winner],
            "tstamp": self.tstamp,
            "anony": True,
            "turn": 1,
            "kind": self.kind,
            "family_a": self.family_a,
            "family_b": self.family_b,
            "winner_after_energy": TO_FASTCHAT[self.winner_after] if self.winner_after else None,
            "tstamp_after_energy": self.tstamp_after,
            "energy_a_j": self.energy_a_j,
            "energy_b_j": self.energy_b_j,
            "output_tokens_a": self.output_tokens_a,
            "output_tokens_b": self.output_tokens_b,
            "energy_source_a": self.energy_source_a,
            "energy_source_b": self.energy_source_b,
            "reveal": self.reveal,
            "categories": list(self.categories),
            **({"conv_metadata": meta} if (meta := self.conv_metadata()) else {}),
        }

    def conv_metadata(self) -> dict[str, int]:
        """FastChat's ``conv_metadata`` style fields that are known (markdown counts as plain
        totals, which the reader accepts as FastChat's per-kind objects too); empty when the
        markdown counts are unknown."""
        counts = (self.headers_a, self.headers_b, self.lists_a, self.lists_b, self.bold_a, self.bold_b)
        if all(c is None for c in counts):
            return {}
        values = (self.output_tokens_a, self.output_tokens_b, *counts)
        return {key: value for key, value in zip(CONV_METADATA, values, strict=True) if value is not None}


def battle_log_lines(records: Iterable[BattleRecord]) -> Iterator[str]:
    for record in records:
        yield json.dumps(record.to_json(), ensure_ascii=False, allow_nan=False) + "\n"


# ---------------------------------------------------------------------------------------------
# Reading a log


class BattleLogError(ValueError):
    """A malformed battle log; the message names the line (or item) and what is wrong."""


def _number(obj: dict, key: str, *, required: bool = False, minimum: float | None = None) -> float | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ValueError(f'"{key}" is missing')
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f'"{key}" must be a number, not {value!r}')
    if minimum is not None and value < minimum:
        raise ValueError(f'"{key}" must be at least {minimum}, not {value!r}')
    return float(value)


def _text(obj: dict, key: str, *, required: bool = False, limit: int = 200) -> str:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f'"{key}" is missing')
        return ""
    if not isinstance(value, str):
        raise ValueError(f'"{key}" must be a string, not {value!r}')
    if len(value) > limit:
        raise ValueError(f'"{key}" is longer than {limit} characters')
    return value


def _winner(obj: dict, key: str, *, required: bool) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if value not in FROM_FASTCHAT:
        allowed = ", ".join(f'"{w}"' for w in FROM_FASTCHAT)
        raise ValueError(f'"{key}" must be one of {allowed}, not {value!r}')
    return FROM_FASTCHAT[value]


# FastChat's conv_metadata keys (fastchat/serve/monitor/elo_analysis.py's style control), in the
# order of BattleRecord's (output_tokens_a, output_tokens_b, headers_a, ..., bold_b)
CONV_METADATA = (
    "sum_assistant_a_tokens", "sum_assistant_b_tokens", "header_count_a", "header_count_b",
    "list_count_a", "list_count_b", "bold_count_a", "bold_count_b",
)


def _count(value: object, name: str, *, per_kind: bool) -> int:
    """A whole number >= 0, or (``per_kind``, FastChat's {"h1": 1, ...}) an object of them, summed."""
    if per_kind and isinstance(value, dict):
        return sum(_count(v, f"{name}.{k}", per_kind=False) for k, v in value.items())
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or value < 0 or value != int(value):
        kinds = "a whole number of at least 0" + (", or an object of them" if per_kind else "")
        raise ValueError(f'"{name}" must be {kinds}, not {value!r}')
    return int(value)


def _conv_metadata(obj: dict) -> dict[str, int | None]:
    """The answers' lengths and markdown counts from FastChat's ``conv_metadata`` (unknown where
    it or a key is missing), as BattleRecord fields."""
    meta = obj.get("conv_metadata")
    fields = ("output_tokens_a", "output_tokens_b", "headers_a", "headers_b", "lists_a", "lists_b", "bold_a", "bold_b")
    if meta is None:
        return dict.fromkeys(fields)
    if not isinstance(meta, dict):
        raise ValueError(f'"conv_metadata" must be an object, not {meta!r}')
    out = {}
    for field, key in zip(fields, CONV_METADATA, strict=True):
        value = meta.get(key)
        per_kind = not field.startswith("output_tokens")  # markdown counts may be FastChat's objects
        out[field] = None if value is None else _count(value, f"conv_metadata.{key}", per_kind=per_kind)
    return out


def record_from_json(obj: object, *, default_kind: str = DEFAULT_KIND) -> BattleRecord | None:
    """One battle of a log; None for a named (``"anony": false``) battle, which FastChat leaves out.

    Raises ValueError naming the bad field.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, not {type(obj).__name__}")
    model_a, model_b = _text(obj, "model_a", required=True), _text(obj, "model_b", required=True)
    if model_a == model_b:
        raise ValueError(f'"model_a" and "model_b" are the same ({model_a!r})')
    winner = _winner(obj, "winner", required=True)
    tstamp = _number(obj, "tstamp", required=True)
    if obj.get("anony", True) is False:
        return None
    after = _winner(obj, "winner_after_energy", required=False)
    style = _conv_metadata(obj)
    tokens = []
    for key in ("output_tokens_a", "output_tokens_b"):
        value = _number(obj, key, minimum=0)
        if value is not None and value != int(value):
            raise ValueError(f'"{key}" must be a whole number, not {obj[key]!r}')
        # our output_tokens wins; FastChat's conv_metadata tokens stand in where it is absent
        tokens.append(style[key] if value is None else int(value))
    kind = _text(obj, "kind", limit=20)
    if kind and kind not in RANKED_KINDS:
        raise ValueError(f'"kind" must be one of {", ".join(RANKED_KINDS)}, not {kind!r}')
    qid = obj.get("question_id")
    if qid is not None and (isinstance(qid, bool) or not isinstance(qid, (str, int))):
        raise ValueError(f'"question_id" must be a string or a number, not {qid!r}')
    return BattleRecord(
        key=str(qid) if qid is not None and str(qid) else "",
        kind=kind or default_kind,
        model_a=model_a,
        model_b=model_b,
        family_a=_text(obj, "family_a", limit=100),
        family_b=_text(obj, "family_b", limit=100),
        winner=winner,
        tstamp=tstamp,
        winner_after=after,
        tstamp_after=_number(obj, "tstamp_after_energy") if after else None,
        energy_a_j=_number(obj, "energy_a_j", minimum=0),
        energy_b_j=_number(obj, "energy_b_j", minimum=0),
        output_tokens_a=tokens[0],
        output_tokens_b=tokens[1],
        energy_source_a=_text(obj, "energy_source_a", limit=20),
        energy_source_b=_text(obj, "energy_source_b", limit=20),
        headers_a=style["headers_a"],
        headers_b=style["headers_b"],
        lists_a=style["lists_a"],
        lists_b=style["lists_b"],
        bold_a=style["bold_a"],
        bold_b=style["bold_b"],
        reveal=_reveal(obj),
        categories=_categories(obj),
    )


class BattleLogReader:
    """Iterate the battles of a ``.jsonl`` file (one JSON object per line) or a ``.json`` file
    (a JSON array, as FastChat publishes its clean battle logs).

    Raises :class:`BattleLogError` naming the line of the first malformed battle. Battles marked
    ``"anony": false`` are skipped and counted in ``skipped``. A battle without ``question_id``
    gets a key from its content (and its occurrence number), so a re-import is recognised.
    """

    def __init__(self, path: str | Path, *, default_kind: str = DEFAULT_KIND) -> None:
        self.path = Path(path)
        self.default_kind = default_kind
        self.skipped = 0
        self.read = 0

    def __iter__(self) -> Iterator[BattleRecord]:
        self.skipped = self.read = 0
        seen: Counter = Counter()
        for where, obj in self._objects():
            try:
                record = record_from_json(obj, default_kind=self.default_kind)
            except ValueError as error:
                raise BattleLogError(f"{self.path.name}, {where()}: {error}") from None
            if record is None:
                self.skipped += 1
                continue
            if not record.key:
                digest = hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:32]
                seen[digest] += 1
                record = replace(record, key=f"sha256-{digest}-{seen[digest]}")
            self.read += 1
            yield record

    def _objects(self) -> Iterator[tuple[Callable[[], str], object]]:
        """(where, object) pairs; ``where()`` names the line (worked out only for an error)."""
        try:
            handle = self.path.open(encoding="utf-8")
        except OSError as error:
            raise BattleLogError(f"Cannot read {self.path}: {error.strerror or error}") from None
        with handle:
            first = handle.read(1)
            while first and first.isspace():
                first = handle.read(1)
            if first == "[":
                handle.seek(0)
                yield from self._array(handle.read())
                return
            handle.seek(0)
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as error:
                    raise BattleLogError(f"{self.path.name}, line {number}: not valid JSON ({error})") from None
                yield (lambda number=number: f"line {number}"), obj

    def _array(self, text: str) -> Iterator[tuple[Callable[[], str], object]]:
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise BattleLogError(f"{self.path.name}, line {error.lineno}: not valid JSON ({error.msg})") from None
        if not isinstance(items, list):
            raise BattleLogError(f"{self.path.name}: expected a JSON array of battles, or one battle per line")
        for i, obj in enumerate(items):
            yield (lambda i=i: f"line {_array_item_line(text, i)} (battle {i + 1})"), obj


def _array_item_line(text: str, index: int) -> int:
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    for i in range(index + 1):
        while text[pos].isspace() or text[pos] == ",":
            pos += 1
        if i == index:
            return text.count("\n", 0, pos) + 1
        _, pos = decoder.raw_decode(text, pos)
    return 1



def _reveal(obj: dict) -> str:
    """The battle's reveal condition: absent in logs from before conditions (and FastChat's), "joules"."""
    value = obj.get("reveal")
    if value is None or value == "":
        return JOULES
    if value not in CONDITIONS:
        raise ValueError(f'"reveal" must be one of {", ".join(CONDITIONS)}, not {value!r}')
    return value


_CATEGORY = re.compile(r"^[a-z][a-z_]{1,19}$")


def _categories(obj: dict) -> tuple[str, ...]:
    """The battle's categories: a list of short lower-case names (absent: none)."""
    value = obj.get("categories")
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 10 or not all(
        isinstance(name, str) and _CATEGORY.match(name) for name in value
    ):
        raise ValueError(f'"categories" must be a list of up to 10 short lower-case names, not {value!r}')
    return tuple(sorted(set(value)))
