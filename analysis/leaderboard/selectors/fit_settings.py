"""How the leaderboard is fitted, from the settings: bootstrap rounds, the prior's scale, the
provisional threshold (checked at start: analysis/checks.py)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from analysis.leaderboard.ratings import prior_reg


def bootstrap_rounds() -> int:
    return settings.ANALYSIS_BOOTSTRAP_ROUNDS


def prior_scale() -> float:
    """``ANALYSIS_PRIOR_SCALE``: the Gaussian prior's scale in rating points (0: maximum likelihood).

    Raises ImproperlyConfigured, naming the setting, when it is negative or not a number.
    """
    value = settings.ANALYSIS_PRIOR_SCALE
    try:
        prior_reg(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(
            f"ANALYSIS_PRIOR_SCALE must be 0 (maximum likelihood) or a positive number of rating points, not {value!r}."
        ) from None
    return float(value)


def provisional_battles() -> int:
    """``ANALYSIS_PROVISIONAL_BATTLES``: contenders with fewer battles in a ladder are provisional there."""
    value = settings.ANALYSIS_PROVISIONAL_BATTLES
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(f"ANALYSIS_PROVISIONAL_BATTLES must be a whole number, 0 or more, not {value!r}.")
    return value


def fit_options() -> dict:
    """The settings of the Bradley-Terry fits, as ``board_compute`` keywords."""
    return {"prior": prior_scale(), "provisional": provisional_battles()}
