from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html

from workers.models import WorkerHeartbeat
from workers.selectors import worker_is_alive


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    """Read-only: workers write these rows themselves (workers/signals.py)."""

    list_display = ["hostname", "state", "last_seen_ago", "models_display", "queues_display", "active_tasks",
                    "device", "machine", "pid", "started_at"]
    search_fields = ["hostname", "machine"]

    @admin.display(description="State")
    def state(self, obj: WorkerHeartbeat) -> str:
        label = "stopped" if obj.stopped_at else ("alive" if worker_is_alive(obj) else "lost")
        return format_html('<span class="worker-state worker-state-{}">{}</span>', label, label)

    @admin.display(description="Last heartbeat", ordering="last_seen")
    def last_seen_ago(self, obj: WorkerHeartbeat) -> str:
        return f"{(timezone.now() - obj.last_seen).total_seconds():.0f} s ago"

    @admin.display(description="Models loaded")
    def models_display(self, obj: WorkerHeartbeat) -> str:
        return ", ".join(obj.models_loaded) or "-"

    @admin.display(description="Queues")
    def queues_display(self, obj: WorkerHeartbeat) -> str:
        return ", ".join(obj.queues) or "-"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
