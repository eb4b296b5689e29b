from django import forms
from django.conf import settings
from django.contrib import admin
from django.utils.html import format_html

from arena.corpora import CorpusError, parse_corpus
from arena.corpus_services import corpus_documents_set, corpus_embeddings_queue_missing
from arena.models import Battle, Corpus, CorpusEmbedding, Response, Vote


class CorpusForm(forms.ModelForm):
    upload = forms.FileField(
        help_text="UTF-8 text with one document per line, or JSONL with \"id\", \"text\" and an optional \"title\"."
    )

    class Meta:
        model = Corpus
        fields = ["name"]

    def clean_upload(self):
        upload = self.cleaned_data["upload"]
        if upload.size > settings.ARENA_MAX_CORPUS_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size:,} bytes; the limit is {settings.ARENA_MAX_CORPUS_BYTES:,} bytes."
            )
        try:
            self.documents = parse_corpus(upload.read(), upload.name, settings.ARENA_MAX_CORPUS_BYTES)
        except CorpusError as error:
            raise forms.ValidationError(str(error)) from None
        return upload


class CorpusEmbeddingInline(admin.TabularInline):
    model = CorpusEmbedding
    extra = 0
    can_delete = False
    fields = ["contender", "status", "progress_bar", "document_count", "dimension", "seconds", "energy", "error"]
    readonly_fields = fields

    @admin.display(description="Progress")
    def progress_bar(self, obj: CorpusEmbedding) -> str:
        return format_html('<progress max="100" value="{}"></progress> {}%', round(obj.progress * 100),
                           round(obj.progress * 100))

    @admin.display(description="Energy per 1,000 documents")
    def energy(self, obj: CorpusEmbedding) -> str:
        value = obj.joules_per_1000_documents
        return "-" if value is None else f"{value:.1f} J ({obj.energy_source})"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Corpus)
class CorpusAdmin(admin.ModelAdmin):
    list_display = ["name", "document_count", "builtin", "source_name", "created_at"]
    inlines = [CorpusEmbeddingInline]
    actions = ["embed_missing"]

    def get_inlines(self, request, obj=None):
        return self.inlines if obj is not None else []  # nothing is embedded before the corpus exists

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None:  # documents of a stored corpus don't change; only its name does
            kwargs["form"] = forms.ModelForm
            kwargs["fields"] = ["name"]
        else:
            kwargs["form"] = CorpusForm
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj: Corpus, form, change: bool) -> None:
        if not change:
            obj.source_name = form.cleaned_data["upload"].name[:255]
        super().save_model(request, obj, form, change)
        if not change:
            corpus_documents_set(corpus=obj, documents=form.documents)

    @admin.action(description="Embed with every ready encoder that lacks it (or failed)")
    def embed_missing(self, request, queryset) -> None:
        queued = sum(corpus_embeddings_queue_missing(corpus=corpus) for corpus in queryset)
        self.message_user(request, f"{queued} embedding task(s) queued.")


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
                    "repeated_prompt", "vote_summary"]
    list_filter = ["mode", "policy", "has_error", "identity_leak", "repeated_prompt"]
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
