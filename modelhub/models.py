from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from modelhub.slugs import slug_unique
from workers.jobs import Job


class Model(Job):
    """Weights and where they come from. How they are run is a Contender.

    Its preparation (locate, convert, load, smoke-test) is a background job (workers.jobs).
    """

    class Kind(models.TextChoices):
        CHAT = "chat", "Chat (instruction-tuned language model)"
        COMPLETION = "completion", "Completion (base language model)"
        ENCODER = "encoder", "Encoder (sentence embeddings)"

    class SourceType(models.TextChoices):
        PACKAGE = "package", "Bundled package"
        HF_FOLDER = "hf_folder", "Local Hugging Face folder"
        GGUF_FILE = "gguf_file", "Local .gguf file"
        HUB_ID = "hub_id", "Hub id already in the local HF cache"
        ENDPOINT = "endpoint", "OpenAI-compatible endpoint (an inference engine)"

    class Status(models.TextChoices):
        REGISTERED = "registered"
        PREPARING = "preparing"
        READY = "ready"
        FAILED = "failed"

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True, blank=True)
    family = models.CharField(max_length=100, help_text="Models of one family may be paired (GEA setting).")
    maker = models.CharField(
        max_length=100, blank=True, help_text="Who made it; an answer naming it is an identity leak."
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    source_type = models.CharField(max_length=20, choices=SourceType.choices)
    source = models.CharField(
        max_length=500,
        help_text="Catalogue key, absolute path of a folder or .gguf file, a hub id, or an engine's base URL.",
    )
    # An engine-served model (source type "endpoint"; source is the engine's base URL, e.g. http://gpu-1:8000/v1).
    served_model_id = models.CharField(
        max_length=200, blank=True, help_text="Engine: the model id it lists under GET /v1/models."
    )
    api_key_env = models.CharField(
        max_length=100, blank=True, validators=[RegexValidator(r"^[A-Za-z_][A-Za-z0-9_]*$", "A variable name: letters, "
                                                                "digits and _, not starting with a digit.")],
        help_text="Engine: the NAME of the environment variable that holds its API key on the worker (the key "
                  "itself is never stored here). Empty: no key.",
    )
    context_length = models.PositiveIntegerField(
        null=True, blank=True, help_text="Engine: the most tokens (prompt and answer) the engine takes per request."
    )
    meter = models.CharField(
        max_length=300, blank=True,
        help_text="Engine: how its energy is measured on its host: nvml:0,1 (those GPUs), rapl, "
                  "process:/path/engine.pid (CPU-time estimate), or none (the arena then shows 'not measured').",
    )
    parameter_count = models.BigIntegerField(null=True, blank=True, editable=False)
    embedding_dim = models.PositiveIntegerField(
        null=True, blank=True, editable=False, help_text="Hidden size (embedding size for encoders)."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REGISTERED, editable=False)
    prepared_path = models.CharField(max_length=500, blank=True, editable=False)
    prepare_seconds = models.FloatField(null=True, blank=True, editable=False)
    load_seconds = models.FloatField(null=True, blank=True, editable=False)
    smoke_test_output = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED = Status.REGISTERED, Status.PREPARING, Status.READY, Status.FAILED

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = slug_unique(model_class=Model, name=self.name, instance_pk=self.pk)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """A source that can be found: a catalogue key, an absolute path, or (an engine-served model) a chat
        model at an http(s) base URL, with the id the engine serves and a meter spec (workers.engine_meter)."""
        from modelhub.catalogue import CATALOGUE

        self.source = (self.source or "").strip()
        if self.source_type == Model.SourceType.PACKAGE and self.source not in CATALOGUE:
            raise ValidationError({"source": f"Not a bundled package. Known: {', '.join(sorted(CATALOGUE))}."})
        local = self.source_type in (Model.SourceType.HF_FOLDER, Model.SourceType.GGUF_FILE)
        if local and not self.source.startswith("/"):
            raise ValidationError({"source": "Give an absolute path on the worker machine, e.g. /data/models/x."})
        if self.source_type != Model.SourceType.ENDPOINT:
            return
        from workers.engine_client import EngineError, base_url_normalise
        from workers.engine_meter import MeterSpecError, meter_spec_parse

        errors = {}
        if self.kind != Model.Kind.CHAT:
            errors["kind"] = "An engine-served model is a chat model: the arena asks it for chat completions."
        try:
            self.source = base_url_normalise(self.source or "")
        except EngineError as error:
            errors["source"] = f"{error} Give the engine's base URL, e.g. http://gpu-1:8000/v1."
        self.served_model_id = (self.served_model_id or "").strip()
        if not self.served_model_id:
            errors["served_model_id"] = "Give the id the engine serves the model under (listed by GET /v1/models)."
        try:
            self.meter = str(meter_spec_parse(self.meter))
        except MeterSpecError as error:
            errors["meter"] = str(error) if (self.meter or "").strip() else (
                "Say how the engine's energy is measured on its host: nvml:0,1, rapl, process:/path/engine.pid, "
                "or none (then the arena shows 'not measured')."
            )
        if errors:
            raise ValidationError(errors)

    @property
    def queue_name(self) -> str:
        """Celery queue of this model: a worker that holds it keeps serving it."""
        return f"model.{self.slug}"

    @property
    def is_language_model(self) -> bool:
        return self.kind in LANGUAGE_KINDS

    @property
    def is_engine_served(self) -> bool:
        """Served by an inference engine over its OpenAI-compatible API, not loaded by the arena's workers."""
        return self.source_type == Model.SourceType.ENDPOINT

    def endpoint(self):
        """Where its engine serves it (a plain value: workers.engine_client.Endpoint)."""
        from workers.engine_client import Endpoint

        return Endpoint(base_url=self.source, served_model=self.served_model_id, api_key_env=self.api_key_env)

    @property
    def parameters_text(self) -> str:
        """The parameter count as people read it ("630M parameters", "1.78B parameters"; three
        significant digits), or "" before preparation. The arena page shows this text as sent."""
        n = self.parameter_count
        if not n or n <= 0:
            return ""
        for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
            if n >= scale:
                return f"{float(f'{n / scale:.3g}'):g}{unit} parameters"
        return f"{n} parameters"


# The kinds that generate text (the chat arena's contenders); encoders embed (retrieval battles).
LANGUAGE_KINDS = (Model.Kind.CHAT, Model.Kind.COMPLETION)


class Contender(models.Model):
    """A model plus how it is run. The arena compares contenders."""

    class Decoding(models.TextChoices):
        GREEDY = "greedy"
        SAMPLING = "sampling"
        CONTRASTIVE = "contrastive", "Contrastive search"

    class Precision(models.TextChoices):
        FLOAT32 = "float32"
        BFLOAT16 = "bfloat16"
        FLOAT16 = "float16", "float16 (GPU only)"

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="contenders")
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True, blank=True)
    decoding = models.CharField(max_length=20, choices=Decoding.choices, default=Decoding.GREEDY)
    temperature = models.FloatField(default=0.7, validators=[MinValueValidator(0.01), MaxValueValidator(5)])
    top_p = models.FloatField(default=0.9, validators=[MinValueValidator(0.01), MaxValueValidator(1)])
    top_k = models.PositiveIntegerField(default=50, help_text="Sampling: keep the k most likely tokens.")
    contrastive_k = models.PositiveIntegerField(
        default=4, validators=[MinValueValidator(1)], help_text="Contrastive search: candidates per step."
    )
    penalty_alpha = models.FloatField(
        default=0.6,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Contrastive search: weight of the degeneration penalty.",
    )
    precision = models.CharField(max_length=20, choices=Precision.choices, default=Precision.FLOAT32)
    max_new_tokens = models.PositiveIntegerField(
        default=200, validators=[MinValueValidator(1), MaxValueValidator(4096)]
    )
    enabled = models.BooleanField(default=True)
    sampling_weight = models.FloatField(
        default=1.0, validators=[MinValueValidator(0)], help_text="Relative chance of being drawn."
    )
    # When it was disabled: it is no longer drawn, and the leaderboard marks its rows retired.
    retired_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = slug_unique(model_class=Contender, name=self.name, instance_pk=self.pk)
        if self.enabled:
            self.retired_at = None
        elif self.retired_at is None:
            self.retired_at = timezone.now()
        if kwargs.get("update_fields") is not None and "enabled" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "retired_at"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """What the contender's model can run: an encoder does not decode; an engine decodes greedily or by
        sampling (the OpenAI API has no contrastive search)."""
        model = self.model if self.model_id else None
        if model is None:
            return
        if model.kind == Model.Kind.ENCODER and self.decoding != Contender.Decoding.GREEDY:
            raise ValidationError({"decoding": "Encoders do not decode: leave decoding at 'greedy'."})
        if model.is_engine_served and self.decoding == Contender.Decoding.CONTRASTIVE:
            raise ValidationError({"decoding": (
                f"{model.name} is served by an inference engine, which cannot run contrastive search through the "
                "OpenAI API: choose greedy or sampling."
            )})

    @property
    def kind(self) -> str:
        return self.model.kind

    def decoding_config(self):
        """How the runtime decodes for this contender (a plain value: workers.generation.DecodingConfig)."""
        from workers.generation import DecodingConfig

        return DecodingConfig(
            method=self.decoding,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            contrastive_k=self.contrastive_k,
            penalty_alpha=self.penalty_alpha,
        )

    @property
    def family(self) -> str:
        return self.model.family
