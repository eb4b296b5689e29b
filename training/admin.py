from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html

from modelhub.models import Contender, Model
from training.loop import duration_text
from training.models import TrainingRun
from training.services import training_run_cancel, training_run_check, training_run_queue

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
class TrainingRunAdmin(admin.ModelAdmin):
    form = TrainingRunForm
    list_display = ["name", "base", "objective", "status", "progress_bar", "time_left", "energy", "created_at"]
    list_filter = ["status", "objective"]
    list_select_related = ["base"]
    actions = ["cancel"]
    readonly_fields = ["status", "progress_bar", "progress_text", "time_left", "step", "total_steps", "examples",
                       "energy", "energy_method", "seconds", "resumed_from", "attempts", "error", "worker",
                       "model", "page", "started_at", "finished_at"]

    def get_readonly_fields(self, request, obj=None):
        # A run's inputs are fixed once it exists: a change page shows them, never edits them.
        return self.readonly_fields + (FIELDS if obj is not None else [])

    def get_fields(self, request, obj=None):
        return FIELDS if obj is None else ["page"] + FIELDS + [f for f in self.readonly_fields if f != "page"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            with transaction.atomic():
                training_run_queue(run=obj)
            messages.info(request, f"Training of {obj.name} queued; follow it on its page.")

    @admin.display(description="progress")
    def progress_bar(self, obj: TrainingRun) -> str:
        return format_html('<progress max="100" value="{}"></progress> {}%', round(obj.progress * 100),
                           round(obj.progress * 100))

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

    @admin.display(description="live page")
    def page(self, obj: TrainingRun) -> str:
        from django.urls import reverse

        return format_html('<a href="{}">curves and progress</a>', reverse("training-run", args=[obj.pk]))

    @admin.action(description="Cancel the selected runs")
    def cancel(self, request, queryset) -> None:
        for run in queryset:
            training_run_cancel(run_id=run.id)
        messages.info(request, f"Cancelled {queryset.count()} run(s) (a running one stops before its next step).")
