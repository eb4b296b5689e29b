"""What the analysis hands to browsers and to the API as JSON: plain Python, no Django.

JSON has no NaN or Infinity, and a plotly figure is sent as the plain dict that the bundled
plotly.js draws.
"""

from __future__ import annotations

import json
import math


def json_float(value: float) -> float | None:
    """``value`` as a float, or None when it is not finite (strict JSON parsers, and browsers, read None)."""
    value = float(value)
    return value if math.isfinite(value) else None


def figure_json(fig) -> dict:
    """A plotly figure as plain JSON data (the figure was validated when it was built)."""
    import plotly.io as pio

    return json.loads(pio.to_json(fig, validate=False))
