from django.contrib import admin, messages

from analysis.leaderboard.services.rebuild import aggregates_rebuild
from analysis.leaderboard.services.refit import leaderboard_refit
from analysis.models import BattleContext, Competitor, ImportedBattle, LeaderboardSnapshot, PairCount


@admin.register(Competitor)
class CompetitorAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "family", "contender"]
    list_filter = ["kind", "family"]
    search_fields = ["name", "family"]
    readonly_fields = ["contender"]


@admin.register(PairCount)
class PairCountAdmin(admin.ModelAdmin):
    """Read-only: the counts move with votes (or a rebuild); one row per key and UTC day."""

    list_display = ["day", "ladder", "competitor_a", "competitor_b", "outcome", "count"]
    list_filter = ["ladder", "outcome"]
    list_select_related = ["competitor_a", "competitor_b"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BattleContext)
class BattleContextAdmin(admin.ModelAdmin):
    """Read-only: one row per counted battle, kept with the counts (style control, the price of energy)."""

    list_display = ["tstamp", "kind", "competitor_a", "competitor_b", "winner", "winner_after"]
    list_filter = ["kind", "winner"]
    list_select_related = ["competitor_a", "competitor_b"]
    raw_id_fields = ["battle"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ImportedBattle)
class ImportedBattleAdmin(admin.ModelAdmin):
    list_display = ["source_key", "competitor_a", "competitor_b", "winner", "winner_after", "tstamp"]
    list_filter = ["kind", "winner"]
    list_select_related = ["competitor_a", "competitor_b"]
    search_fields = ["source_key", "competitor_a__name", "competitor_b__name"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LeaderboardSnapshot)
class LeaderboardSnapshotAdmin(admin.ModelAdmin):
    list_display = ["computed_at", "seconds"]
    exclude = ["data"]
    readonly_fields = ["computed_at", "seconds"]
    actions = ["refit_now", "rebuild_counts"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Refit the leaderboard now")
    def refit_now(self, request, queryset) -> None:
        snapshot = leaderboard_refit()
        messages.info(request, f"Refitted in {snapshot.seconds:.2f} s.")

    @admin.action(description="Rebuild the counts from every vote, then refit")
    def rebuild_counts(self, request, queryset) -> None:
        result = aggregates_rebuild()
        leaderboard_refit()
        messages.info(request, f"Rebuilt from {result.battles} battles ({result.pair_rows} pair-outcome rows).")
