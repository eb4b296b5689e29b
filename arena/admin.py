from django import forms
from django.conf import settings
from django.contrib import admin

from arena.corpora import CorpusError, parse_corpus
from arena.corpus_services import corpus_documents_set, corpus_embeddings_queue_missing
from arena.models import Battle, Corpus, CorpusEmbedding, PromptGroup, Response, Vote
from workers.admin import DescribedAdmin, measured, progress_meter, titled_filter


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
    fields = ["contender", "status", "progress_bar", "document_count", "dimension", "time", "energy", "error"]
    readonly_fields = fields

    @admin.display(description="Progress")
    def progress_bar(self, obj: CorpusEmbedding) -> str:
        return progress_meter(obj.progress)

    @admin.display(description="Time")
    def time(self, obj: CorpusEmbedding) -> str:
        return measured(obj.seconds, "s")

    @admin.display(description="Energy per 1,000 documents")
    def energy(self, obj: CorpusEmbedding) -> str:
        value = obj.joules_per_1000_documents
        return "-" if value is None else f"{value:.1f} J ({obj.energy_source})"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Corpus)
class CorpusAdmin(DescribedAdmin):
    description = ("A corpus is the documents that encoders search in retrieval battles. Each encoder contender "
                   "embeds it once, in a worker (the embeddings on its page).")
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
    """A battle's two responses (one contender's answer each); workers write them, nobody adds one."""

    model = Response
    extra = 0
    can_delete = False
    fields = ["side", "contender", "status", "output_tokens", "duration", "energy", "energy_source", "device",
              "error"]
    readonly_fields = fields

    @admin.display(description="Time")
    def duration(self, obj: Response) -> str:
        return measured(obj.duration_s, "s")

    @admin.display(description="Energy")
    def energy(self, obj: Response) -> str:
        return measured(obj.joules, "J")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Battle)
class BattleAdmin(DescribedAdmin):
    """Battles come only from the arena: no add page. A change page can only set the exclusion flags."""

    description = ("A battle is a prompt and the two answers to it (its responses): anonymous (drawn by the "
                   "sampling policy, counted on the leaderboard unless a flag excludes it) or named (never counted).")
    list_display = ["id", "created_at", "mode", "policy", "contender_a", "contender_b", "energies", "has_error",
                    "identity_leak", "repeated_prompt", "vote_summary"]
    list_filter = ["mode", "policy", "reveal", "has_error", "identity_leak", "repeated_prompt", "duplicate_downsampled"]
    list_select_related = ["contender_a", "contender_b", "vote"]
    search_fields = ["prompt"]
    readonly_fields = ["prompt", "kind", "corpus", "contender_a", "contender_b", "policy", "mode", "reveal",
                       "categories", "prompt_group", "created_at", "session_key", "client_ip", "prompt_hash"]
    fieldsets = [
        (None, {"fields": ["prompt", "kind", "corpus", "mode", "policy", "reveal", "categories", "contender_a",
                           "contender_b", "created_at"]}),
        ("Exclusion flags", {"fields": ["has_error", "identity_leak", "repeated_prompt", "duplicate_downsampled",
                                        "prompt_group"],
                             "description": "Any ticked flag keeps the battle out of the leaderboard."}),
        ("Who asked", {"fields": ["session_key", "client_ip", "prompt_hash"], "classes": ["collapse"],
                       "description": "Read-only: the session, address and prompt fingerprint behind the limits."}),
    ]
    inlines = [ResponseInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("responses")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Energy (A / B)")
    def energies(self, obj: Battle) -> str:
        joules = {response.side: response.joules for response in obj.responses.all()}
        return f"{measured(joules.get('a'), 'J')} / {measured(joules.get('b'), 'J')}"

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
class VoteAdmin(DescribedAdmin):
    """Votes come only from the arena: read-only, no add page (a spam vote may still be deleted)."""

    description = ("A vote is cast twice on one battle: the blind vote before the energy is shown, then the final "
                   "vote after it: the blind vote kept, or changed once. Then the names are shown.")
    list_display = ["battle", "blind_vote", "final_vote", "changed", "blind_at", "final_at"]
    list_filter = [("blind_choice", titled_filter("blind vote", admin.ChoicesFieldListFilter)),
                   ("final_choice", titled_filter("final vote", admin.ChoicesFieldListFilter)),
                   "changed"]
    list_select_related = ["battle"]
    fields = ["battle", "blind_vote", "final_vote", "changed", "blind_at", "final_at"]
    readonly_fields = fields

    @admin.display(description="Blind vote", ordering="blind_choice")
    def blind_vote(self, obj: Vote) -> str:
        return obj.get_blind_choice_display()

    @admin.display(description="Final vote", ordering="final_choice")
    def final_vote(self, obj: Vote) -> str:
        return obj.get_final_choice_display() or "-"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PromptGroup)
class PromptGroupAdmin(DescribedAdmin):
    description = ("Near-duplicate prompts asked by several sessions (cosine of the bundled encoder's embeddings at "
                   "least ARENA_DUPLICATE_THRESHOLD), largest first. Past ARENA_DUPLICATE_CAP battles, a group's "
                   "battles count one in ARENA_DUPLICATE_KEEP_EVERY in the ratings; the rest are down-sampled.")
    list_display = ["example", "size", "created_at"]
    search_fields = ["example"]
    readonly_fields = ["example", "size", "first_session_key", "created_at"]
    exclude = ["vector"]

    def has_add_permission(self, request) -> bool:
        return False
