"""JSON-safe values: finite floats or None, and plotly figures as plain data."""

import json
import math

import numpy as np
import plotly.graph_objects as go

from analysis.jsonsafe import figure_json, json_float


def test_json_float_keeps_finite_numbers_and_drops_the_rest():
    assert json_float(1.5) == 1.5 and type(json_float(np.float64(2.0))) is float
    assert json_float(3) == 3.0
    assert json_float(math.nan) is None and json_float(np.inf) is None and json_float(-math.inf) is None


def test_figure_json_is_the_figure_as_plain_data():
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name="<b>x</b>"))
    data = figure_json(fig)
    assert data == json.loads(fig.to_json())
    assert data["data"][0]["y"] == [3, 4] and data["data"][0]["name"] == "<b>x</b>"
    json.dumps(data, allow_nan=False)
