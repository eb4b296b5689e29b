"""The figures of the leaderboard."""

from analysis.leaderboard.figures import pareto_frontier


def test_pareto_frontier():
    points = [("a", 1.0, 1000.0), ("b", 2.0, 1100.0), ("c", 3.0, 1050.0), ("d", 2.0, 900.0), ("e", 4.0, 1200.0),
              ("f", 1.0, 950.0)]
    assert pareto_frontier(points) == ["a", "b", "e"]
    assert pareto_frontier([]) == []


def test_heatmap_is_the_figure_plotly_builds():
    import plotly.graph_objects as go

    from analysis.jsonsafe import figure_json
    from analysis.leaderboard.figures import _heatmap

    labels = ["a &lt; b", "c"]
    trace = {"zmin": 0, "zmax": 1, "hovertemplate": "%{z}<extra></extra>"}
    built = _heatmap([[None, 0.25], [0.75, None]], labels, "Win rate", colorscale="RdBu", **trace)
    fig = go.Figure(go.Heatmap(z=[[None, 0.25], [0.75, None]], x=labels, y=labels, colorscale="RdBu", **trace))
    fig.update_layout(title="Win rate", template="none", margin={"t": 50},
                      xaxis={"automargin": True}, yaxis={"autorange": "reversed", "automargin": True})
    assert built == figure_json(fig)


def test_every_point_of_the_energy_plot_is_labelled_with_its_name(style_records):
    from analysis.leaderboard.board import board_compute, board_inputs_from_records

    board = board_compute(board_inputs_from_records(style_records(200))["chat"], rounds=2, prior=400)
    points = [trace for trace in board["figures"]["energy_scatter"]["data"] if trace.get("mode") == "markers+text"]
    assert [trace["name"] for trace in points] == ["blind ladder", "energy-aware ladder"]
    for trace in points:
        assert sorted(trace["text"]) == ["Long", "Other", "Short"]  # shown by the point, not only on hover
        assert len(trace["textposition"]) == 3
        assert set(trace["textposition"]) <= {"top center", "bottom center", "middle right", "middle left"}


def test_label_positions_keep_labels_apart():
    from analysis.leaderboard.figures import label_positions

    assert label_positions([]) == []
    assert label_positions([(1.0, 1000.0)]) == ["top center"]
    same = label_positions([(1.0, 1000.0), (1.0, 1000.0)])
    assert same[0] != same[1]  # two points at one place: their labels go different ways
    # a point just above another: the upper one's label above it, the lower one's below
    assert label_positions([(1.0, 1000.0), (3.0, 900.0), (2.0, 960.0), (2.0, 955.0)]) == [
        "top center", "top center", "top center", "bottom center"]
    # a stack of close points at the right edge: labels go left, never off the plot to the right
    stack = label_positions([(0.0, 1.0)] + [(1.0, 0.01 * i) for i in range(5)])
    assert "middle left" in stack and "middle right" not in stack
