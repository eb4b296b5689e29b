from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from modelhub.catalogue import CATALOGUE
from modelhub.models import Contender, Model
from modelhub.services import model_prepare_queue


class ModelForm(forms.ModelForm):
    class Meta:
        model = Model
        fields = ["name", "family", "maker", "kind", "source_type", "source"]

    def clean(self):
        cleaned = super().clean()
        source_type, source = cleaned.get("source_type"), (cleaned.get("source") or "").strip()
        if source_type == Model.SourceType.PACKAGE and source not in CATALOGUE:
            self.add_error("source", f"Not a bundled package. Known: {', '.join(sorted(CATALOGUE))}.")
        if source_type in (Model.SourceType.HF_FOLDER, Model.SourceType.GGUF_FILE) and not source.startswith("/"):
            self.add_error("source", "Give an absolute path on the worker machine, e.g. /data/models/my-model.")
        cleaned["source"] = source
        return cleaned


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    form = ModelForm
    list_display = ["name", "kind", "family", "status_badge", "progress_display", "parameter_count", "embedding_dim"]
    list_filter = ["status", "kind", "family"]
    search_fields = ["name", "family", "source"]
    actions = ["prepare_again"]
    readonly_fields = [
        "slug", "status_badge", "error_display", "progress_display", "parameter_count", "embedding_dim",
        "prepared_path", "load_seconds", "prepare_seconds", "smoke_test_output", "created_at", "updated_at",
    ]

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Model) -> str:
        return format_html('<span class="model-status model-status-{}">{}</span>', obj.status, obj.status)

    @admin.display(description="Error")
    def error_display(self, obj: Model) -> str:
        return format_html('<pre class="model-error" style="white-space: pre-wrap">{}</pre>', obj.error or "-")

    @admin.display(description="Progress")
    def progress_display(self, obj: Model) -> str:
        return format_html(
            '<progress max="100" value="{}"></progress> {}', round(obj.progress * 100), obj.progress_text
        )

    def save_model(self, request, obj: Model, form, change: bool) -> None:
        source_changed = not change or {"source", "source_type", "kind"} & set(form.changed_data)
        super().save_model(request, obj, form, change)
        if source_changed:
            model_prepare_queue(model=obj)
            messages.info(request, f"Preparation of {obj.name} queued; its status updates on this page.")

    @admin.action(description="Prepare again")
    def prepare_again(self, request, queryset) -> None:
        for model in queryset:
            model_prepare_queue(model=model)
        messages.info(request, f"Preparation queued for {queryset.count()} model(s).")


class ContenderForm(forms.ModelForm):
    class Meta:
        model = Contender
        fields = [
            "model", "name", "decoding", "temperature", "top_p", "top_k", "contrastive_k", "penalty_alpha",
            "precision", "max_new_tokens", "enabled", "sampling_weight",
        ]

    def clean(self):
        cleaned = super().clean()
        model, decoding = cleaned.get("model"), cleaned.get("decoding")
        if model and model.kind == Model.Kind.ENCODER and decoding != Contender.Decoding.GREEDY:
            self.add_error("decoding", "Encoders do not decode: leave decoding at 'greedy'.")
        return cleaned


@admin.register(Contender)
class ContenderAdmin(admin.ModelAdmin):
    form = ContenderForm
    list_display = ["name", "model", "decoding", "precision", "max_new_tokens", "enabled", "model_status"]
    list_filter = ["enabled", "decoding", "precision", "model__kind"]
    list_editable = ["enabled"]
    search_fields = ["name", "model__name"]
    readonly_fields = ["slug"]

    @admin.display(description="Model status")
    def model_status(self, obj: Contender) -> str:
        return obj.model.status
