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
