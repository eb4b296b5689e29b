"""Tables of the leaderboard: running aggregates of the counted votes, imported battles, snapshots.

A vote never touches the aggregates. A vote on a battle that counts for ranking inserts one
``PendingVote`` row in its own transaction (``analysis.leaderboard.services.votes.pair_counts_record``).
The refit (a debounced Celery task, ``services.leaderboard_refit``) first folds the pending votes
into the aggregates (``services.aggregates_fold``): only those whose battle the public may see
counted under the blind protocol (``arena.selectors.battles_public_q``: revealed by its final vote,
failed, or past its vote window), oldest row first, in batches, one fold at a time. Votes of
battles still open stay pending for a later refit; a vote whose battle was flagged after it (an
error, an identity leak) is dropped without counting. So a refit reads O(days × contenders²) rows
of sums and never scans the votes (only ``BattleContext`` holds one row per battle).

The sums are kept per UTC day of the battle's blind vote (``day``; an imported battle: its
``tstamp``), so that a date range sums its days and the whole board sums them all, in one query
each (``selectors.board_inputs_from_tables``). The tables:

* ``PairCount``: unique (ladder, a, b, outcome, day) rows with counts, the input of Bradley-Terry;
* ``EloRating``: online Elo per ladder and competitor, moved vote by vote in the order the votes
  are folded (pending-row order; a blind vote whose battle was left open waits for the end of its
  vote window, so it may come after later votes). All time only: Elo depends on the order of every
  vote before, so it cannot come from sums, and a date-filtered board shows none;
* ``EnergyStat``: per competitor, count, sum and sum of squares of joules per response and per
  output token (on folding the blind vote of a battle: both of its responses);
* ``GeaCount``: per unordered pair, the GEA switch counts (on folding the vote after the energy
  reveal, with the battle's blind vote: ``analysis.leaderboard.gea.vote_counts``);
* ``BattleContext``: one row per counted battle (its votes, answer lengths, markdown counts and
  energies), what the style-controlled fit and the price of energy need: their features are
  continuous, so they cannot come from counts.

``services.aggregates_rebuild`` recomputes them all from a scan of the counted public battles.

A ``Competitor`` is what the ladders rank: a contender of this arena, or a model name that only
appears in an imported battle log (FastChat format). Imported battles live in ``ImportedBattle``;
they never create contenders (which the model hub would try to prepare).
"""

from django.db import models

from arena import choices
from arena.models import Choice
from arena.reveal import JOULES
from modelhub.models import Contender


class Ladder(models.TextChoices):
    BLIND = choices.BLIND, "Blind (first vote)"
    ENERGY = choices.ENERGY, "Energy-aware (vote after the energy reveal)"


class Competitor(models.Model):
    name = models.CharField(max_length=200, unique=True)
    family = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=20, default="chat", db_index=True)
    contender = models.OneToOneField(
        Contender, null=True, blank=True, on_delete=models.SET_NULL, related_name="competitor"
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "leaderboard competitor"
        verbose_name_plural = "leaderboard competitors"

    def __str__(self) -> str:
        return self.name


class PairCount(models.Model):
    ladder = models.CharField(max_length=10, choices=Ladder.choices)
    competitor_a = models.ForeignKey(Competitor, on_delete=models.CASCADE, related_name="+")
    competitor_b = models.ForeignKey(Competitor, on_delete=models.CASCADE, related_name="+")
    outcome = models.CharField(max_length=10, choices=Choice.choices)
    day = models.DateField(db_index=True)  # UTC day of the blind vote
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ladder", "competitor_a", "competitor_b", "outcome", "day"], name="one_pair_count_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.ladder} {self.day}: {self.competitor_a_id} v {self.competitor_b_id} {self.outcome} ×{self.count}"


class CategoryPairCount(models.Model):
    """``PairCount`` per category of the battle (``arena.categories``: a battle counts in each of its
    categories): the daily sums a category's ladder is fitted from, without a scan of the votes."""

    category = models.CharField(max_length=20)
    ladder = models.CharField(max_length=10, choices=Ladder.choices)
    competitor_a = models.ForeignKey(Competitor, on_delete=models.CASCADE, related_name="+")
    competitor_b = models.ForeignKey(Competitor, on_delete=models.CASCADE, related_name="+")
    outcome = models.CharField(max_length=10, choices=Choice.choices)
    day = models.DateField()
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["category", "ladder", "competitor_a", "competitor_b", "outcome", "day"],
                name="one_category_pair_count_per_day",
            )
        ]
        indexes = [models.Index(fields=["category", "day"], name="category_pair_day")]

    def __str__(self) -> str:
        return f"{self.category} {self.ladder} {self.day}: {self.competitor_a_id} v {self.competitor_b_id}"


class EloRating(models.Model):
    ladder = models.CharField(max_length=10, choices=Ladder.choices)
    competitor = models.ForeignKey(Competitor, on_delete=models.CASCADE, related_name="+")
    rating = models.FloatField(default=1000.0)
    battles = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ladder", "competitor"], name="one_elo_per_ladder")]

    def __str__(self) -> str:
        return f"{self.ladder}: {self.competitor_id} {self.rating:.1f}"


class EnergyStat(models.Model):
    competitor = models.ForeignKey(Competitor, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(db_index=True)  # UTC day of the battle's blind vote
    responses = models.PositiveBigIntegerField(default=0)  # responses with a joule reading
    joules_sum = models.FloatField(default=0.0)
    joules_sq_sum = models.FloatField(default=0.0)
    token_responses = models.PositiveBigIntegerField(default=0)  # ... and at least one output token
    jpt_sum = models.FloatField(default=0.0)  # joules per output token
    jpt_sq_sum = models.FloatField(default=0.0)
    output_tokens_sum = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["competitor", "day"], name="one_energy_stat_per_day")]

    def __str__(self) -> str:
        return f"Energy of {self.competitor_id} on {self.day} ({self.responses} responses)"


class GeaCount(models.Model):
    """GEA switch counts of one unordered pair (``competitor_lo.id < competitor_hi.id``): ``gea.GeaSums``."""

    competitor_lo = models.ForeignKey(Competitor, on_delete=models.CASCADE, related_name="+")
    competitor_hi = models.ForeignKey(Competitor, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(db_index=True)  # UTC day of the battle's blind vote
    eligible = models.PositiveBigIntegerField(default=0)
    switched = models.PositiveBigIntegerField(default=0)
    to_tie = models.PositiveBigIntegerField(default=0)
    to_bothbad = models.PositiveBigIntegerField(default=0)
    opposite_eligible = models.PositiveBigIntegerField(default=0)
    opposite_switched = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["competitor_lo", "competitor_hi", "day"], name="one_gea_count_per_day")
        ]

    def __str__(self) -> str:
        return f"GEA {self.day} {self.competitor_lo_id} v {self.competitor_hi_id}: {self.switched}/{self.eligible}"


class StyleCounts(models.Model):
    """Markdown counts of both answers (``arena.style.markdown_counts``; an imported log's FastChat
    ``conv_metadata``), the style control's features; None where unknown."""

    headers_a = models.PositiveIntegerField(null=True, blank=True)
    headers_b = models.PositiveIntegerField(null=True, blank=True)
    lists_a = models.PositiveIntegerField(null=True, blank=True)
    lists_b = models.PositiveIntegerField(null=True, blank=True)
    bold_a = models.PositiveIntegerField(null=True, blank=True)
    bold_b = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        abstract = True


class BattleContext(StyleCounts):
    """One counted public battle as the style-controlled fit and the price of energy see it.

    Kept with the other aggregates (fold, rebuild, import); read in time order of the blind vote.
    Counts and energies are None where unknown (an answer without a reading, a log without them).
    """

    kind = models.CharField(max_length=20, default="chat")
    tstamp = models.DateTimeField(db_index=True)  # the blind vote (imported: the log's tstamp)
    # our battle (None: an imported one), so that a vote after the energy reveal folded later finds its row
    battle = models.OneToOneField(
        "arena.Battle", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    competitor_a = models.ForeignKey(Competitor, on_delete=models.CASCADE, related_name="+")
    competitor_b = models.ForeignKey(Competitor, on_delete=models.CASCADE, related_name="+")
    winner = models.CharField(max_length=10, choices=Choice.choices)
    winner_after = models.CharField(max_length=10, choices=Choice.choices, blank=True)
    tokens_a = models.PositiveIntegerField(null=True, blank=True)
    tokens_b = models.PositiveIntegerField(null=True, blank=True)
    energy_a_j = models.FloatField(null=True, blank=True)
    energy_b_j = models.FloatField(null=True, blank=True)
    reveal = models.CharField(max_length=10, default=JOULES)  # the battle's reveal condition (arena.reveal)

    def __str__(self) -> str:
        return f"Context of {self.competitor_a_id} v {self.competitor_b_id} at {self.tstamp:%Y-%m-%d %H:%M}"


class ImportedBattle(StyleCounts):
    """One battle of an imported log (FastChat clean-battle fields plus our energy fields)."""

    source_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, default="chat")
    competitor_a = models.ForeignKey(Competitor, on_delete=models.PROTECT, related_name="+")
    competitor_b = models.ForeignKey(Competitor, on_delete=models.PROTECT, related_name="+")
    winner = models.CharField(max_length=10, choices=Choice.choices)
    winner_after = models.CharField(max_length=10, choices=Choice.choices, blank=True)
    tstamp = models.DateTimeField(db_index=True)
    tstamp_after = models.DateTimeField(null=True, blank=True)
    energy_a_j = models.FloatField(null=True, blank=True)
    energy_b_j = models.FloatField(null=True, blank=True)
    reveal = models.CharField(max_length=10, default=JOULES)  # the log's reveal condition (arena.reveal)
    categories = models.JSONField(default=list, blank=True)  # the log's categories (arena.categories)
    output_tokens_a = models.PositiveIntegerField(null=True, blank=True)
    output_tokens_b = models.PositiveIntegerField(null=True, blank=True)
    energy_source_a = models.CharField(max_length=20, blank=True)
    energy_source_b = models.CharField(max_length=20, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tstamp", "id"]

    def __str__(self) -> str:
        return f"Imported battle {self.source_key}"


class LeaderboardSnapshot(models.Model):
    """The latest refit: both ladders of every kind, energy, GEA statistics, figures (one JSON)."""

    computed_at = models.DateTimeField(db_index=True)
    seconds = models.FloatField(default=0.0)
    data = models.JSONField()

    class Meta:
        ordering = ["-computed_at", "-id"]
        get_latest_by = "computed_at"

    def __str__(self) -> str:
        return f"Leaderboard of {self.computed_at:%Y-%m-%d %H:%M:%S}"


class PendingVote(models.Model):
    """A counted vote not yet folded into the aggregates.

    The vote's transaction only inserts this row, so concurrent votes lock no shared row. The refit
    task folds the rows of battles public under ``arena.selectors.battles_public_q`` into PairCount,
    Elo, energy and GEA, in id order, ``services.FOLD_BATCH`` rows per transaction; rows of battles
    still open to votes wait for a later refit.
    """

    battle = models.ForeignKey("arena.Battle", on_delete=models.CASCADE, related_name="+")
    ladder = models.CharField(max_length=10, choices=Ladder.choices)
    choice = models.CharField(max_length=10, choices=Choice.choices)

    def __str__(self) -> str:
        return f"{self.ladder} vote {self.choice} on battle {self.battle_id}"


class RefitState(models.Model):
    """A single row: when a refit was last scheduled and has not started yet (the debounce)."""

    scheduled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Refit scheduled at {self.scheduled_at}" if self.scheduled_at else "No refit pending"


from analysis.diagnostics.models import DiagnosticsRun  # noqa: E402,F401 - the diagnostics app tables
