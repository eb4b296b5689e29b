"""System checks of the arena's settings: run at start (`manage.py runarena`, `check`), so a mistake
in the environment stops the arena with the variable's name instead of failing a battle later."""

from django.conf import settings
from django.core import checks

from arena.reveal import CARBON, conditions_parse


@checks.register(checks.Tags.compatibility)
def reveal_conditions_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    try:
        mix = conditions_parse(settings.ARENA_REVEAL_CONDITIONS)
    except ValueError as error:
        return [checks.Error(
            f"ARENA_REVEAL_CONDITIONS={settings.ARENA_REVEAL_CONDITIONS!r}: {error}",
            hint="Comma-separated condition=weight with positive weights, e.g. joules=1,relative=1,control=1.",
            id="arena.E001",
        )]
    if CARBON in mix and not settings.ARENA_GRID_INTENSITY_G_PER_KWH > 0:
        return [checks.Error(
            "ARENA_REVEAL_CONDITIONS holds 'carbon', but ARENA_GRID_INTENSITY_G_PER_KWH (the grid's grams of CO2e "
            "per kWh) is not set to a positive number.",
            hint="Set ARENA_GRID_INTENSITY_G_PER_KWH, e.g. 400, or leave carbon out of the mix.",
            id="arena.E002",
        )]
    return []
