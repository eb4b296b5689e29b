"""Pages of training runs: the list, and one run's page with live curves (it polls the JSON view)."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from training.models import TrainingRun
from training.selectors import training_run_comparison, training_run_json, training_runs_recent


@require_GET
def runs_page(request: HttpRequest) -> HttpResponse:
    return render(request, "training/runs.html", {"runs": training_runs_recent()})


@require_GET
def run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun.objects.select_related("base__model", "model", "diagnostics_before",
                                                               "diagnostics_after"), id=run_id)
    return render(request, "training/run.html", {
        "run": run, "comparison": training_run_comparison(run=run), "state": training_run_json(run=run)})


@require_GET
def run_json(request: HttpRequest, run_id: int) -> JsonResponse:
    run = get_object_or_404(TrainingRun.objects.select_related("model", "diagnostics_before", "diagnostics_after"),
                            id=run_id)
    return JsonResponse(training_run_json(run=run))
