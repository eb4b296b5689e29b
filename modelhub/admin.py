from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html

from modelhub.catalogue import CATALOGUE
from modelhub.models import Contender, Model
from modelhub.selectors import models_status
from modelhub.services import contender_create_default, model_prepare_queue


class ModelForm(forms.ModelForm):
    create_contender = forms.BooleanField(
        required=False, initial=True, label="Also create its contender",
        help_text="A model battles through contenders (a model plus how it is run). Tick to create one now: "
                  "greedy decoding, float32, named after the model. Add others later under Contenders.",
    )

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

    class Media:
        js = ["modelhub/model_status.js"]  # polls status.json: status, progress and errors update live

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None and "create_contender" in form.base_fields:  # offered when a model is added
            form.base_fields = {k: v for k, v in form.base_fields.items() if k != "create_contender"}
        return form

    def get_urls(self):
        status = path("status.json", self.admin_site.admin_view(self.status_json), name="modelhub_model_status")
        return [status, *super().get_urls()]

    def status_json(self, request: HttpRequest) -> JsonResponse:
        # ASCII digits only ("²".isdigit() is true, int() refuses it) and within a 64-bit id; others are ignored
        parts = (part.strip() for part in request.GET.get("ids", "").split(","))
        ids = [int(part) for part in parts if part.isascii() and part.isdecimal() and len(part) <= 18][:500]
        return JsonResponse({"models": models_status(ids=ids)})

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Model) -> str:
        return format_html(
            '<span class="model-status model-status-{}" data-model-id="{}" data-status-url="{}">{}</span>',
            obj.status, obj.pk, reverse("admin:modelhub_model_status"), obj.status,
        )

    @admin.display(description="Error")
    def error_display(self, obj: Model) -> str:
        return format_html(
            '<pre class="model-error" data-model-id="{}" style="white-space: pre-wrap">{}</pre>',
            obj.pk, obj.error or "-",
        )

    @admin.display(description="Progress")
    def progress_display(self, obj: Model) -> str:
        return format_html(
            '<span class="model-progress" data-model-id="{}"><progress max="100" value="{}"></progress> '
            '<span class="model-progress-text">{}</span></span>',
            obj.pk, round(obj.progress * 100), obj.progress_text,
        )

    def save_model(self, request, obj: Model, form, change: bool) -> None:
        source_changed = not change or {"source", "source_type", "kind"} & set(form.changed_data)
        super().save_model(request, obj, form, change)
        if source_changed:
            model_prepare_queue(model=obj)
            messages.info(request, f"Preparation of {obj.name} queued; its status updates live on this page.")
        if not change and form.cleaned_data.get("create_contender"):
            contender = contender_create_default(model=obj)
            messages.info(request, f"Contender “{contender.name}” created: it enters battles once the model is ready.")
        elif not obj.contenders.exists():
            add_url = reverse("admin:modelhub_contender_add") + f"?model={obj.pk}"
            messages.warning(request, format_html(
                "{} has no contender, so it cannot battle. <a href=\"{}\">Add a contender</a>.", obj.name, add_url
            ))

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
