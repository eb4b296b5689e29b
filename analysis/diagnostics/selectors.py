"""Reads for the diagnostics pages: latest runs per contender, comparison figures, contender cards."""

from django.db.models import Avg, Count, Sum

from analysis.diagnostics.models import DiagnosticsRun
from analysis.jsonsafe import figure_json
from modelhub.models import Contender

METRIC_COLUMNS = [
    ("sts_spearman", "STS ρ×100", "Spearman of cosine similarity vs gold (MTEB); higher is better"),
    ("alignment", "Alignment", "mean ‖f(x)−f(y)‖² over STS pairs scored ≥ 4 (Wang & Isola); lower is better"),
    ("uniformity", "Uniformity", "log mean exp(−2‖f(x)−f(y)‖²) over all pairs; lower is more uniform"),
    ("isotropy", "Isotropy", "1 − mean cosine between token states of a text (Su & Collier); higher is better"),
    ("rankme", "RankMe", "effective rank of the embedding matrix (Garrido et al.)"),
    ("isoscore", "IsoScore", "how evenly variance spreads over dimensions, 0..1 (Rudman et al.)"),
    ("hubness_skewness", "Hubness", "skewness of k-occurrence, k=10; lower means fewer hubs"),
]


def runs_latest_per_contender() -> list[DiagnosticsRun]:
    """The newest finished run of each contender, plus any run in progress."""
    latest: dict[int, DiagnosticsRun] = {}
    for run in DiagnosticsRun.objects.filter(contender__isnull=False).select_related("contender__model"):
        if run.status in (DiagnosticsRun.Status.QUEUED, DiagnosticsRun.Status.RUNNING):
            continue
        latest.setdefault(run.contender_id, run)
    return sorted(latest.values(), key=lambda r: r.contender.name)


def runs_in_progress() -> list[DiagnosticsRun]:
    return list(
        DiagnosticsRun.objects.filter(status__in=[DiagnosticsRun.Status.QUEUED, DiagnosticsRun.Status.RUNNING])
        .select_related("contender")
    )


def run_progress_json(run: DiagnosticsRun) -> dict:
    return {
        "id": run.id,
        "contender": run.contender.name if run.contender else run.source_path,
        "status": run.status,
        "progress": round(run.progress, 3),
        "progress_text": run.progress_text,
        "error": run.error,
    }


def comparison_figures(runs: list[DiagnosticsRun]) -> dict:
    """Alignment-uniformity plane (Wang & Isola's figure) and the spectra overlaid."""
    import plotly.graph_objects as go

    plane = go.Figure()
    for run in runs:
        m = run.metrics
        if m.get("alignment") is not None and m.get("uniformity") is not None:
            plane.add_trace(go.Scatter(
                x=[m["alignment"]], y=[m["uniformity"]], mode="markers+text", name=run.contender.name,
                text=[run.contender.name], textposition="top center", marker={"size": 12},
            ))
    plane.update_layout(
        title="Alignment vs uniformity (lower-left is better)", xaxis_title="alignment (positive pairs)",
        yaxis_title="uniformity", height=420, showlegend=False, margin={"t": 50, "l": 60, "r": 20, "b": 50},
    )
    spectra = go.Figure()
    for run in runs:
        values = run.metrics.get("log_spectrum") or []
        if values:
            spectra.add_trace(go.Scatter(y=values, mode="lines", name=run.contender.name))
    spectra.update_layout(
        title="Spectrum of the embedding covariance (Jing et al.)", xaxis_title="index (descending)",
        yaxis_title="log singular value", height=420, margin={"t": 50, "l": 60, "r": 20, "b": 50},
    )
    return {"plane": figure_json(plane), "spectra": figure_json(spectra)}


def contender_card(*, contender: Contender) -> dict:
    """What the contender page shows: the model, energy per request, and its diagnostics.

    Energy counts only answers of battles the public may see (revealed, or closed to votes): the
    page must not tell which contenders a battle still being voted on drew, nor their joules.
    """
    from arena.models import Response
    from arena.selectors import responses_public

    done = responses_public().filter(contender=contender, status=Response.Status.DONE)
    energy = done.aggregate(
        responses=Count("id"), mean_joules=Avg("joules"), tokens=Sum("output_tokens"), total_joules=Sum("joules"),
    )
    per_token = energy["total_joules"] / energy["tokens"] if energy["tokens"] else None
    sources = sorted(set(done.exclude(energy_source="").values_list("energy_source", flat=True)))
    runs = list(contender.diagnostics_runs.all()[:10])
    latest = next((r for r in runs if r.status == DiagnosticsRun.Status.DONE), None)
    return {
        "contender": contender,
        "model": contender.model,
        "energy": {
            "responses": energy["responses"], "mean_joules": energy["mean_joules"],
            "joules_per_token": per_token, "sources": sources,
        },
        "runs": runs,
        "latest": latest,
        "figures": comparison_figures([latest]) if latest else None,
        "ratings": contender_ratings(name=contender.name),
    }


def contender_ratings(*, name: str) -> list[dict]:
    """This contender's rows on the latest leaderboard snapshot (blind and energy-aware ladders)."""
    from analysis.leaderboard.selectors.boards import snapshot_latest

    snapshot = snapshot_latest()
    if snapshot is None:
        return []
    return [
        {"kind": kind, "ladder": ladder, **row}
        for kind, board in snapshot.data.get("boards", {}).items()
        for ladder, fitted in board.get("ladders", {}).items()
        for row in fitted.get("rows", [])
        if row.get("name") == name
    ]
