"""The Celery app. Model work runs in `threads` or `solo` pools: torch and fork don't mix.

Each app's tasks live in its own `tasks` module (found here); the worker runtime's heartbeat is
connected below.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("arena")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

import workers.signals  # noqa: E402,F401 - connects the worker heartbeat
