"""The Celery app. Model work runs in `threads` or `solo` pools: torch and fork don't mix."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")

app = Celery("arena")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers", "analysis"])

import workers.signals  # noqa: E402,F401 - connects the worker start-up warm-up
