"""System checks of the leaderboard's settings: a bad value is reported when the server or a worker
starts (and by ``manage.py check``), not first when a refit runs in the background."""

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured


@register()
def leaderboard_settings_check(app_configs=None, **kwargs) -> list[Error]:
    from analysis.leaderboard.selectors.fit_settings import prior_scale, provisional_battles

    errors = []
    for number, read in enumerate((prior_scale, provisional_battles), start=1):
        try:
            read()
        except ImproperlyConfigured as error:
            errors.append(Error(str(error), id=f"analysis.E00{number}"))
    return errors
