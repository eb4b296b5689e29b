"""Near-duplicate prompts: grouped by the bundled encoder's embeddings, and the largest groups
down-sampled in the ratings, as Chatbot Arena does so that a prompt asked by many cannot weigh as
much as all the others together.

A chat battle's prompt is embedded in the worker that holds the encoder (ARENA_DUPLICATE_ENCODER),
after the battle is created. It joins the group whose first prompt is nearest when the cosine is at
least ARENA_DUPLICATE_THRESHOLD (0.85: paraphrases measured 0.84-0.98 with all-MiniLM-L6-v2, prompts
of another meaning in the same words up to 0.78; docs/leaderboard.md) and that group was started by
another session (one session's repeats are the exact-repeat rule's: Battle.repeated_prompt); else it
starts a group. A group's first ARENA_DUPLICATE_CAP battles count; after that one in
ARENA_DUPLICATE_KEEP_EVERY, the others are marked down-sampled (Battle.COUNTED leaves them out).
"""

import logging

import numpy as np
from django.conf import settings
from django.db import transaction

from arena.models import Battle, PromptGroup
from modelhub.models import Model

logger = logging.getLogger(__name__)


def duplicate_encoder() -> Model | None:
    """The ready bundled encoder that embeds prompts, or None (then prompts are not grouped)."""
    return Model.objects.filter(
        source_type=Model.SourceType.PACKAGE, source=settings.ARENA_DUPLICATE_ENCODER, status=Model.Status.READY
    ).exclude(prepared_path="").first()


def downsampled(position: int) -> bool:
    """Whether the battle at this 1-based position of its group is left out of the ratings."""
    beyond = position - settings.ARENA_DUPLICATE_CAP
    return beyond > 0 and beyond % max(1, settings.ARENA_DUPLICATE_KEEP_EVERY) != 0


def prompt_group_assign(*, battle_id: int) -> Battle | None:
    """Embed the battle's prompt and put it in its group (or a new one); mark it down-sampled past the cap."""
    from workers import runtime

    battle = Battle.objects.filter(id=battle_id, prompt_group__isnull=True).first()
    encoder = duplicate_encoder()
    if battle is None or encoder is None:
        return battle
    precision = encoder.contenders.values_list("precision", flat=True).first() or "float32"
    vectors, _reading = runtime.embed(path=encoder.prepared_path, precision=precision, texts=[battle.prompt])
    vector = np.asarray(vectors[0], dtype=np.float32)
    vector /= max(float(np.linalg.norm(vector)), 1e-12)
    with transaction.atomic():
        groups = list(PromptGroup.objects.select_for_update().values_list("id", "vector", "first_session_key"))
        best, best_cos = None, -1.0
        if groups:
            matrix = np.stack([np.frombuffer(bytes(data), dtype=np.float32) for _, data, _ in groups])
            cosines = matrix @ vector
            index = int(np.argmax(cosines))
            best, best_cos = groups[index], float(cosines[index])
        if best is not None and best_cos >= settings.ARENA_DUPLICATE_THRESHOLD:
            if best[2] == battle.session_key:
                return battle  # this session's own repeat
            group = PromptGroup.objects.get(id=best[0])
            group.size += 1
            group.save(update_fields=["size"])
        else:
            group = PromptGroup.objects.create(
                example=battle.prompt[:2000], vector=vector.tobytes(), first_session_key=battle.session_key
            )
        Battle.objects.filter(id=battle.id).update(prompt_group=group, duplicate_downsampled=downsampled(group.size))
    battle.refresh_from_db()
    return battle
