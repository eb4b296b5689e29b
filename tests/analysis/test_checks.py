import pytest
from django.core.checks import run_checks


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [("ANALYSIS_PRIOR_SCALE", -1.0, "ANALYSIS_PRIOR_SCALE must be 0"),
     ("ANALYSIS_PRIOR_SCALE", float("nan"), "ANALYSIS_PRIOR_SCALE must be 0"),
     ("ANALYSIS_PROVISIONAL_BATTLES", -3, "ANALYSIS_PROVISIONAL_BATTLES must be a whole number")],
)
def test_a_bad_leaderboard_setting_is_reported_at_start(settings, setting, value, words):
    setattr(settings, setting, value)
    errors = [e for e in run_checks() if e.id.startswith("analysis.")]
    assert len(errors) == 1 and words in errors[0].msg


def test_good_leaderboard_settings_pass(settings):
    settings.ANALYSIS_PRIOR_SCALE = 0  # maximum likelihood is allowed
    assert not [e for e in run_checks() if e.id.startswith("analysis.")]
