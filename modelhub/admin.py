from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from modelhub.catalogue import CATALOGUE
from modelhub.models import Contender, Model
from modelhub.selectors import models_status
from modelhub.services import contender_create_default, model_prepare_queue
from workers.admin import DescribedAdmin, measured


class SuggestingInput(forms.TextInput):
    """A text box that offers values (an HTML datalist: value and label) and still takes any other text."""

    def __init__(self, suggestions: dict[str, str], attrs: dict | None = None) -> None:
        super().__init__(attrs)
        self.suggestions = suggestions

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        list_id = f"{(attrs or {}).get('id') or 'id_' + name}_suggestions"
        box = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}">{}</option>', self.suggestions.items())
        return format_html('{}<datalist id="{}">{}</datalist>', box, list_id, options)


def catalogue_help() -> SafeString:
    """The source field's help: what each source type takes, and the catalogue's keys."""
    keys = format_html_join(", ", "<code>{}</code> ({})", ((key, entry.name) for key, entry in CATALOGUE.items()))
    return format_html(
        "Bundled package: a catalogue key, one of {}. Local Hugging Face folder or .gguf file: its absolute "
        "path on the worker machine. Hub id: a model id already in the local Hugging Face cache. "
        "OpenAI-compatible endpoint: the engine's base URL, e.g. http://gpu-1:8000/v1.", keys,
    )


# What an engine-served model adds to its source (source type "endpoint"; source is the base URL).
ENGINE_FIELDS = ["served_model_id", "api_key_env", "context_length", "meter"]
ENGINE_FIELDSET = ("Inference engine (source type: OpenAI-compatible endpoint)", {
    "fields": ENGINE_FIELDS,
    "description": "For a model an inference engine serves (vLLM, SGLang, TGI, llama.cpp, transformers serve). "
                   "The worker that serves it must run on the engine's host, so that the meter reads the "
                   "engine's hardware (docs/deploy.md). Leave empty for other source types.",
})


class ModelForm(forms.ModelForm):
    create_contender = forms.BooleanField(
        required=False, initial=True, label="Also create its contender",
        help_text="A model battles through contenders (a model plus how it is run). Tick to create one now: "
                  "greedy decoding, float32, named after the model. Add others later under Contenders.",
    )

    class Meta:
        model = Model
        fields = ["name", "family", "maker", "kind", "source_type", "source", *ENGINE_FIELDS]
        widgets = {
            "source": SuggestingInput({key: f"{entry.name} ({entry.kind})" for key, entry in CATALOGUE.items()},
                                      attrs={"size": 60}),
        }
        help_texts = {
            "source_type": "Where the weights are. The bundled packages are installed with the project.",
            "source": catalogue_help(),
        }

    # What a source must be is the model's own rule (Model.clean), which the form runs.


@admin.register(Model)
class ModelAdmin(DescribedAdmin):
    form = ModelForm
    description = ("A model is the weights and where they come from (a catalogue key, a folder, a .gguf file, a hub "
                   "id) or the inference engine that serves it. It battles through its contenders (a model plus how "
                   "it is run). A new or changed source is prepared in a worker: located, converted, loaded and "
                   "smoke-tested; an engine is asked for its models and a short streamed answer.")
    list_display = ["name", "kind", "family", "status_badge", "progress_display", "parameters", "embedding_dim"]
    list_filter = ["status", "kind", "family"]
    search_fields = ["name", "family", "source"]
    actions = ["prepare_again"]
    readonly_fields = [
        "slug", "status_badge", "error_display", "progress_display", "parameters", "embedding_dim",
        "prepared_path", "load_time", "prepare_time", "smoke_test_output", "created_at", "updated_at",
    ]
    MEASURED = ["parameters", "embedding_dim", "prepare_time", "load_time", "prepared_path", "smoke_test_output",
                "slug", "created_at", "updated_at"]

    class Media:
        js = ["modelhub/model_status.js"]  # polls status.json: status, progress and errors update live
        css = {"all": ["modelhub/admin.css"]}

    def get_fieldsets(self, request, obj=None):
        source = ["name", "family", "maker", "kind", "source_type", "source"]
        if obj is None:
            return [(None, {"fields": [*source, "create_contender"]}), ENGINE_FIELDSET]
        return [
            (None, {"fields": source}),
            ENGINE_FIELDSET,
            ("Preparation status", {
                "fields": ["status_badge", "progress_display", "error_display"],
                "description": "Updates live while a worker prepares the model.",
            }),
            ("Measured", {
                "fields": self.MEASURED, "classes": ["collapse"],
                "description": "Read-only: what the preparation found and how long it took.",
            }),
        ]

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
            '<pre class="model-error" data-model-id="{}">{}</pre>',
            obj.pk, obj.error or "-",
        )

    @admin.display(description="Progress")
    def progress_display(self, obj: Model) -> str:
        return format_html(
            '<span class="model-progress" data-model-id="{}"><progress max="100" value="{}"></progress> '
            '<span class="model-progress-text">{}</span></span>',
            obj.pk, round(obj.progress * 100), obj.progress_text,
        )

    @admin.display(description="Parameters", ordering="parameter_count")
    def parameters(self, obj: Model) -> str:
        return obj.parameters_text.removesuffix(" parameters") or "-"

    @admin.display(description="Preparation time", ordering="prepare_seconds")
    def prepare_time(self, obj: Model) -> str:
        return measured(obj.prepare_seconds, "s")

    @admin.display(description="Load time", ordering="load_seconds")
    def load_time(self, obj: Model) -> str:
        return measured(obj.load_seconds, "s")

    def save_model(self, request, obj: Model, form, change: bool) -> None:
        source_changed = not change or {"source", "source_type", "kind", *ENGINE_FIELDS} & set(form.changed_data)
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


@admin.register(Contender)
class ContenderAdmin(DescribedAdmin):
    form = ContenderForm
    description = ("A contender is a model and how it is run (decoding, precision, max new tokens): what a battle "
                   "compares. The leaderboard ranks each contender as a leaderboard competitor of the same name.")
    fieldsets = [
        (None, {"fields": ["model", "name", "enabled", "sampling_weight"]}),
        ("How it is run", {"fields": ["decoding", "temperature", "top_p", "top_k", "contrastive_k", "penalty_alpha",
                                      "precision", "max_new_tokens"]}),
        ("Address", {"fields": ["slug"], "classes": ["collapse"],
                     "description": "Read-only: the contender page is /models/&lt;slug&gt;/."}),
    ]
    list_display = ["name", "model", "decoding", "precision", "max_new_tokens", "enabled", "model_status"]
    list_filter = ["enabled", "decoding", "precision", "model__kind"]
    list_editable = ["enabled"]
    search_fields = ["name", "model__name"]
    readonly_fields = ["slug"]

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets if obj is not None else self.fieldsets[:-1]  # no address before it exists

    @admin.display(description="Model status")
    def model_status(self, obj: Contender) -> str:
        return obj.model.status
