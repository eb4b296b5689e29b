"""Reads of the model hub."""

from django.db.models import Count, QuerySet

from modelhub.models import LANGUAGE_KINDS, Contender, Model


def contenders_ready(*, kind: str | None = None) -> QuerySet[Contender]:
    """Enabled contenders whose model is prepared, optionally of one model kind."""
    queryset = Contender.objects.filter(enabled=True, model__status=Model.Status.READY).select_related("model")
    if kind == "language":
        queryset = queryset.filter(model__kind__in=LANGUAGE_KINDS)
    elif kind:
        queryset = queryset.filter(model__kind=kind)
    return queryset


def models_not_ready() -> QuerySet[Model]:
    return Model.objects.exclude(status=Model.Status.READY)


def models_status(*, ids: list[int]) -> list[dict]:
    """Status, progress and error of some models: what the admin pages poll while they prepare."""
    rows = Model.objects.filter(id__in=ids).values("id", "status", "progress", "progress_text", "error")
    return [row | {"progress": round(row["progress"] * 100)} for row in rows]


def model_serving_precisions(*, model: Model) -> list[str]:
    """The precisions the model's enabled contenders run it in, most used first (float32 when it has
    none): the copies a worker loads and keeps warm."""
    rows = (
        Contender.objects.filter(model=model, enabled=True).values("precision")
        .annotate(n=Count("id")).order_by("-n", "precision")
    )
    return [row["precision"] for row in rows] or [Contender.Precision.FLOAT32]
