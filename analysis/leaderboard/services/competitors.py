"""Who the leaderboard ranks: a competitor per contender of this arena, or per name imported from a
battle log."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from analysis.models import (
    Competitor,
)


def competitor_for_contender(contender_id: int) -> Competitor:
    """The competitor of a contender, created on its first counted vote.

    An imported competitor of the same name (and no contender) is adopted, so that an imported
    log and live votes of the same contender share one line of the leaderboard.
    """
    from modelhub.models import Contender

    found = Competitor.objects.filter(contender_id=contender_id).first()
    if found:
        return found
    contender = Contender.objects.select_related("model").get(id=contender_id)
    family, kind = contender.model.family, contender.model.kind
    try:
        with transaction.atomic():
            adopted = Competitor.objects.filter(name=contender.name, contender__isnull=True).update(
                contender=contender, family=family, kind=kind
            )
            if not adopted:
                Competitor.objects.create(name=contender.name, family=family, kind=kind, contender=contender)
    except IntegrityError:
        pass  # a concurrent vote created it, or the name belongs to another (renamed) contender
    found = Competitor.objects.filter(contender_id=contender_id).first()
    if found:
        return found
    competitor, _ = Competitor.objects.get_or_create(
        name=f"{contender.name} (#{contender.id})", defaults={"family": family, "kind": kind, "contender": contender}
    )
    return competitor


def competitor_for_name(name: str, *, family: str, kind: str, cache: dict) -> Competitor:
    """The competitor of a name in an imported log: an existing one, a contender's, or a new one."""
    from modelhub.models import Contender

    if name in cache:
        return cache[name]
    competitor = Competitor.objects.filter(name=name).first()
    if competitor is None:
        contender = Contender.objects.filter(name=name, competitor__isnull=True).first()
        competitor = (
            competitor_for_contender(contender.id)
            if contender
            else Competitor.objects.get_or_create(name=name, defaults={"family": family, "kind": kind})[0]
        )
    elif family and not competitor.family:
        Competitor.objects.filter(id=competitor.id).update(family=family)
        competitor.family = family
    cache[name] = competitor
    return competitor
