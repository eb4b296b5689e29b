from django.conf import settings
from django.contrib import admin

from arena.models import Battle, Response, Vote


class ResponseInline(admin.TabularInline):
    model = Response
    extra = 0
    can_delete = False
    fields = [
        "side", "contender", "status", "output_tokens", "duration_s", "joules", "energy_source", "device", "error"
    ]
    readonly_fields = fields


@admin.register(Battle)
class BattleAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "mode", "policy", "contender_a", "contender_b", "has_error", "identity_leak",
                    "vote_summary"]
    list_filter = ["mode", "policy", "has_error", "identity_leak"]
    search_fields = ["prompt"]
    readonly_fields = ["prompt", "contender_a", "contender_b", "policy", "mode", "session_key", "client_ip",
                       "created_at"]
    inlines = [ResponseInline]

    @admin.display(description="Vote")
    def vote_summary(self, obj: Battle) -> str:
        vote = getattr(obj, "vote", None)
        if vote is None:
            return "-"
        return f"{vote.blind_choice} → {vote.final_choice or '…'}"

    def changelist_view(self, request, extra_context=None):
        extra_context = (extra_context or {}) | {
            "title": f"Battles · sampling policy in force: {settings.ARENA_SAMPLING_POLICY} (ARENA_SAMPLING_POLICY)"
        }
        return super().changelist_view(request, extra_context)


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ["battle", "blind_choice", "final_choice", "changed", "blind_at", "final_at"]
    list_filter = ["blind_choice", "final_choice", "changed"]
    readonly_fields = ["battle", "blind_choice", "final_choice", "changed", "blind_at", "final_at"]
