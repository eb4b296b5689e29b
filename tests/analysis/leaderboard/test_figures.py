"""The figures of the leaderboard."""

from analysis.leaderboard.figures import pareto_frontier


def test_pareto_frontier():
    points = [("a", 1.0, 1000.0), ("b", 2.0, 1100.0), ("c", 3.0, 1050.0), ("d", 2.0, 900.0), ("e", 4.0, 1200.0),
              ("f", 1.0, 950.0)]
    assert pareto_frontier(points) == ["a", "b", "e"]
    assert pareto_frontier([]) == []
