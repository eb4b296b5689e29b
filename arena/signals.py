"""Signals of the arena, for the apps above it (the arena never imports them), and its receivers of
the model hub's signals."""

from django.dispatch import Signal, receiver

from modelhub.signals import model_ready

# Sent inside the vote's transaction for each vote (blind and final);
# kwargs: battle, ladder ("blind" or "energy"), choice. The leaderboard records it (analysis).
vote_recorded = Signal()


@receiver(model_ready)
def _corpora_embed_with_new_encoder(sender, model, **kwargs) -> None:
    from arena.corpus_services import corpus_embeddings_queue_missing

    if model.kind == model.Kind.ENCODER:
        corpus_embeddings_queue_missing()
