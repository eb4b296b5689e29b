from django.db import models

from modelhub.models import Contender


class Choice(models.TextChoices):
    A = "a", "A is better"
    B = "b", "B is better"
    TIE = "tie", "Tie"
    BOTH_BAD = "bothbad", "Both are bad"


class Battle(models.Model):
    class Mode(models.TextChoices):
        ANONYMOUS = "anonymous"
        NAMED = "named", "Named (side by side; does not count)"

    prompt = models.TextField()
    contender_a = models.ForeignKey(Contender, on_delete=models.PROTECT, related_name="+")
    contender_b = models.ForeignKey(Contender, on_delete=models.PROTECT, related_name="+")
    policy = models.CharField(max_length=30)
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.ANONYMOUS)
    session_key = models.CharField(max_length=64, db_index=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Exclusion flags (FastChat filters the same): any of them keeps the battle out of rankings.
    has_error = models.BooleanField(default=False)
    identity_leak = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Battle {self.pk}"

    @property
    def counts_for_ranking(self) -> bool:
        return self.mode == self.Mode.ANONYMOUS and not self.has_error and not self.identity_leak

    @property
    def group_name(self) -> str:
        return f"battle.{self.pk}"


class Response(models.Model):
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
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    time_to_first_token_s = models.FloatField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    finish_reason = models.CharField(max_length=20, blank=True)
    joules = models.FloatField(null=True, blank=True)
    energy_source = models.CharField(max_length=20, blank=True)  # nvml | rapl | estimate
    energy_method = models.CharField(max_length=300, blank=True)
    device = models.CharField(max_length=50, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["battle", "side"], name="one_response_per_side")]
        ordering = ["battle_id", "side"]

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
