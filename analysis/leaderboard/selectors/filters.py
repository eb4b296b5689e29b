"""What a leaderboard request asks for (kind, date range): parsed from the query string and checked."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings

from analysis.leaderboard.battle_log import DEFAULT_KIND
from arena.choices import RANKED_KINDS


@dataclass(frozen=True)
class Filters:
    kind: str = DEFAULT_KIND
    since: dt.date | None = None
    until: dt.date | None = None
    retired: str = "show"  # "hide": leave out the rows of retired (disabled) contenders
    category: str | None = None  # one category's ladder (arena.categories), from its daily sums

    @property
    def has_dates(self) -> bool:
        return self.since is not None or self.until is not None

    @property
    def from_sums(self) -> bool:
        """A board fitted for the request from the daily sums (a date range, a category), not the live one."""
        return self.has_dates or self.category is not None

    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """[start, end) in UTC; ``until`` is inclusive."""
        start = dt.datetime.combine(self.since, dt.time(), tzinfo=dt.UTC) if self.since else None
        # The last day of the calendar has no day after it: no upper bound then.
        if self.until and self.until < dt.date.max:
            end = dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        else:
            end = None
        return start, end

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "retired": self.retired,
            "category": self.category,
        }


def ranked_kind_choices() -> list[tuple[str, str]]:
    """(value, label) of the kinds a leaderboard ranks (``arena.choices.RANKED_KINDS``), for a form."""
    from modelhub.models import Model

    labels = dict(Model.Kind.choices)
    return [(kind, labels.get(kind, kind)) for kind in RANKED_KINDS]


RETIRED_CHOICES = ("show", "hide")


def filters_parse(
    *, kind: str | None = None, since: str | None = None, until: str | None = None, retired: str | None = None,
    category: str | None = None,
) -> Filters:
    """Filters from query strings; ValueError with a message for a person."""
    from modelhub.models import Model

    kind = (kind or DEFAULT_KIND).strip()
    if kind not in RANKED_KINDS:
        ranked = ", ".join(RANKED_KINDS)
        if kind in Model.Kind.values:
            raise ValueError(
                f"{kind.capitalize()} models are not ranked: anonymous battles never draw them (their "
                f"side-by-side comparisons are picked by name). Use one of {ranked}."
            )
        raise ValueError(f"Unknown kind {kind!r}: use one of {ranked}.")
    dates = []
    for label, value in (("since", since), ("until", until)):
        value = (value or "").strip()
        if not value:
            dates.append(None)
            continue
        try:
            dates.append(dt.date.fromisoformat(value))
        except ValueError:
            raise ValueError(f"{label} must be a date like 2025-01-31, not {value!r}.") from None
    if dates[0] and dates[1] and dates[0] > dates[1]:
        raise ValueError("The start date is after the end date.")
    retired = (retired or "show").strip()
    if retired not in RETIRED_CHOICES:
        raise ValueError(f"retired must be show or hide, not {retired!r}.")
    category = (category or "").strip() or None
    if category is not None and category not in (known := category_names()):
        raise ValueError(f"Unknown category {category!r}: use one of {', '.join(known)}.")
    return Filters(kind, dates[0], dates[1], retired, category)


def category_names() -> list[str]:
    """The categories a ladder can be asked for: the tagger's topical ones and every one with votes."""
    from analysis.models import CategoryPairCount
    from arena.categories import CODING, LONG_QUERY, MATH, MULTI_TURN

    counted = CategoryPairCount.objects.values_list("category", flat=True).distinct()
    return sorted({CODING, MATH, LONG_QUERY, MULTI_TURN, *counted})


def filtered_cache_s() -> int:
    return settings.ANALYSIS_FILTERED_CACHE_S
