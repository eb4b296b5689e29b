"""/healthz: the state of each part of the system (database, Redis, workers, queue lengths).

Project-wide, so it lives with the wiring: it reads the model hub (the models' queues) and the
workers' heartbeats, and the arena's Redis checks.
"""

import hmac
import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from arena.health import queue_lengths, redis_ping_ms
from config.errors import DATABASE_UNAVAILABLE
from modelhub.models import Model
from workers.selectors import workers_all


def health_report() -> dict:
    """What /healthz shows: each part of the system, and the lengths of the Celery queues.

    "ok" needs the database, Redis and at least one live worker; "degraded" means pages work but
    battles may not; "down" means the database is unreachable, so this web server cannot serve.
    """
    report: dict = {"web": {"ok": True}}
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        report["database"] = {"ok": True, "vendor": connection.vendor,
                              "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
        queue_names = ["default"] + sorted({model.queue_name for model in Model.objects.all()})
        workers = workers_all()
    except Exception as error:  # noqa: BLE001 - reported, not raised: this is the health check
        report["database"] = {"ok": False, "error": type(error).__name__}
        queue_names, workers = ["default"], []
    try:
        report["redis"] = {"ok": True, "latency_ms": round(redis_ping_ms(settings.REDIS_URL), 2)}
        report["queues"] = queue_lengths(settings.REDIS_URL, queue_names)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        report["redis"] = {"ok": False, "error": type(error).__name__}
        report["queues"] = None
    alive = [worker for worker in workers if worker["alive"]]
    report["workers"] = {"ok": bool(alive), "alive": len(alive), "seen": workers}
    if not report["database"]["ok"]:
        report["status"] = "down"
    elif report["redis"]["ok"] and alive:
        report["status"] = "ok"
    else:
        report["status"] = "degraded"
    return report


def _health_details_allowed(request: HttpRequest) -> bool:
    """Staff, or a request carrying ARENA_HEALTH_TOKEN: worker and queue details name the models of
    waiting battles, so strangers see the overall status only."""
    token = settings.ARENA_HEALTH_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and hmac.compare_digest(given.encode(), token.encode()):
        return True
    try:
        return bool(request.user.is_staff)
    except DATABASE_UNAVAILABLE:  # the session lives in the database: while it is down, no staff
        return False


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report()
    status = 503 if report["status"] == "down" else 200
    if not _health_details_allowed(request):
        report = {"status": report["status"]}
    response = JsonResponse(report, status=status)
    response["Cache-Control"] = "no-store"
    if status == 503:
        response["Retry-After"] = "30"
    return response
