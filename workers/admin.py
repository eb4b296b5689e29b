from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html

from workers.models import WorkerHeartbeat
from workers.selectors import worker_is_alive

# What the apps' admins share: a sentence on each list page saying what its rows are, and measured
# numbers rounded as people read them.


def measured(value: float | None, unit: str, digits: int = 2) -> str:
    """A measured number, rounded: "2.05 J", "0.38 s"; "-" when nothing was measured."""
    return "-" if value is None else f"{value:.{digits}f} {unit}"


def progress_meter(fraction: float) -> str:
    """A job's progress as a bar and a whole percentage: "45 %"."""
    percent = round(fraction * 100)
    return format_html('<progress max="100" value="{}"></progress> {} %', percent, percent)


def titled_filter(title: str, base: type[admin.FieldListFilter]) -> type[admin.FieldListFilter]:
    """A field's list filter shown under the glossary's name rather than the field's."""

    class Titled(base):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.title = title

    return Titled


class DescribedAdmin(admin.ModelAdmin):
    """An admin whose list page says, under its title, what its rows are."""

    description = ""

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"subtitle": self.description, **(extra_context or {})})


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(DescribedAdmin):
    """Read-only: workers write these rows themselves (workers/signals.py)."""

    description = ("One row per worker: a Celery worker process that runs the jobs and holds models warm in its "
                   "model cache. Workers write these rows themselves, every few seconds while they run.")
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
