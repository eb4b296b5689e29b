from django.db import models

from arena import choices
from arena.reveal import CONDITIONS, JOULES
from modelhub.models import Contender
from modelhub.slugs import slug_unique
from workers.jobs import Job

# The answers of a vote: the codes and labels of arena.choices (plain Python, shared with the analysis).
Choice = models.TextChoices("Choice", [(name, (code, label)) for name, code, label in choices.MEMBERS])


class Corpus(models.Model):
    """Documents that encoders search in retrieval battles (vectors live under ARENA_DATA_DIR)."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True, blank=True)
    builtin = models.CharField(max_length=30, blank=True, help_text="Set for corpora the arena ships.")
    source_name = models.CharField(max_length=255, blank=True, help_text="Name of the uploaded file.")
    document_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "corpora"

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = slug_unique(model_class=Corpus, name=self.name, instance_pk=self.pk)
        super().save(*args, **kwargs)


class CorpusDocument(models.Model):
    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="documents")
    position = models.PositiveIntegerField(help_text="Row of this document in the stored vectors.")
    doc_id = models.CharField(max_length=200)
    title = models.CharField(max_length=300, blank=True)
    text = models.TextField()

    class Meta:
        ordering = ["corpus_id", "position"]
        constraints = [models.UniqueConstraint(fields=["corpus", "position"], name="one_document_per_row")]

    def __str__(self) -> str:
        return f"{self.corpus} #{self.position}"


class CorpusEmbedding(Job):
    """One encoder contender's vectors of one corpus, computed once in a worker (a background job)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="embeddings")
    contender = models.ForeignKey(Contender, on_delete=models.CASCADE, related_name="corpus_embeddings")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    path = models.CharField(max_length=500, blank=True)
    dimension = models.PositiveIntegerField(null=True, blank=True)
    document_count = models.PositiveIntegerField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    joules = models.FloatField(null=True, blank=True)
    energy_source = models.CharField(max_length=20, blank=True)
    energy_method = models.CharField(max_length=300, blank=True)
    device = models.CharField(max_length=50, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED = Status.QUEUED, Status.RUNNING, Status.READY, Status.FAILED

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corpus", "contender"], name="one_embedding_per_contender")]

    def __str__(self) -> str:
        return f"{self.corpus} × {self.contender}"

    @property
    def joules_per_1000_documents(self) -> float | None:
        if self.joules is None or not self.document_count:
            return None
        return self.joules * 1000 / self.document_count


def battle_group(battle_id: int) -> str:
    """The Channels group of one battle: its sockets hear its tokens and its changes of state."""
    return f"battle.{battle_id}"


class PromptGroup(models.Model):
    """Prompts of several sessions within a cosine threshold of each other (the bundled encoder's
    embeddings): the first one's vector stands for the group (arena.prompt_groups)."""

    example = models.TextField()
    vector = models.BinaryField()  # float32, L2-normalised
    first_session_key = models.CharField(max_length=64)
    size = models.PositiveIntegerField(default=1)  # battles in the group
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-size"]

    def __str__(self) -> str:
        return f"{self.example[:60]} ×{self.size}"


class Battle(models.Model):
    class Mode(models.TextChoices):
        ANONYMOUS = "anonymous"
        NAMED = "named", "Named (side by side; does not count)"

    class Kind(models.TextChoices):
        CHAT = "chat"
        RETRIEVAL = "retrieval"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CHAT)
    corpus = models.ForeignKey(Corpus, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    prompt = models.TextField()
    contender_a = models.ForeignKey(Contender, on_delete=models.PROTECT, related_name="+")
    contender_b = models.ForeignKey(Contender, on_delete=models.PROTECT, related_name="+")
    policy = models.CharField(max_length=30)
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.ANONYMOUS)
    session_key = models.CharField(max_length=64, db_index=True)
    # What its reveal shows (arena.reveal): drawn for the session's first battle, kept for the session.
    reveal = models.CharField(max_length=10, choices=[(name, name) for name in CONDITIONS], default=JOULES)
    # What its prompts are about (arena.categories: coding, math, long_query, multi_turn, a language code)
    categories = models.JSONField(default=list, blank=True)
    # Near-duplicate prompts of several sessions form a group (arena.prompt_groups); past its cap, most of a
    # group's battles are left out of the ratings ("down-sampled"), as Chatbot Arena does.
    prompt_group = models.ForeignKey("PromptGroup", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="battles")
    duplicate_downsampled = models.BooleanField(default=False)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Exclusion flags (FastChat filters the same): any of them keeps the battle out of rankings.
    has_error = models.BooleanField(default=False)
    identity_leak = models.BooleanField(default=False)
    # The same session asked the same prompt earlier today: not an independent judgement (vote spam).
    repeated_prompt = models.BooleanField(default=False)
    prompt_hash = models.CharField(max_length=64, blank=True)

    # The one rule of what counts for ranking, as data: the value each field has in a counted battle
    # (anonymous mode, no exclusion flag). Read by counts_for_ranking and, as a query, by
    # arena.selectors.battles_counted_q.
    COUNTED = {
        "mode": Mode.ANONYMOUS, "has_error": False, "identity_leak": False, "repeated_prompt": False,
        "duplicate_downsampled": False,
    }

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["session_key", "prompt_hash"], name="battle_session_prompt"),
            models.Index(fields=["client_ip", "created_at"], name="battle_ip_created"),  # per-address limits
        ]

    def __str__(self) -> str:
        return f"Battle {self.pk}"

    @property
    def counts_for_ranking(self) -> bool:
        return all(getattr(self, name) == value for name, value in self.COUNTED.items())

    @property
    def group_name(self) -> str:
        return battle_group(self.pk)


# The energy source of an answer whose energy was not measured (an engine served without a meter): it
# has no joules, the reveal says "not measured", and its battle stays out of the energy-aware ladder.
UNMEASURED = "none"


class Response(Job):
    """One side of a battle: an answer generated (or documents retrieved) in a worker, a background job."""

    class Side(models.TextChoices):
        A = "a"
        B = "b"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        TIMEOUT = "timeout"

    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="responses")
    side = models.CharField(max_length=1, choices=Side.choices)
    contender = models.ForeignKey(Contender, on_delete=models.PROTECT, related_name="responses")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    text = models.TextField(blank=True)
    # Retrieval: the top documents, best first: [{"doc_id", "title", "text", "score"}].
    results = models.JSONField(default=list, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    # markdown counts of a chat answer (arena.style.markdown_counts), the style control's features
    header_count = models.PositiveIntegerField(null=True, blank=True)
    list_count = models.PositiveIntegerField(null=True, blank=True)
    bold_count = models.PositiveIntegerField(null=True, blank=True)
    time_to_first_token_s = models.FloatField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    finish_reason = models.CharField(max_length=20, blank=True)
    joules = models.FloatField(null=True, blank=True)
    energy_source = models.CharField(max_length=20, blank=True)  # nvml | rapl | estimate | none (UNMEASURED)
    energy_method = models.CharField(max_length=500, blank=True)
    device = models.CharField(max_length=50, blank=True)

    JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED = Status.QUEUED, Status.RUNNING, Status.DONE, Status.FAILED

    class Meta:
        constraints = [models.UniqueConstraint(fields=["battle", "side"], name="one_response_per_side")]
        ordering = ["battle_id", "side"]
        # the few answers not measured (the leaderboard counts their battles on every view: no table scan)
        indexes = [
            models.Index(fields=["battle"], condition=models.Q(energy_source=UNMEASURED), name="response_unmeasured")
        ]

    def __str__(self) -> str:
        return f"Battle {self.battle_id} side {self.side}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.TIMEOUT)

    @property
    def joules_per_token(self) -> float | None:
        if self.joules is None or not self.output_tokens:
            return None
        return self.joules / self.output_tokens


class Vote(models.Model):
    battle = models.OneToOneField(Battle, on_delete=models.CASCADE, related_name="vote")
    blind_choice = models.CharField(max_length=10, choices=Choice.choices)
    final_choice = models.CharField(max_length=10, choices=Choice.choices, blank=True)
    changed = models.BooleanField(default=False)
    blind_at = models.DateTimeField(auto_now_add=True)
    final_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Vote on battle {self.battle_id}"
