"""Pages of representation diagnostics: the comparison, contender cards, live progress."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from analysis.diagnostics.selectors import (
    METRIC_COLUMNS,
    comparison_figures,
    contender_card,
    run_progress_json,
    runs_in_progress,
    runs_latest_per_contender,
)
from analysis.diagnostics.services import diagnostics_run_queue
from modelhub.models import Contender
from modelhub.selectors import contenders_ready


def _rows(runs) -> list[dict]:
    return [
        {"run": run, "values": [run.metrics.get(key) for key, _, _ in METRIC_COLUMNS]}
        for run in runs
    ]


@require_GET
def diagnostics_page(request: HttpRequest) -> HttpResponse:
    runs = runs_latest_per_contender()
    context = {
        "columns": METRIC_COLUMNS,
        "rows": _rows(runs),
        "figures": comparison_figures(runs) if runs else None,
        "in_progress": runs_in_progress(),
        "contenders": contenders_ready(),
    }
    return render(request, "analysis/diagnostics.html", context)


@require_GET
def diagnostics_progress(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"runs": [run_progress_json(run) for run in runs_in_progress()]})


@require_POST
@staff_member_required
def diagnostics_start(request: HttpRequest) -> HttpResponse:
    contender = Contender.objects.filter(slug=request.POST.get("contender", "")).select_related("model").first()
    if contender is None or contender not in contenders_ready():
        messages.error(request, "That contender is not ready for diagnostics.")
    elif contender.model.is_engine_served:
        messages.error(request, f"{contender.name} is served by an inference engine, whose API gives text, not the "
                                "hidden states the diagnostics read.")
    else:
        run = diagnostics_run_queue(contender=contender)
        run.refresh_from_db()
        if run.status == run.Status.FAILED:  # the job queue refused it
            messages.error(request, run.error)
        else:
            messages.info(request, f"Diagnostics of {contender.name} queued; progress shows below.")
    return redirect("diagnostics")


@require_GET
def contender_page(request: HttpRequest, slug: str) -> HttpResponse:
    contender = get_object_or_404(Contender.objects.select_related("model"), slug=slug)
    card = contender_card(contender=contender)
    metrics = card["latest"].metrics if card["latest"] else {}
    card["metric_rows"] = [
        {"title": title, "help": help_text, "value": metrics.get(key)} for key, title, help_text in METRIC_COLUMNS
    ]
    return render(request, "analysis/contender.html", card)

