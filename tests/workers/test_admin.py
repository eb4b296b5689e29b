"""The workers' admin: heartbeats are written by the workers only, and the list says what a row is."""

import pytest
from django.utils import timezone

from workers.models import WorkerHeartbeat


@pytest.mark.django_db
def test_heartbeats_have_no_add_page_and_say_what_they_are(admin_client):
    WorkerHeartbeat.objects.create(hostname="w@h", pid=1, started_at=timezone.now(), last_seen=timezone.now())
    assert admin_client.get("/admin/workers/workerheartbeat/add/").status_code == 403
    listing = admin_client.get("/admin/workers/workerheartbeat/").content.decode()
    assert 'href="/admin/workers/workerheartbeat/add/"' not in listing and "w@h" in listing
    assert "One row per worker: a Celery worker process" in listing
