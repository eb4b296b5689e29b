"""The blind protocol, held as a rule over every public page: nothing a stranger can read changes
because of a battle until that battle's final vote is stored.

A battle is played in one session (a real worker, the bundled SmolLM2) while a second client with no
cookies reads every GET route the URL resolver knows, with slug routes filled with every contender and
int routes with the battle's id: before the battle, after both answers, after the blind vote. Any text
that differs from before (times normalised away) names the route and fails. After the final vote the
battle must show up (the positive control), without a key that ties it to the battle or session.
"""

import json
import re
import time

import pytest
from django.test import Client

from arena.models import Battle
from modelhub.models import Contender
from tests.routes import route_paths, routes

# What may differ between two reads with nothing happening in between: clocks and per-request tokens.
VOLATILE = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"), "<time>"),
    (re.compile(r"\b\d+ (?:second|minute|hour|day)s? ago"), "<ago>"),
    (re.compile(r'("latency_ms": )[\d.]+'), r"\1<ms>"),
    (re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+'), r"\1<csrf>"),
    (re.compile(r'(name="csrf-token" content=")[^"]+'), r"\1<csrf>"),
]


def _normalised(text: str) -> str:
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def _stranger_reads(path: str) -> tuple[int, str]:
    """A path as a stranger reads it: a new client, no cookies, no session."""
    answer = Client().get(path)
    body = b"".join(answer.streaming_content) if answer.streaming else answer.content
    return answer.status_code, body.decode("utf-8", errors="replace")


def _read_everything(paths: list[str]) -> dict[str, str]:
    pages = {}
    for path in paths:
        status, text = _stranger_reads(path)
        pages[path] = f"{status}\n" + _normalised(text)
    return pages


def _differences(before: dict[str, str], now: dict[str, str]) -> list[str]:
    return [path for path in before if before[path] != now[path]]


def _first_difference(a: str, b: str) -> str:
    at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return f"…{a[max(0, at - 80):at + 80]!r} vs …{b[max(0, at - 80):at + 80]!r}"


def _wait_stage(owner: Client, battle_id: int, stage: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        state = owner.get(f"/arena/battles/{battle_id}/").json()["battle"]
        if state["stage"] == stage:
            return state
        assert state["stage"] in ("generating", stage), state
        assert time.monotonic() < deadline, state
        time.sleep(0.2)


@pytest.fixture
def smollm2_contenders(bundled_ready):
    bundled_ready("smollm2-135m-instruct")
    Contender.objects.filter(decoding=Contender.Decoding.CONTRASTIVE).update(enabled=False)
    Contender.objects.update(max_new_tokens=12)
    return list(Contender.objects.filter(enabled=True, model__kind="chat"))


def test_no_public_page_reveals_a_battle_before_its_final_vote(smollm2_contenders, celery_worker_threads, settings):
    settings.ANALYSIS_REFIT_DELAY_S = 0  # a refit the blind vote wrongly caused would land at once
    slugs = sorted(Contender.objects.values_list("slug", flat=True))
    owner = Client()
    owner.get("/arena/")
    created = owner.post("/arena/battles/", {"prompt": "Name a colour of the sky."})
    assert created.status_code == 201, created.content
    battle_id = created.json()["battle"]["id"]

    paths = [path for route in routes() for path in route_paths(route, {"int": [str(battle_id)], "slug": slugs})]
    assert "/models/" + slugs[0] + "/" in paths and "/api/battles.jsonl" in paths and "/healthz" in paths
    # The very first leaderboard read computes the first snapshot, and shows its figures in the order
    # they were built rather than as stored (PostgreSQL's jsonb orders keys): read once to settle that.
    _read_everything(paths)
    before = _read_everything(paths)
    again = _read_everything(paths)
    unsteady = [f"{path}: {_first_difference(before[path], again[path])}" for path in _differences(before, again)]
    assert unsteady == [], "pages differ with nothing happening:\n" + "\n".join(unsteady)

    readings = {}
    _wait_stage(owner, battle_id, "blind_vote", timeout_s=180)
    readings["after both answers"] = _read_everything(paths)
    voted = owner.post(f"/arena/battles/{battle_id}/vote/", {"stage": "blind", "choice": "a"})
    assert voted.status_code == 200, voted.content
    assert voted.json()["battle"]["sides"]["a"]["energy"]["joules"] > 0  # the owner sees the energy
    time.sleep(3)  # any refit the blind vote queued has run by now
    readings["after the blind vote"] = _read_everything(paths)

    leaks = [
        f"{moment}: {path}: {_first_difference(before[path], pages[path])}"
        for moment, pages in readings.items() for path in _differences(before, pages)
    ]
    assert leaks == [], "\n".join(leaks)

    # The final vote: from now on the battle counts, and the public pages say so.
    final = owner.post(f"/arena/battles/{battle_id}/vote/", {"stage": "final", "choice": "b"})
    assert final.status_code == 200 and final.json()["battle"]["stage"] == "revealed"
    deadline = time.monotonic() + 60
    while not (lines := _stranger_reads("/api/battles.jsonl")[1].splitlines()):
        assert time.monotonic() < deadline, "the revealed battle never reached the export"
        time.sleep(0.5)
    (record,) = [json.loads(line) for line in lines]
    battle = Battle.objects.get(id=battle_id)
    assert {record["model_a"], record["model_b"]} == {battle.contender_a.name, battle.contender_b.name}
    assert (record["winner"], record["winner_after_energy"]) == ("model_a", "model_b")
    # The exported key names this arena but cannot be traced back to the battle (nor its session).
    assert not record["question_id"].endswith(f"-{battle_id}") and battle.session_key not in lines[0]
    while (board := Client().get("/api/leaderboard.json").json())["ladders"]["blind"]["battles"] == 0:
        assert time.monotonic() < deadline, "the refit after the final vote never came"
        time.sleep(0.5)
    assert board["ladders"]["blind"]["battles"] == board["ladders"]["energy"]["battles"] == 1
    after = _read_everything(paths)
    assert f"/models/{battle.contender_a.slug}/" in _differences(before, after)
