"""Signals of the arena, for the apps above it (the arena never imports them), and its receivers of
the model hub's signals."""

from collections.abc import Callable

from django.dispatch import Signal, receiver

from modelhub.signals import model_ready

# Sent inside the vote's transaction for each vote (blind and final);
# kwargs: battle, ladder ("blind" or "energy"), choice. The leaderboard records it (analysis).
vote_recorded = Signal()

# Where the active sampling policy gets its current rating estimates: one provider, registered by an
# app above the arena (analysis, from its latest leaderboard), called with the battle kind and
# returning {contender id: rating points}; none registered or {} returned: the counts-only rule.
_sampling_ratings: list[Callable[[str], dict[int, float]]] = []


def sampling_ratings(function: Callable[[str], dict[int, float]]) -> Callable[[str], dict[int, float]]:
    """Register ``function`` as the provider of rating estimates for active sampling (replaces any before)."""
    _sampling_ratings[:] = [function]
    return function


def sampling_ratings_current(kind: str) -> dict[int, float]:
    """The registered provider's estimates for battles of ``kind``, or {} when none is registered."""
    return _sampling_ratings[0](kind) if _sampling_ratings else {}


@receiver(model_ready)
def _corpora_embed_with_new_encoder(sender, model, **kwargs) -> None:
    from arena.corpus_services import corpus_embeddings_queue_missing

    if model.kind == model.Kind.ENCODER:
        corpus_embeddings_queue_missing()
