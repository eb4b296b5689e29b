"""`manage.py import_battles FILE`: load a battle log into the database (idempotent)."""

from django.core.management.base import BaseCommand, CommandError

from analysis.leaderboard.battle_log import DEFAULT_KIND, BattleLogError
from analysis.leaderboard.services.rebuild import battles_import


class Command(BaseCommand):
    help = (
        "Import a battle log (FastChat clean-battle fields model_a, model_b, winner, tstamp; optionally our "
        "energy fields and winner_after_energy) so that its battles count in the leaderboard. Importing the "
        "same file again adds nothing; battles exported from this database are recognised and skipped."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="A .jsonl (one battle per line) or .json (array) battle log.")
        parser.add_argument(
            "--kind", default=DEFAULT_KIND, help="Kind of battles without a 'kind' field (default chat)."
        )

    def handle(self, *args, **options) -> None:
        try:
            result = battles_import(path=options["file"], kind=options["kind"])
        except BattleLogError as error:
            raise CommandError(f"Nothing imported: {error}") from None
        self.stdout.write(
            f"Read {result.read} battles: {result.imported} imported, {result.already_present} already present, "
            f"{result.local} from this database (skipped), {result.skipped_named} named battles left out."
        )
