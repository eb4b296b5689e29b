"""The counted battles as battle-log records: a scan of ours (votes with their responses) and the
imported ones, with the keys that hide our battle ids in exports."""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import hmac
from collections.abc import Iterator

from django.conf import settings
from django.db.models import FilteredRelation, Q, QuerySet

from analysis.leaderboard.battle_log import BattleRecord
from analysis.models import (
    Competitor,
    ImportedBattle,
)


def instance_prefix() -> str:
    """Prefix of this database's battle ids in exported logs (so a re-import is recognised)."""
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:analysis.battles".encode()).hexdigest()
    return f"arena-{digest[:10]}"


def _contender_names() -> dict[int, tuple[str, str, str]]:
    """contender id -> (name as ranked, family, kind); the competitor's name once it has one."""
    from modelhub.models import Contender

    named = dict(Competitor.objects.filter(contender__isnull=False).values_list("contender_id", "name"))
    return {
        cid: (named.get(cid, name), family, kind)
        for cid, name, family, kind in Contender.objects.values_list("id", "name", "model__family", "model__kind")
    }


def battle_export_key(battle_id: int) -> str:
    """The key of one of our battles in exported logs: this arena's prefix (so a re-import is
    recognised) and a keyed hash of the battle id, which nobody without the secret key can tie back
    to the battle, its page or its session."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"battle:{battle_id}".encode(), hashlib.sha256).hexdigest()
    return f"{instance_prefix()}-{digest[:20]}"


def _own_records(*, kind, start, end, now: dt.datetime | None = None) -> Iterator[BattleRecord]:
    from arena.models import Vote
    from arena.selectors import battles_counted_q, battles_public_q

    contenders = _contender_names()
    # Counted, and public under the blind protocol: revealed, or no longer open to votes.
    votes = Vote.objects.filter(battles_counted_q("battle__"), battles_public_q("battle__", vote_path="", now=now))
    votes = _in_range(votes, "battle__contender_a__model__kind", "blind_at", kind=kind, start=start, end=end)
    votes = votes.annotate(
        ra=FilteredRelation("battle__responses", condition=Q(battle__responses__side="a")),
        rb=FilteredRelation("battle__responses", condition=Q(battle__responses__side="b")),
    ).order_by("blind_at", "battle_id").values_list(
        "battle_id", "blind_choice", "final_choice", "blind_at", "final_at",
        "battle__contender_a_id", "battle__contender_b_id",
        "ra__joules", "rb__joules", "ra__output_tokens", "rb__output_tokens",
        "ra__energy_source", "rb__energy_source", "ra__header_count", "rb__header_count", "ra__list_count",
        "rb__list_count", "ra__bold_count", "rb__bold_count", "battle__reveal", "battle__categories",
    )
    for (bid, blind, final, blind_at, final_at, ca, cb, ja, jb, ta, tb, sa, sb, ha, hb, la, lb, ba,
         bb, reveal, categories) in votes.iterator(chunk_size=5000):
        name_a, family_a, kind_a = contenders[ca]
        name_b, family_b, _ = contenders[cb]
        yield BattleRecord(
            key=battle_export_key(bid), kind=kind_a, model_a=name_a, model_b=name_b, family_a=family_a,
            family_b=family_b, winner=blind, tstamp=blind_at.timestamp(), winner_after=final or None,
            tstamp_after=final_at.timestamp() if final and final_at else None, energy_a_j=ja, energy_b_j=jb,
            output_tokens_a=ta, output_tokens_b=tb, energy_source_a=sa or "", energy_source_b=sb or "",
            headers_a=ha, headers_b=hb, lists_a=la, lists_b=lb, bold_a=ba, bold_b=bb, reveal=reveal,
            categories=tuple(categories or ()),
        )


def _imported_records(*, kind, start, end) -> Iterator[BattleRecord]:
    rows = _in_range(ImportedBattle.objects.all(), "kind", "tstamp", kind=kind, start=start, end=end)
    rows = rows.order_by("tstamp", "id").values_list(
        "source_key", "kind", "competitor_a__name", "competitor_b__name", "competitor_a__family",
        "competitor_b__family", "winner", "tstamp", "winner_after", "tstamp_after", "energy_a_j", "energy_b_j",
        "output_tokens_a", "output_tokens_b", "energy_source_a", "energy_source_b", "headers_a", "headers_b",
        "lists_a", "lists_b", "bold_a", "bold_b", "reveal", "categories",
    )
    for (key, k, a, b, fa, fb, w, ts, wa, tsa, ea, eb, ta, tb, sa, sb, ha, hb, la, lb, ba,
         bb, reveal, categories) in rows.iterator(chunk_size=5000):
        yield BattleRecord(
            key=key, kind=k, model_a=a, model_b=b, family_a=fa, family_b=fb, winner=w, tstamp=ts.timestamp(),
            winner_after=wa or None, tstamp_after=tsa.timestamp() if wa and tsa else None, energy_a_j=ea,
            energy_b_j=eb, output_tokens_a=ta, output_tokens_b=tb, energy_source_a=sa, energy_source_b=sb,
            headers_a=ha, headers_b=hb, lists_a=la, lists_b=lb, bold_a=ba, bold_b=bb, reveal=reveal,
            categories=tuple(categories or ()),
        )


def _in_range(rows: QuerySet, kind_field: str, time_field: str, *, kind, start, end) -> QuerySet:
    """The rows of ``kind`` (when given) whose time is in [start, end) (each bound when given)."""
    if kind:
        rows = rows.filter(**{kind_field: kind})
    if start:
        rows = rows.filter(**{f"{time_field}__gte": start})
    if end:
        rows = rows.filter(**{f"{time_field}__lt": end})
    return rows


def battle_records(
    *, kind: str | None = None, start: dt.datetime | None = None, end: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Iterator[BattleRecord]:
    """Every counted battle with a vote (ours and imported), in time order of the first vote.

    A scan: O(votes). Named-mode battles, battles with an error or an identity leak never appear, nor
    battles still open to votes and not yet revealed (``arena.selectors.battles_public_q`` at ``now``).
    """
    own = _own_records(kind=kind, start=start, end=end, now=now)
    imported = _imported_records(kind=kind, start=start, end=end)
    return heapq.merge(own, imported, key=lambda r: r.tstamp)
