"""The one way a name becomes a slug (the address of models, contenders and corpora, and the Celery
queue of a model): always valid ASCII, never empty, unique among the rows of its table."""

import hashlib

from django.db import models
from django.utils.text import slugify


def slug_unique(*, model_class: type[models.Model], name: str, instance_pk=None) -> str:
    """``slugify(name)``; for a name with no ASCII letter or digit ("模型"), ``<model name>-<hash>``
    (``model-…``, ``contender-…``, ``corpus-…``); then
    ``-2``, ``-3``… until no other row has it ("My model" and "My model!" get my-model, my-model-2)."""
    max_length = model_class._meta.get_field("slug").max_length
    base = slugify(name)[:max_length].strip("-_")
    if not base:
        base = f"{model_class._meta.model_name}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    taken = model_class._default_manager.exclude(pk=instance_pk) if instance_pk else model_class._default_manager
    candidate, number = base, 2
    while taken.filter(slug=candidate).exists():
        suffix = f"-{number}"
        candidate = base[: max_length - len(suffix)].rstrip("-_") + suffix
        number += 1
    return candidate
