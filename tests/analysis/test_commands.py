"""`manage.py leaderboard` (database or battle file) and `manage.py import_battles`."""

import io
import json
import math
import random

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from analysis.leaderboard.ratings import PairCounts, leaderboard
from analysis.leaderboard.services.refit import leaderboard_refit
from analysis.leaderboard.summary import SUMMARY_KEYS
from analysis.models import Competitor, ImportedBattle, PairCount

KEYS = ("name", "rating", "lower", "upper", "rank", "battles", "wins", "ties", "losses", "elo")


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def ratings(board: dict, ladder: str) -> list[dict]:
    return [{k: row[k] for k in KEYS} for row in board["ladders"][ladder]["rows"]]


@pytest.fixture
def voted(make_contender, make_battle, vote):
    contenders = [make_contender(name=n, family=f) for n, f in (("Alpha", "G"), ("Beta", "G"), ("Gamma", "H"))]
    rng = random.Random(2)
    for _ in range(40):
        a, b = rng.sample(contenders, 2)
        battle = make_battle(a, b, joules=(rng.uniform(1, 3), rng.uniform(1, 3)), tokens=(rng.randint(1, 9), 5))
        vote(battle, rng.choice(["a", "b", "tie", "bothbad"]), rng.choice(["a", "b", "tie", None]))
    return contenders


def export(client, path):
    path.write_bytes(b"".join(client.get("/api/battles.jsonl").streaming_content))
    return path


def test_database_json_equals_the_refit(voted):
    board = json.loads(run("leaderboard", "--format", "json", "--rounds", "15"))
    snapshot = leaderboard_refit(push=False, rounds=15).data["boards"]["chat"]
    assert board["source"].startswith("database")
    for ladder in ("blind", "energy"):
        assert ratings(board, ladder) == ratings(snapshot, ladder)
    assert board["gea"] == snapshot["gea"] and board["energy"] == snapshot["energy"]


def test_export_then_rate_the_file_gives_the_database_ratings(voted, client, tmp_path):
    path = export(client, tmp_path / "battles.jsonl")
    from_db = json.loads(run("leaderboard", "--format", "json", "--rounds", "25", "--seed", "3"))
    from_file = json.loads(run("leaderboard", "--battles", str(path), "--format", "json", "--rounds", "25",
                               "--seed", "3"))
    assert from_file["source"].startswith(f"file {path}")
    for ladder in ("blind", "energy"):
        assert ratings(from_file, ladder) == ratings(from_db, ladder)
    assert from_file["gea"] == from_db["gea"]
    assert from_file["energy"] == from_db["energy"]
    assert from_file["side_by_side"] == from_db["side_by_side"]


def test_a_battle_file_is_rated_without_the_database(tmp_path):
    # no `db` fixture: any query would fail this test
    rng = random.Random(9)
    battles = [(a, b, rng.choice(["model_a", "model_b", "tie", "tie (bothbad)"]))
               for a, b in (rng.sample(["p", "q", "r", "s"], 2) for _ in range(200))]
    path = tmp_path / "clean_battle.json"  # FastChat publishes a JSON array
    path.write_text(json.dumps([{"model_a": a, "model_b": b, "winner": w, "tstamp": 1.7e9 + i, "anony": True}
                                for i, (a, b, w) in enumerate(battles)]))
    board = json.loads(run("leaderboard", "--battles", str(path), "--format", "json", "--rounds", "12"))
    expected = leaderboard(
        PairCounts.from_battles(battles, names=sorted("pqrs")), rounds=12, seed=0,
        prior=settings.ANALYSIS_PRIOR_SCALE, provisional=settings.ANALYSIS_PROVISIONAL_BATTLES,
    )
    keys = KEYS[:-1]
    assert [{k: r[k] for k in keys} for r in board["ladders"]["blind"]["rows"]] == [
        {k: r[k] for k in keys} for r in expected
    ]
    assert board["ladders"]["energy"]["battles"] == 0
    table = run("leaderboard", "--battles", str(path), "--rounds", "5")
    assert "Leaderboard (chat)" in table and all(name in table for name in "pqrs")
    assert "GEA switch rate: of 0 votes" in table


@pytest.mark.parametrize(
    ("line", "message"),
    [("{broken", "line 3: not valid JSON"), ('{"model_a": "p", "model_b": "q", "winner": "p", "tstamp": 1}',
                                              'line 3: "winner" must be one of')],
)
def test_a_malformed_line_is_named(tmp_path, line, message):
    good = '{"model_a": "p", "model_b": "q", "winner": "tie", "tstamp": 1}'
    path = tmp_path / "log.jsonl"
    path.write_text(f"{good}\n{good}\n{line}\n{good}\n")
    with pytest.raises(CommandError, match=message):
        run("leaderboard", "--battles", str(path))


def test_bad_options_are_explained(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run("leaderboard", "--battles", str(tmp_path / "missing.jsonl"))
    with pytest.raises(CommandError, match="Unknown kind"):
        run("leaderboard", "--battles", str(tmp_path / "missing.jsonl"), "--kind", "video")


def test_import_is_idempotent_and_counts(voted, client, tmp_path, make_battle, vote):
    alpha = voted[0]
    lines = [
        {"question_id": "ext-1", "model_a": "External", "model_b": "Alpha", "winner": "model_a", "tstamp": 1.6e9},
        {"question_id": "ext-2", "model_a": "Alpha", "model_b": "External", "winner": "model_a", "tstamp": 1.6e9 + 1,
         "winner_after_energy": "model_b", "energy_a_j": 4.0, "energy_b_j": 1.0, "family_a": "G"},
        {"model_a": "External", "model_b": "Other", "winner": "model_b", "tstamp": 1.6e9 + 2},
        {"model_a": "External", "model_b": "Other", "winner": "model_b", "tstamp": 1.6e9 + 3, "anony": False},
    ]
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    blind_before = sum(PairCount.objects.filter(ladder="blind").values_list("count", flat=True))

    out = run("import_battles", str(path))
    assert "Read 3 battles: 3 imported, 0 already present" in out and "1 named battles left out" in out
    assert ImportedBattle.objects.count() == 3
    counts = dict(PairCount.objects.filter(competitor_a__name="External", competitor_b__name="Alpha")
                  .values_list("outcome", "count"))
    assert counts == {"a": 1}
    assert sum(PairCount.objects.filter(ladder="blind").values_list("count", flat=True)) == blind_before + 3
    after_first = sorted(PairCount.objects.values_list("ladder", "competitor_a__name", "competitor_b__name",
                                                       "outcome", "count"))

    out = run("import_battles", str(path))
    assert "0 imported, 3 already present" in out
    assert ImportedBattle.objects.count() == 3
    assert sorted(PairCount.objects.values_list("ladder", "competitor_a__name", "competitor_b__name", "outcome",
                                                "count")) == after_first
    # the imported "Alpha" is the live contender: one line on the leaderboard
    assert Competitor.objects.get(name="Alpha").contender_id == alpha.id
    board = leaderboard_refit(push=False, rounds=3).data["boards"]["chat"]
    assert {"External", "Other", "Alpha"} <= set(board["names"])
    assert board["gea"]["by_pair"]["Alpha vs External"]["n_switched"] == 1

    # our own export re-imported: recognised, nothing counted twice
    out = run("import_battles", str(export(client, tmp_path / "ours.jsonl")))
    assert "0 imported" in out and "40 from this database (skipped)" in out
    assert "3 already present" in out  # the imported battles are part of the export too


def test_a_malformed_import_writes_nothing(db, tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"model_a": "p", "model_b": "q", "winner": "tie", "tstamp": 1}\n{"model_a": "p"}\n')
    with pytest.raises(CommandError, match="Nothing imported: log.jsonl, line 2"):
        run("import_battles", str(path))
    assert not ImportedBattle.objects.exists() and not Competitor.objects.exists()


def write_log(path, battles):
    path.write_text("".join(
        json.dumps({"model_a": a, "model_b": b, "winner": w, "tstamp": 1.7e9 + i, "anony": True}) + "\n"
        for i, (a, b, w) in enumerate(battles)
    ))
    return path


def test_prior_zero_is_fastchats_maximum_likelihood(tmp_path):
    rng = random.Random(4)
    battles = [(a, b, rng.choice(["model_a", "model_b", "tie"])) for a, b in
               (rng.sample(["p", "q", "r"], 2) for _ in range(150))]
    path = write_log(tmp_path / "log.jsonl", battles)
    board = json.loads(run("leaderboard", "--battles", str(path), "--format", "json", "--rounds", "10", "--prior", "0"))
    expected = leaderboard(PairCounts.from_battles(battles, names=sorted("pqr")), rounds=10, seed=0)
    assert board["prior"] == 0.0
    keys = (*KEYS[:-1], "provisional")
    got = board["ladders"]["blind"]["rows"]
    assert [{k: r[k] for k in keys} for r in got] == [{k: r[k] for k in keys} for r in expected]


def test_a_newcomer_is_provisional_with_a_finite_rating(tmp_path):
    rng = random.Random(5)
    battles = [(a, b, rng.choice(["model_a", "model_b", "tie"])) for a, b in
               (rng.sample(["p", "q", "r"], 2) for _ in range(150))]
    battles += [("new", "p", "model_a"), ("q", "new", "model_b"), ("new", "r", "model_a")]  # 3 wins
    path = write_log(tmp_path / "log.jsonl", battles)
    board = json.loads(run("leaderboard", "--battles", str(path), "--format", "json", "--rounds", "30",
                           "--prior", "400", "--provisional", "20"))
    rows = board["ladders"]["blind"]["rows"]
    assert [r["name"] for r in rows][-1] == "new" and rows[-1]["provisional"] is True
    assert not any(r["provisional"] for r in rows[:-1])
    new = rows[-1]
    assert new["rank"] == 4 and 1000 < new["rating"] < 1600 and 100 < new["upper"] - new["lower"] < 1000
    table = run("leaderboard", "--battles", str(path), "--rounds", "5", "--prior", "400", "--provisional", "20")
    assert "Gaussian prior of 400 rating points" in table and "4*" in table


@pytest.mark.parametrize("value", ["-1", "nan", "-0.5"])
def test_a_negative_prior_is_refused(tmp_path, value):
    path = write_log(tmp_path / "log.jsonl", [("p", "q", "model_a")])
    with pytest.raises(CommandError, match="--prior must be 0 .maximum likelihood. or a positive number"):
        run("leaderboard", "--battles", str(path), "--prior", value)
    with pytest.raises(CommandError, match="--provisional must be 0 or more"):
        run("leaderboard", "--battles", str(path), "--provisional", "-2")


@pytest.mark.django_db
def test_a_negative_prior_setting_is_refused(tmp_path, settings):
    settings.ANALYSIS_PRIOR_SCALE = -3.0
    with pytest.raises(CommandError, match="ANALYSIS_PRIOR_SCALE must be 0 .maximum likelihood. or a positive"):
        run("leaderboard", "--rounds", "2")


def longer_wins_log(path, n=3000, seed=6):
    """Equal strength; "long" writes three times longer answers and voters prefer the longer answer,
    nothing else; energy-aware votes where each doubling of energy costs 40 points."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        a, b = rng.sample(["long", "p", "q", "r"], 2)
        ta, tb = (int(rng.lognormvariate(0, 0.3) * (900 if m == "long" else 300)) for m in (a, b))
        win_a = rng.random() < 1 / (1 + math.exp(-3 * (ta - tb) / (ta + tb)))
        ea, eb = rng.lognormvariate(0, 0.7), rng.lognormvariate(0, 0.7)
        after_a = rng.random() < 1 / (1 + 10 ** (40 * math.log2(ea / eb) / 400))
        lines.append({
            "model_a": a, "model_b": b, "winner": "model_a" if win_a else "model_b", "tstamp": 1.7e9 + i,
            "family_a": "F", "family_b": "F", "winner_after_energy": "model_a" if after_a else "model_b",
            "energy_a_j": ea, "energy_b_j": eb,
            "conv_metadata": {"sum_assistant_a_tokens": ta, "sum_assistant_b_tokens": tb,
                              "header_count_a": {"h1": rng.randint(0, 2)}, "header_count_b": {"h1": rng.randint(0, 2)},
                              "list_count_a": {"ordered": rng.randint(0, 3), "unordered": 0},
                              "list_count_b": {"ordered": rng.randint(0, 3), "unordered": 0},
                              "bold_count_a": {"**": rng.randint(0, 2), "__": 0}, "bold_count_b": 1},
        })
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_style_control_removes_the_long_models_lead(tmp_path):
    path = longer_wins_log(tmp_path / "log.jsonl")
    args = ("leaderboard", "--battles", str(path), "--format", "json", "--rounds", "10", "--prior", "400")
    plain = json.loads(run(*args))["ladders"]["blind"]["rows"]
    assert plain[0]["name"] == "long" and plain[0]["lower"] > max(r["upper"] for r in plain[1:])
    board = json.loads(run(*args, "--style-control"))
    assert board["view"] == "style"
    rows = board["ladders"]["blind"]["rows"]
    assert set(rows[0]) == set(plain[0])  # the same row fields
    long = next(r for r in rows if r["name"] == "long")
    assert all(long["lower"] <= r["upper"] and r["lower"] <= long["upper"] for r in rows)
    length = board["ladders"]["blind"]["coefficients"][0]
    assert length["feature"] == "length" and length["lower"] > 0
    assert board["energy_price"]["overall"]["lower"] < 40 < board["energy_price"]["overall"]["upper"]
    assert set(board["energy_price"]["by_family"]) == {"F"}

    table = run("leaderboard", "--battles", str(path), "--rounds", "5", "--style-control")
    assert "Style-controlled ratings" in table and "Style coefficients" in table and "length" in table
    assert "Price of energy: overall: each doubling of an answer's energy costs" in table
    assert "Price of energy: family F: each doubling" in table


def test_style_control_from_the_database(voted):
    plain = json.loads(run("leaderboard", "--format", "json", "--rounds", "5"))
    board = json.loads(run("leaderboard", "--format", "json", "--rounds", "5", "--style-control"))
    assert board["view"] == "style" and board["source"].startswith("database")
    for ladder in ("blind", "energy"):
        data = board["ladders"][ladder]
        assert data["battles"] + data["left_out"] == plain["ladders"][ladder]["battles"]
        assert {r["name"] for r in data["rows"]} == {"Alpha", "Beta", "Gamma"}
        assert [c["feature"] for c in data["coefficients"]] == ["length", "headers", "lists", "bold"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"kind": "completion"}, 'line 2: "kind" must be one of chat, encoder'),
        ({"conv_metadata": "long"}, 'line 2: "conv_metadata" must be an object'),
        ({"conv_metadata": {"header_count_b": {"h1": -2}}}, 'line 2: "conv_metadata.header_count_b.h1" must be'),
        ({"winner": "model_a wins"}, 'line 2: "winner" must be one of "model_a", "model_b", "tie", "tie .bothbad."'),
    ],
)
def test_bad_style_fields_are_named_and_nothing_is_printed(tmp_path, extra, message):
    good = {"model_a": "p", "model_b": "q", "winner": "tie", "tstamp": 1}
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, **extra}) + "\n")
    out = io.StringIO()
    with pytest.raises(CommandError, match=message):
        call_command("leaderboard", "--battles", str(path), "--style-control", stdout=out)
    assert out.getvalue() == ""


def test_small_numbers_print_no_interval_that_means_nothing(make_contender, make_battle, vote):
    """One vote: the energy rows say there is no interval, the switch rate's interval is Wilson's."""
    big, small = make_contender(name="Big", family="F"), make_contender(name="Small", family="F")
    vote(make_battle(big, small, joules=(4.0, 1.0), tokens=(10, 10)), "a", "b")
    table = run("leaderboard", "--rounds", "5")
    assert "4.000 (one response: no interval)" in table and "(--)" not in table
    assert "1 switched to the one that used less: 100.0% (95% Wilson interval 20.7%-100.0%)" in table


def test_the_summary_is_printed_first_and_is_the_jsons(voted, client):
    board = json.loads(run("leaderboard", "--format", "json", "--rounds", "5"))
    assert list(board)[0] == "summary"
    leader = board["ladders"]["blind"]["rows"][0]["name"]
    assert board["summary"]["leader"].startswith(f"{leader} leads the blind ladder after 40 votes")
    table = run("leaderboard", "--rounds", "5")
    assert table.splitlines()[:4] == [board["summary"][key] for key in SUMMARY_KEYS] + [""]
    assert table.splitlines()[4].startswith("Leaderboard (chat) from database")
    # the page and the API say the same (the page's board is the refit's: bootstrap rounds aside, the same votes)
    leaderboard_refit(push=False, rounds=5)
    assert client.get("/api/leaderboard.json").json()["summary"] == board["summary"]
    styled = run("leaderboard", "--rounds", "5", "--style-control").splitlines()
    assert styled[3] == "" and styled[4].startswith("Leaderboard (chat)") and "after the energy reveal" in styled[6]
