from django.contrib import admin, messages

from analysis.leaderboard.services.rebuild import aggregates_rebuild
from analysis.leaderboard.services.refit import leaderboard_refit
from analysis.models import BattleContext, Competitor, ImportedBattle, LeaderboardSnapshot, PairCount
from workers.admin import DescribedAdmin, measured

# "Competitors" beside "Contenders" read as one thing twice: the admin names the ranked rows as the
# glossary defines them (docs/glossary.md).

STYLE_COUNTS = ["headers_a", "headers_b", "lists_a", "lists_b", "bold_a", "bold_b"]


class EnergiesShown:
    """Both answers' energies of a battle row, rounded."""

    @admin.display(description="Energy of A", ordering="energy_a_j")
    def energy_a(self, obj: BattleContext | ImportedBattle) -> str:
        return measured(obj.energy_a_j, "J")

    @admin.display(description="Energy of B", ordering="energy_b_j")
    def energy_b(self, obj: BattleContext | ImportedBattle) -> str:
        return measured(obj.energy_b_j, "J")


@admin.register(Competitor)
class CompetitorAdmin(DescribedAdmin):
    """The leaderboard makes these rows (a contender's first counted vote, an imported log): no add page."""

    description = ("What the leaderboard ranks: a name on its ladders. Either a contender of this arena (linked; the "
                   "leaderboard shows its contender's name and page) or a name from an imported battle log, which "
                   "has no contender. To change how a model runs, edit its contender under Model hub.")
    list_display = ["name", "kind", "family", "contender"]
    list_filter = ["kind", "family"]
    search_fields = ["name", "family"]
    readonly_fields = ["contender"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(PairCount)
class PairCountAdmin(DescribedAdmin):
    """Read-only: the counts move with votes (or a rebuild); one row per key and UTC day."""

    description = ("Votes counted per ladder, pair of leaderboard competitors, outcome and UTC day: the input of the "
                   "Bradley-Terry fit. Votes move them; nobody edits them.")
    list_display = ["day", "ladder", "competitor_a", "competitor_b", "outcome", "count"]
    list_filter = ["ladder", "outcome"]
    list_select_related = ["competitor_a", "competitor_b"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BattleContext)
class BattleContextAdmin(EnergiesShown, DescribedAdmin):
    """Read-only: one row per counted battle, kept with the counts (style control, the price of energy)."""

    description = ("One row per counted battle as the style-controlled fit and the price of energy see it: both "
                   "votes, answer lengths, markdown counts and energies. Kept with the counts; nobody edits them.")
    list_display = ["tstamp", "kind", "competitor_a", "competitor_b", "winner", "winner_after", "energy_a",
                    "energy_b"]
    list_filter = ["kind", "winner"]
    list_select_related = ["competitor_a", "competitor_b"]
    raw_id_fields = ["battle"]
    fields = ["tstamp", "kind", "battle", "competitor_a", "competitor_b", "winner", "winner_after", "tokens_a",
              "tokens_b", "energy_a", "energy_b", *STYLE_COUNTS]
    readonly_fields = ["energy_a", "energy_b"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ImportedBattle)
class ImportedBattleAdmin(EnergiesShown, DescribedAdmin):
    description = ("Battles from an imported battle log (FastChat format). Their names are leaderboard competitors "
                   "without a contender; importing never creates contenders.")
    list_display = ["source_key", "competitor_a", "competitor_b", "winner", "winner_after", "energy_a", "energy_b",
                    "tstamp"]
    list_filter = ["kind", "winner"]
    list_select_related = ["competitor_a", "competitor_b"]
    search_fields = ["source_key", "competitor_a__name", "competitor_b__name"]
    fields = ["source_key", "kind", "competitor_a", "competitor_b", "winner", "winner_after", "tstamp",
              "tstamp_after", "output_tokens_a", "output_tokens_b", "energy_a", "energy_b", "energy_source_a",
              "energy_source_b", *STYLE_COUNTS, "imported_at"]
    readonly_fields = ["energy_a", "energy_b", "imported_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LeaderboardSnapshot)
class LeaderboardSnapshotAdmin(DescribedAdmin):
    description = ("The latest refits of the leaderboard: both ladders of every kind, energy and switch statistics, "
                   "figures. The leaderboard page shows the newest; the actions refit or rebuild it now.")
    list_display = ["computed_at", "fit_time"]
    exclude = ["data", "seconds"]
    readonly_fields = ["computed_at", "fit_time"]
    actions = ["refit_now", "rebuild_counts"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Fit time", ordering="seconds")
    def fit_time(self, obj: LeaderboardSnapshot) -> str:
        return measured(obj.seconds, "s")

    @admin.action(description="Refit the leaderboard now")
    def refit_now(self, request, queryset) -> None:
        snapshot = leaderboard_refit()
        messages.info(request, f"Refitted in {snapshot.seconds:.2f} s.")

    @admin.action(description="Rebuild the counts from every vote, then refit")
    def rebuild_counts(self, request, queryset) -> None:
        result = aggregates_rebuild()
        leaderboard_refit()
        messages.info(request, f"Rebuilt from {result.battles} battles ({result.pair_rows} pair-outcome rows).")
