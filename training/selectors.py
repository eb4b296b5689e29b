"""Reads of the training app."""

from django.db.models import QuerySet

from training.models import TrainingRun

COMPARED = [("sts_spearman", "STS Spearman"), ("alignment", "Alignment"), ("uniformity", "Uniformity"),
            ("isotropy", "Isotropy"), ("rankme", "RankMe")]


def training_runs_recent(limit: int = 50) -> QuerySet:
    return TrainingRun.objects.select_related("base", "model")[:limit]


def training_run_comparison(*, run: TrainingRun) -> list[dict]:
    """The diagnostics before and after the training, metric by metric (None where not measured)."""
    before = run.diagnostics_before.metrics if run.diagnostics_before else {}
    after = run.diagnostics_after.metrics if run.diagnostics_after else {}
    return [{"key": key, "title": title, "before": before.get(key), "after": after.get(key)}
            for key, title in COMPARED if key in before or key in after]


def training_run_json(*, run: TrainingRun) -> dict:
    """What the run page polls: state, progress, time left, curves, energy and, once done, the comparison."""
    return {
        "id": run.id, "name": run.name, "status": run.status, "finished": run.finished,
        "progress": run.progress, "progress_text": run.progress_text, "error": run.error,
        "step": run.step, "total_steps": run.total_steps, "seconds_left": run.seconds_left,
        "curves": run.curves, "joules": run.joules, "energy_source": run.energy_source,
        "energy_method": run.energy_method, "seconds": run.seconds, "resumed_from": run.resumed_from,
        "contender_url": (f"/models/{run.model.contenders.first().slug}/"
                          if run.model_id and run.model.contenders.exists() else None),
        "comparison": training_run_comparison(run=run),
    }
