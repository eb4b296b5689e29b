"""The leaderboard's figures: plotly figure JSON, drawn in the browser by the bundled plotly.min.js.

Plain Python (plotly, no Django): built from a computed board (``board.board_compute``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable

from analysis.jsonsafe import figure_json
from arena.choices import BLIND, ENERGY, LADDERS

LADDER_LABELS = {BLIND: "blind", ENERGY: "energy-aware"}
_COLOURS = {BLIND: "#2f5fb3", ENERGY: "#1f6b43"}


def pareto_frontier(points: Iterable[tuple[str, float, float]]) -> list[str]:
    """Names on the frontier of (energy, rating): nobody uses at most as much energy with at least
    as high a rating (one of them strictly). Ordered by energy."""
    pts = sorted(((e, -r, name) for name, e, r in points), key=lambda p: (p[0], p[1], p[2]))
    frontier, best = [], -math.inf
    for _energy, neg_rating, name in pts:
        rating = -neg_rating
        if rating > best:
            frontier.append(name)
            best = rating
    return frontier


def _label(name: str) -> str:
    # plotly reads a few HTML-like tags in labels: names are shown as text, never as markup
    return html.escape(name, quote=False)


def figures_build(board: dict) -> dict:
    """Rating against energy per response (with the Pareto frontier of each ladder) and the
    win-rate and battle-count heatmaps of each ladder."""
    figures = {"energy_scatter": _energy_scatter(board)}
    for ladder in LADDERS:
        m = board["matrices"][ladder]
        labels = [_label(n) for n in m["names"]]
        figures[f"win_rate_{ladder}"] = _heatmap(
            m["win_rate"], labels, f"Win rate, {LADDER_LABELS[ladder]} ladder (row beats column; ties left out)",
            zmin=0, zmax=1, colorscale="RdBu",
            hovertemplate="%{y} beat %{x} in %{z:.0%} of decisive battles<extra></extra>",
        )
        figures[f"battles_{ladder}"] = _heatmap(
            m["battles"], labels, f"Battles per pair, {LADDER_LABELS[ladder]} ladder", colorscale="Blues",
            hovertemplate="%{y} and %{x}: %{z} battles<extra></extra>",
        )
    return figures


def _energy_scatter(board: dict) -> dict:
    import plotly.graph_objects as go

    energy = {row["name"]: row for row in board["energy"]}
    scatter = go.Figure()
    for ladder in LADDERS:
        points = []
        for row in board["ladders"][ladder]["rows"]:
            e = energy.get(row["name"], {})
            if row["rating"] is not None and e.get("joules_mean") is not None:
                points.append((row, e))
        if points:
            _ladder_traces(scatter, ladder, points)
    scatter.update_layout(
        title="Rating against energy per response", xaxis_title="mean energy per response (J)",
        yaxis_title="Bradley-Terry rating", template="none", margin={"t": 50, "r": 20, "b": 50, "l": 60},
        legend={"orientation": "h", "y": -0.2}, xaxis={"automargin": True}, yaxis={"automargin": True},
    )
    return figure_json(scatter)


def _ladder_traces(scatter, ladder: str, points: list[tuple[dict, dict]]) -> None:
    """One ladder's contenders (rating and energy, with their intervals) and its Pareto frontier."""
    import plotly.graph_objects as go

    scatter.add_trace(go.Scatter(
        x=[e["joules_mean"] for _, e in points], y=[r["rating"] for r, _ in points], mode="markers",
        name=f"{LADDER_LABELS[ladder]} ladder", marker={"size": 10, "color": _COLOURS[ladder]},
        text=[_label(r["name"]) for r, _ in points],
        error_y={"type": "data", "symmetric": False,
                 "array": [r["upper"] - r["rating"] for r, _ in points],
                 "arrayminus": [r["rating"] - r["lower"] for r, _ in points], "thickness": 1},
        error_x={"type": "data", "symmetric": False,
                 "array": [(e["joules_upper"] - e["joules_mean"]) if e["joules_upper"] is not None else 0
                           for _, e in points],
                 "arrayminus": [(e["joules_mean"] - e["joules_lower"]) if e["joules_lower"] is not None else 0
                                for _, e in points], "thickness": 1},
        hovertemplate="%{text}<br>rating %{y:.0f}<br>%{x:.3g} J per response<extra></extra>",
    ))
    frontier = pareto_frontier((r["name"], e["joules_mean"], r["rating"]) for r, e in points)
    lookup = {r["name"]: (e["joules_mean"], r["rating"]) for r, e in points}
    scatter.add_trace(go.Scatter(
        x=[lookup[n][0] for n in frontier], y=[lookup[n][1] for n in frontier],
        mode="lines", line={"dash": "dash", "color": _COLOURS[ladder], "shape": "hv"},
        name=f"Pareto frontier ({LADDER_LABELS[ladder]})", hoverinfo="skip",
    ))


def _heatmap(z: list[list], labels: list[str], title: str, *, colorscale: str, **trace) -> dict:
    """A contender-by-contender matrix (rows and columns in the board's order), as the plain figure
    JSON that ``figure_json(go.Figure(go.Heatmap(...)))`` gives (tested): building it through plotly's
    validating objects cost 0.15 s per matrix of 50 contenders, most of a date-filtered board's time."""
    from plotly.colors import get_colorscale

    scale = [[round(position, 12), colour] for position, colour in get_colorscale(colorscale)]
    return {
        "data": [{"colorscale": scale, **trace, "x": labels, "y": labels, "z": z, "type": "heatmap"}],
        "layout": {
            "template": {"data": {"scatter": [{"type": "scatter"}]}},  # what template="none" serialises to
            "margin": {"t": 50},
            "xaxis": {"automargin": True},
            "yaxis": {"autorange": "reversed", "automargin": True},
            "title": {"text": title},
        },
    }
