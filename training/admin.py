from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html

from modelhub.models import Contender, Model
from training.loop import duration_text
from training.models import TrainingRun
from training.services import training_run_cancel, training_run_check, training_run_queue
from workers.admin import DescribedAdmin, measured, progress_meter

FIELDS = ["base", "name", "objective", "corpus", "pairs_path", "sts_path", "epochs", "steps", "batch_size",
          "learning_rate", "temperature", "max_length", "seed", "eval_every"]


class TrainingRunForm(forms.ModelForm):
    """Start a run: every bad input (not an encoder, too little data, a malformed line, lr or τ ≤ 0, a taken
    name) is a form error on its field."""

    class Meta:
        model = TrainingRun
        fields = FIELDS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "base" in self.fields:
            self.fields["base"].queryset = Contender.objects.filter(model__kind=Model.Kind.ENCODER).select_related(
                "model")

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        params = {k: cleaned.get(k) for k in FIELDS if k not in ("seed",)}
        for field, message in training_run_check(**params).items():
            self.add_error(field if field in self.fields else None, message)
        return cleaned


@admin.register(TrainingRun)
class TrainingRunAdmin(DescribedAdmin):
    form = TrainingRunForm
    description = ("A training run fine-tunes an encoder contender into a new model and contender, in a worker; "
                   "its page shows the curves live. A run that loses its worker resumes from its last checkpoint.")
    list_display = ["name", "base", "objective", "status", "progress_bar", "time_left", "energy", "created_at"]
    list_filter = ["status", "objective"]
    list_select_related = ["base"]
    actions = ["cancel"]
    PROGRESS = ["status", "progress_bar", "progress_text", "time_left", "step", "total_steps", "error"]
    MEASURED = ["examples", "energy", "energy_method", "training_time", "resumed_from", "attempts", "worker", "model",
                "started_at", "finished_at"]
    readonly_fields = ["page", *PROGRESS, *MEASURED]

    def get_readonly_fields(self, request, obj=None):
        # A run's inputs are fixed once it exists: a change page shows them, never edits them.
        return self.readonly_fields + (FIELDS if obj is not None else [])

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": FIELDS})]
        return [
            (None, {"fields": ["page", *FIELDS]}),
            ("Progress", {"fields": self.PROGRESS}),
            ("Measured", {"fields": self.MEASURED, "classes": ["collapse"],
                          "description": "Read-only: the data seen, the energy and time used, the worker."}),
        ]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            with transaction.atomic():
                training_run_queue(run=obj)
            messages.info(request, f"Training of {obj.name} queued; follow it on its page.")

    @admin.display(description="progress")
    def progress_bar(self, obj: TrainingRun) -> str:
        return progress_meter(obj.progress)

    @admin.display(description="time left")
    def time_left(self, obj: TrainingRun) -> str:
        if obj.status != TrainingRun.Status.RUNNING or obj.seconds_left is None:
            return "—"
        return duration_text(obj.seconds_left)

    @admin.display(description="energy")
    def energy(self, obj: TrainingRun) -> str:
        if obj.joules is None:
            return "—"
        return f"{obj.joules / 1000:.2f} kJ ({obj.energy_source})"

    @admin.display(description="training time", ordering="seconds")
    def training_time(self, obj: TrainingRun) -> str:
        return measured(obj.seconds, "s")

    @admin.display(description="live page")
    def page(self, obj: TrainingRun) -> str:
        from django.urls import reverse

        return format_html('<a href="{}">curves and progress</a>', reverse("training-run", args=[obj.pk]))

    @admin.action(description="Cancel the selected runs")
    def cancel(self, request, queryset) -> None:
        for run in queryset:
            training_run_cancel(run_id=run.id)
        messages.info(request, f"Cancelled {queryset.count()} run(s) (a running one stops before its next step).")
