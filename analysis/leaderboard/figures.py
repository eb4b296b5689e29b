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


# where a point's label may go (plotly's textposition, in order of preference) and its direction
_LABEL_SPOTS = (("top center", (0, 1)), ("bottom center", (0, -1)), ("middle right", (1, 0)), ("middle left", (-1, 0)))
# a label's size and a marker's radius, as fractions of the plot's width and height
_LABEL_W, _LABEL_H, _MARKER = 0.2, 0.06, 0.02


def label_positions(points: list[tuple[float, float]]) -> list[str]:
    """A plotly ``textposition`` for each (x, y) point, chosen so labels overlap less: greedily, in
    order, each label goes to the first spot (above, below, right, left) whose box, on axes scaled to
    [0, 1], covers the fewest markers and labels placed before it (a label counting twice). A label
    beside a point never runs off the plot's left or right edge."""
    if not points:
        return []
    xs, ys = [p[0] for p in points], [p[1] for p in points]

    def scale(v: float, lo: float, hi: float) -> float:
        return (v - lo) / (hi - lo) if hi > lo else 0.5

    unit = [(scale(x, min(xs), max(xs)), scale(y, min(ys), max(ys))) for x, y in points]
    w, h = _LABEL_W / 2, _LABEL_H / 2
    placed: list[tuple[float, float]] = []  # the centres of the labels placed so far
    positions = []
    for i, (x, y) in enumerate(unit):
        others = unit[:i] + unit[i + 1:]

        def cost(spot: tuple[str, tuple[int, int]], x=x, y=y, others=others) -> float:
            dx, dy = spot[1]
            cx, cy = x + dx * (w + _MARKER), y + dy * (h + _MARKER)
            if dx and (cx + w > 1.05 or cx - w < -0.05):
                return math.inf
            near = w + _MARKER - 1e-9, h + _MARKER - 1e-9  # a box that only touches a marker does not cover it
            hits = sum(abs(cx - px) < near[0] and abs(cy - py) < near[1] for px, py in others)
            # a label over another label hides text: worse than one over a marker
            return hits + 2 * sum(abs(cx - lx) < 2 * w and abs(cy - ly) < 2 * h for lx, ly in placed)

        name, (dx, dy) = min(_LABEL_SPOTS, key=cost)  # ties: the first, by preference
        placed.append((x + dx * (w + _MARKER), y + dy * (h + _MARKER)))
        positions.append(name)
    return positions


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
    points = {ladder: [] for ladder in LADDERS}
    for ladder in LADDERS:
        for row in board["ladders"][ladder]["rows"]:
            e = energy.get(row["name"], {})
            if row["rating"] is not None and e.get("joules_mean") is not None:
                points[ladder].append((row, e))
    # every point is labelled with its contender's name, placed across both ladders to overlap less
    spots = label_positions([(e["joules_mean"], r["rating"]) for lad in LADDERS for r, e in points[lad]])
    for ladder in LADDERS:
        if points[ladder]:
            _ladder_traces(scatter, ladder, points[ladder], spots[: len(points[ladder])])
            spots = spots[len(points[ladder]):]
    scatter.update_layout(
        title="Rating against energy per response", xaxis_title="mean energy per response (J)",
        yaxis_title="rating (higher: preferred more often)", template="none",
        margin={"t": 50, "r": 20, "b": 50, "l": 60},
        legend={"orientation": "h", "y": -0.2}, xaxis={"automargin": True}, yaxis={"automargin": True},
    )
    return figure_json(scatter)


def _ladder_traces(scatter, ladder: str, points: list[tuple[dict, dict]], spots: list[str]) -> None:
    """One ladder's contenders (rating and energy, with their intervals; each labelled with its name
    at ``spots``, plotly textpositions) and its Pareto frontier."""
    import plotly.graph_objects as go

    scatter.add_trace(go.Scatter(
        x=[e["joules_mean"] for _, e in points], y=[r["rating"] for r, _ in points], mode="markers+text",
        name=f"{LADDER_LABELS[ladder]} ladder", marker={"size": 10, "color": _COLOURS[ladder]},
        text=[_label(r["name"]) for r, _ in points], textposition=spots,
        textfont={"size": 11, "color": _COLOURS[ladder]}, cliponaxis=False,
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
