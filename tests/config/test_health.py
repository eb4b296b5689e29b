"""/healthz (config/health.py): each part of the system, details for staff or the token only."""


def test_healthz_reports_each_part(client, redis_services, transactional_db, settings):
    from django.utils import timezone

    from workers.models import WorkerHeartbeat

    settings.ARENA_HEALTH_TOKEN = "s3cret"
    client.defaults["HTTP_AUTHORIZATION"] = "Bearer s3cret"
    report = client.get("/healthz").json()
    assert report["database"]["ok"] and report["redis"]["ok"] and report["web"]["ok"]
    assert report["status"] == "degraded" and report["workers"]["alive"] == 0  # no worker yet
    assert "default" in report["queues"]
    WorkerHeartbeat.objects.create(hostname="w1@h", pid=7, started_at=timezone.now(), last_seen=timezone.now(),
                                   queues=["default"], models_loaded=["SmolLM2"])
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    assert answer.json()["status"] == "ok"
    assert answer.json()["workers"]["seen"][0]["models_loaded"] == ["SmolLM2"]


def test_healthz_details_only_for_staff_or_the_token(client, redis_services, transactional_db, settings,
                                                     django_user_model):
    from django.utils import timezone

    from workers.models import WorkerHeartbeat

    WorkerHeartbeat.objects.create(hostname="w1@h", pid=7, started_at=timezone.now(), last_seen=timezone.now(),
                                   queues=["default", "model.secret"], models_loaded=["SmolLM2"])
    settings.ARENA_HEALTH_TOKEN = "s3cret"
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": "Bearer "}):
        answer = client.get("/healthz", **headers)
        assert answer.status_code == 200 and answer.json() == {"status": "ok"}, headers
    assert "queues" in client.get("/healthz", HTTP_AUTHORIZATION="Bearer s3cret").json()
    settings.ARENA_HEALTH_TOKEN = ""  # no token set: none is accepted, not even an empty one
    assert client.get("/healthz", HTTP_AUTHORIZATION="Bearer ").json() == {"status": "ok"}
    client.force_login(django_user_model.objects.create_user("someone", password="x"))
    assert client.get("/healthz").json() == {"status": "ok"}
    client.force_login(django_user_model.objects.create_user("ops", password="x", is_staff=True))
    report = client.get("/healthz").json()
    assert report["workers"]["seen"][0]["queues"] == ["default", "model.secret"] and "default" in report["queues"]


def test_healthz_when_redis_is_unreachable_is_degraded(client, transactional_db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    settings.ARENA_HEALTH_TOKEN = "s3cret"
    report = client.get("/healthz", HTTP_AUTHORIZATION="Bearer s3cret").json()
    assert report["status"] == "degraded" and report["redis"]["ok"] is False and report["queues"] is None
