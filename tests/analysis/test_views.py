"""The leaderboard page (plain tables without JavaScript), its fragment, the JSON API, the battle log."""

import html as htmllib
import json
import re

import pytest

from analysis.leaderboard.services.refit import leaderboard_refit
from analysis.models import LeaderboardSnapshot
from arena.models import Battle

FASTCHAT_WINNERS = {"model_a", "model_b", "tie", "tie (bothbad)"}


@pytest.fixture
def voted(make_contender, make_battle, vote):
    alpha = make_contender(name="Alpha", family="Greek")
    beta = make_contender(name="Beta", family="Greek")
    vote(make_battle(alpha, beta, joules=(3.0, 1.0)), "a", "b")
    vote(make_battle(beta, alpha, joules=(1.5, 2.5)), "a")
    vote(make_battle(alpha, beta, joules=(2.0, 1.0)), "tie", "bothbad")
    vote(make_battle(alpha, beta), "b", "a")
    vote(make_battle(alpha, beta, mode=Battle.Mode.NAMED), "a", "a")  # never counts, never exported
    return alpha, beta


def test_page_renders_the_ladders_as_a_plain_table(client, voted):
    response = client.get("/leaderboard/")
    assert response.status_code == 200
    html = response.content.decode()
    assert LeaderboardSnapshot.objects.count() == 1  # the first view computed one
    assert '<table class="lb-table lb-cards" id="lb-ladders">' in html
    # each row links its contender's page (the family, then the size once the model is prepared)
    assert re.search(r'<th scope="row"><a href="/models/[a-z0-9-]+/">Alpha</a> '
                     r'<span class="lb-family">Greek</span></th>', html)
    assert "Blind (first vote)" in html and "Energy-aware" in html
    assert "4 blind votes" in html and "3 votes after the energy reveal" in html
    assert 'id="lb-energy"' in html and 'id="lb-gea-pairs"' in html
    # one blind vote chose the answer that used more energy (and switched); one chose the smaller (and switched)
    assert "Of <strong>1</strong> vote whose blind choice was the answer that used more energy" in html
    assert "<strong>1</strong> switched to the one that used less" in html
    assert "of 1 vote whose blind choice used less energy" in html
    assert re.search(r'Updated <time datetime="[^"]+" data-updated>\d+ seconds? ago</time>', html)
    assert '<script id="lb-figures" type="application/json">' in html
    assert "/leaderboard/plotly.min.js?v=" in html


def test_page_escapes_names(client, make_contender, make_battle, vote):
    evil = make_contender(name='<script>alert("x")</script>', family="<b>fam</b>")
    other = make_contender(name="Plain")
    vote(make_battle(evil, other), "a", "b")
    html = client.get("/leaderboard/").content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<b>fam</b>" not in html
    figures = html.split('<script id="lb-figures" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert "<" not in figures  # json_script escapes it, and plotly labels carry the name as text
    assert "&lt;script&gt;" in json.loads(figures)["win_rate_blind"]["data"][0]["x"][0]


def test_page_before_any_vote_and_with_bad_filters(client, db):
    html = client.get("/leaderboard/").content.decode()
    assert "No counted battles yet." in html
    response = client.get("/leaderboard/?since=soon")
    assert response.status_code == 400
    assert "since must be a date" in response.content.decode()
    assert 'value="chat"' in html and 'value="encoder"' in html and 'value="completion"' not in html
    refused = client.get("/leaderboard/?kind=completion")
    assert refused.status_code == 400 and "Completion models are not ranked" in refused.content.decode()


def test_page_with_filters_is_computed_for_the_range(client, voted):
    html = client.get("/leaderboard/?kind=chat&since=2000-01-01&until=2100-01-01").content.decode()
    assert "Computed now for the chosen dates" in html
    assert 'value="2000-01-01"' in html
    assert "4 blind votes" in html
    assert 'id="lb-elo-note"' in html and "cannot be cut to a date range" in html
    assert 'id="lb-elo-note"' not in client.get("/leaderboard/").content.decode()
    empty = client.get("/leaderboard/?since=2000-01-01&until=2000-01-02").content.decode()
    assert "No counted battles yet." in empty


def test_fragment_is_the_board_alone(client, voted):
    snapshot = leaderboard_refit(push=False, rounds=3)
    response = client.get("/leaderboard/fragment/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="lb-ladders"' in html
    assert f'data-snapshot-id="{snapshot.id}"' in html


def test_leaderboard_json_shape(client, voted):
    leaderboard_refit(push=False, rounds=20)
    response = client.get("/api/leaderboard.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    data = response.json()
    assert {"computed_at", "live", "filters", "kinds", "kind", "rounds", "names", "ladders", "side_by_side",
            "energy", "gea", "matrices"} <= set(data)
    assert "figures" not in data
    assert data["kind"] == "chat" and data["rounds"] == 20 and data["live"] is True
    for ladder in ("blind", "energy"):
        rows = data["ladders"][ladder]["rows"]
        assert [r["name"] for r in rows] and {r["name"] for r in rows} == {"Alpha", "Beta"}
        for row in rows:
            assert row["lower"] <= row["rating"] <= row["upper"]
            assert row["rank"] >= 1 and row["battles"] > 0 and row["elo"] is not None
    assert data["ladders"]["blind"]["battles"] == 4 and data["ladders"]["energy"]["battles"] == 3
    energy = {row["name"]: row for row in data["energy"]}
    assert energy["Alpha"]["responses"] == 4 and energy["Alpha"]["joules_mean"] > 0
    assert data["gea"]["overall"]["n_eligible"] == 1 and data["gea"]["overall"]["n_switched"] == 1
    assert data["gea"]["overall"]["opposite_n_eligible"] == 1
    assert set(data["gea"]["by_family"]) == {"Greek"}
    assert len(data["matrices"]["blind"]["win_rate"]) == 2
    with_figures = client.get("/api/leaderboard.json?figures=1").json()
    assert set(with_figures["figures"]) == {"energy_scatter", "win_rate_blind", "win_rate_energy",
                                            "battles_blind", "battles_energy"}
    scatter = with_figures["figures"]["energy_scatter"]
    assert {"data", "layout"} <= set(scatter)
    assert any("Pareto" in trace.get("name", "") for trace in scatter["data"])


def test_leaderboard_json_errors_are_json(client, db):
    response = client.get("/api/leaderboard.json?kind=video")
    assert response.status_code == 400
    assert "Unknown kind" in response.json()["error"]


def test_battles_jsonl(client, voted):
    response = client.get("/api/battles.jsonl")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert len(lines) == 4  # the named battle is left out
    for line in lines:
        assert line["winner"] in FASTCHAT_WINNERS
        assert {line["model_a"], line["model_b"]} == {"Alpha", "Beta"}
        assert isinstance(line["tstamp"], float) and line["anony"] is True
        ours = {"energy_a_j", "energy_b_j", "output_tokens_a", "winner_after_energy", "tstamp_after_energy"}
        assert ours <= set(line)
        assert not {"session_key", "client_ip", "prompt"} & set(line)  # anonymised
    assert [line["winner"] for line in lines] == ["model_a", "model_a", "tie", "model_b"]
    assert [line["winner_after_energy"] for line in lines] == ["model_b", None, "tie (bothbad)", "model_a"]
    assert lines[0]["energy_a_j"] == 3.0 and lines[0]["energy_b_j"] == 1.0
    assert lines[0]["tstamp_after_energy"] >= lines[0]["tstamp"]
    assert client.get("/api/battles.jsonl?kind=encoder").getvalue() == b""


def test_plotly_js_is_served_from_the_package(client, db):
    response = client.get("/leaderboard/plotly.min.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "max-age=31536000" in response["Cache-Control"]
    body = b"".join(response.streaming_content)
    assert len(body) > 1_000_000 and b"plotly" in body[:2000].lower()


def test_a_snapshot_of_an_older_layout_is_recomputed(client, voted):
    from django.utils import timezone

    LeaderboardSnapshot.objects.create(computed_at=timezone.now(), data={"version": 0, "boards": {}})
    html = client.get("/leaderboard/").content.decode()
    assert "4 blind votes" in html
    from analysis.leaderboard.selectors.boards import SNAPSHOT_VERSION

    assert sorted(s.data.get("version") for s in LeaderboardSnapshot.objects.all()) == [SNAPSHOT_VERSION]


def test_one_vote_on_a_fresh_arena_gives_modest_provisional_rows(client, make_contender, make_battle, vote):
    alpha, beta = make_contender(name="Alpha", family="Greek"), make_contender(name="Beta", family="Greek")
    vote(make_battle(alpha, beta), "a")
    data = client.get("/api/leaderboard.json").json()
    rows = data["ladders"]["blind"]["rows"]
    assert [r["name"] for r in rows] == ["Alpha", "Beta"]
    for r in rows:
        assert r["provisional"] is True and r["battles"] == 1
        # FastChat's maximum likelihood said 2285 against -285, with intervals (2285-2285)
        assert 600 < r["rating"] < 1400 and r["lower"] < r["rating"] < r["upper"]
        assert 100 < r["upper"] - r["lower"] < 1000
    assert 0 < rows[0]["rating"] - rows[1]["rating"] < 600
    assert data["prior"] > 0 and data["provisional_battles"] >= 2
    html = client.get("/leaderboard/").content.decode()
    assert html.count('<tr class="lb-provisional">') == 2
    assert '<span class="lb-prov"' in html and "provisional</span>: fewer than" in html


def test_prior_zero_in_the_settings_is_maximum_likelihood(client, settings, make_contender, make_battle, vote):
    settings.ANALYSIS_PRIOR_SCALE = 0
    settings.ANALYSIS_PROVISIONAL_BATTLES = 0
    alpha, beta = make_contender(name="Alpha"), make_contender(name="Beta")
    vote(make_battle(alpha, beta), "a")
    rows = client.get("/api/leaderboard.json").json()["ladders"]["blind"]["rows"]
    assert [round(r["rating"]) for r in rows] == [2285, -285] and not any(r["provisional"] for r in rows)


def test_a_negative_prior_setting_is_refused_naming_it(settings, make_contender, make_battle, vote):
    from django.core.exceptions import ImproperlyConfigured

    settings.ANALYSIS_PRIOR_SCALE = -1.0
    alpha, beta = make_contender(name="Alpha"), make_contender(name="Beta")
    vote(make_battle(alpha, beta), "a")
    with pytest.raises(ImproperlyConfigured, match="ANALYSIS_PRIOR_SCALE"):
        leaderboard_refit(push=False)
    assert not LeaderboardSnapshot.objects.exists()


def snapshot_of_records(n: int = 200, contexts: bool = True):
    """A stored snapshot computed from battles with known lengths, markdown and energies; one family's
    name needs escaping."""
    import random

    from django.utils import timezone

    from analysis.leaderboard.battle_log import BattleRecord
    from analysis.leaderboard.board import board_compute, board_inputs_from_records
    from analysis.leaderboard.selectors.boards import SNAPSHOT_VERSION

    rng = random.Random(3)
    families = {"Alpha": "<b>fam</b>", "Beta": "<b>fam</b>", "Gamma": "Other"}
    records = []
    for i in range(n):
        a, b = rng.sample(sorted(families), 2)
        ja, jb = rng.uniform(0.5, 4), rng.uniform(0.5, 4)
        records.append(BattleRecord(
            key=str(i), kind="chat", model_a=a, model_b=b, family_a=families[a], family_b=families[b],
            winner=rng.choice(["a", "b", "tie"]), tstamp=1e9 + i, winner_after="a" if ja < jb else "b",
            energy_a_j=ja, energy_b_j=jb, output_tokens_a=rng.randint(10, 300), output_tokens_b=rng.randint(10, 300),
            headers_a=rng.randint(0, 2), headers_b=rng.randint(0, 2), lists_a=rng.randint(0, 4),
            lists_b=rng.randint(0, 4), bold_a=rng.randint(0, 2), bold_b=rng.randint(0, 2),
        ))
    inputs = board_inputs_from_records(records)["chat"]
    if not contexts:
        inputs.contexts = None
    board = board_compute(inputs, rounds=2, prior=400, provisional=20)
    data = {"version": SNAPSHOT_VERSION, "rounds": 2, "kinds": ["chat"], "boards": {"chat": board}}
    return LeaderboardSnapshot.objects.create(computed_at=timezone.now(), data=data)


def test_style_view_of_both_ladders_and_the_price_of_energy(client, db):
    snapshot_of_records()
    plain = client.get("/leaderboard/?kind=chat").content.decode()
    assert 'href="/leaderboard/?kind=chat&amp;view=style">style-controlled</a>' in plain
    assert 'id="lb-style-coefficients"' not in plain
    # the price of energy, overall and per family, escaped; voters here always took the smaller answer
    assert "Each doubling of an answer's energy costs <strong>" in plain
    assert re.search(r"from \d+ energy-aware votes", plain)
    assert "&lt;b&gt;fam&lt;/b&gt;" in plain and "<b>fam</b>" not in plain
    html = client.get("/leaderboard/?kind=chat&view=style").content.decode()
    assert "Blind and energy-aware ladders, style-controlled" in html
    assert 'id="lb-style-coefficients"' in html and "length" in html
    assert '<input type="hidden" name="view" value="style">' in html  # kept with the other filters
    assert 'href="/leaderboard/?kind=chat">plain</a>' in html
    assert "intervals by the Laplace approximation" in html
    fragment = client.get("/leaderboard/fragment/?view=style").content.decode()
    assert 'id="lb-style-coefficients"' in fragment
    # the JSON API returns the board as is
    data = client.get("/api/leaderboard.json").json()
    assert set(data["style_control"]) == {"blind", "energy"} and data["energy_price"]["overall"]["points"] > 0


def test_style_view_without_style_control_says_why(client, db):
    snapshot_of_records(40, contexts=False)
    html = client.get("/leaderboard/?view=style").content.decode()
    assert "Style-controlled ratings are not available for this board" in html
    assert 'id="lb-ladders"' in html and "lb-style-coefficients" not in html
    assert 'id="lb-energy-price"' not in html
    response = client.get("/leaderboard/?view=fancy")
    assert response.status_code == 400 and "view must be one of plain, style" in response.content.decode()


def test_rows_and_contender_pages_show_the_models_size(client, make_contender, make_battle, vote):
    small = make_contender(name="Small greedy", family="Pair")
    large = make_contender(name="Large greedy", family="Pair")
    for contender, count in ((small, 630_167_424), (large, 1_777_088_000)):
        contender.model.parameter_count = count
        contender.model.save()
    vote(make_battle(small, large), "b", "a")
    html = client.get("/leaderboard/").content.decode()
    assert f'<a href="/models/{large.slug}/">Large greedy</a>' in html
    assert '<span class="lb-params">1.78B parameters</span>' in html
    assert '<span class="lb-params">630M parameters</span>' in html
    page = client.get(f"/models/{large.slug}/").content.decode()
    assert '<span title="1777088000">1.78B parameters</span>' in page
    rows = client.get("/api/leaderboard.json").json()["side_by_side"]
    assert {row["name"]: row["model"]["parameters"] for row in rows} == {
        "Small greedy": "630M parameters", "Large greedy": "1.78B parameters"}


def _shown_summary(html: str) -> dict:
    """The summary's sentences as the page shows them (unescaped)."""
    return {key: htmllib.unescape(re.search(rf'<p id="lb-summary-{key}">(.*?)</p>', html, re.S).group(1))
            for key in ("leader", "energy", "switches")}


def test_the_summary_comes_first_and_equals_the_json(client, voted):
    data = client.get("/api/leaderboard.json").json()
    assert list(data["summary"]) == ["leader", "energy", "switches"]
    assert data["summary"]["leader"] == "Only 4 blind votes so far: too few to say who leads."
    assert data["summary"]["switches"].endswith("in 1 of 1 vote: too few votes for a rate "
                                                "(it could be anywhere from 21% to 100%).")
    html = client.get("/leaderboard/").content.decode()
    assert _shown_summary(html) == data["summary"]
    # on the page: under the title and its one-paragraph introduction, above the filters and the tables
    assert html.count('id="lb-summary"') == 1
    assert html.index('class="lead"') < html.index('id="lb-summary"') < html.index('<form class="lb-filters')
    assert html.index('id="lb-summary"') < html.index('id="lb-ladders"')
    # in the fragment the live update swaps in: at the top of the board
    fragment = client.get("/leaderboard/fragment/").content.decode()
    assert _shown_summary(fragment) == data["summary"]
    assert fragment.index('id="lb-summary"') < fragment.index('class="lb-status"') < fragment.index('id="lb-ladders"')


def test_the_summary_of_a_larger_board_names_the_leader_escaped(client, settings, make_contender, make_battle, vote):
    settings.ANALYSIS_PROVISIONAL_BATTLES = 0
    evil = make_contender(name='<img src=x onerror="alert(1)">', family="F")
    plain = make_contender(name="Plain", family="F")
    for _ in range(12):
        vote(make_battle(evil, plain), "a")
    data = client.get("/api/leaderboard.json").json()
    assert data["summary"]["leader"].startswith('<img src=x onerror="alert(1)"> leads the blind ladder after 12 votes')
    html = client.get("/leaderboard/").content.decode()
    assert "<img src=x" not in html
    assert '<p id="lb-summary-leader">&lt;img src=x onerror=&quot;alert(1)&quot;&gt; leads the blind ladder' in html
    assert _shown_summary(html) == data["summary"]


def test_the_style_view_summarises_its_own_ladders(client, db):
    snapshot = snapshot_of_records()
    plain = _shown_summary(client.get("/leaderboard/").content.decode())
    assert plain == snapshot.data["boards"]["chat"]["summary"]
    styled = _shown_summary(client.get("/leaderboard/?view=style").content.decode())
    style = snapshot.data["boards"]["chat"]["style_control"]["blind"]
    leader = style["rows"][0]["name"]
    assert styled["leader"].startswith(f"{leader} leads the blind ladder after {style['battles']} votes")


def test_a_snapshot_from_before_the_summary_gets_one(client, db):
    from analysis.leaderboard.summary import board_summary

    snapshot = snapshot_of_records(40)
    expected = snapshot.data["boards"]["chat"].pop("summary")
    snapshot.save()
    assert "summary" not in LeaderboardSnapshot.objects.get().data["boards"]["chat"]
    assert client.get("/api/leaderboard.json").json()["summary"] == expected
    assert _shown_summary(client.get("/leaderboard/").content.decode()) == expected
    assert expected == board_summary(snapshot.data["boards"]["chat"])


@pytest.mark.parametrize("query", ["", "?view=style"])
def test_jargon_and_elo_sit_behind_disclosures(client, db, query):
    snapshot_of_records()
    html = client.get(f"/leaderboard/{query}").content.decode()
    method = re.search(r'<details class="lb-details lb-method" id="lb-method">.*?</details>', html, re.S).group(0)
    assert "Bradley-Terry" in method and ("bootstrap" in method or "Laplace" in method)
    outside = re.sub(r"<details\b.*?</details>", "", html, flags=re.S)
    for word in ("Bradley-Terry", "bootstrap", "Laplace", "prior"):
        assert not re.search(rf"\b{word}\b", outside, re.I), word
    if not query:  # the Elo columns are there, hidden until the reader ticks "Show online Elo"
        assert '<input type="checkbox" class="lb-elo-toggle" id="lb-elo-toggle">' in html
        assert html.count('class="num lb-c1 lb-elo"') == html.count('class="num lb-c2 lb-elo"') == 3


def test_a_retired_contender_keeps_its_rows_marked_and_can_be_hidden(client, voted):
    """Disabling a contender (as the admin saves it) retires it: no longer drawn, still ranked, marked with
    the day; ?retired=hide leaves its rows out; another value is a 400 naming the choices."""
    from django.utils import timezone

    from modelhub.models import Contender
    from modelhub.selectors import contenders_ready

    leaderboard_refit(push=False, rounds=3)
    retired = Contender.objects.order_by("id").first()
    retired.enabled = False
    retired.save()
    assert retired.retired_at is not None and retired not in contenders_ready()
    day = timezone.now().date().isoformat()
    board = client.get("/api/leaderboard.json").json()
    rows = {row["name"]: row for row in board["ladders"]["blind"]["rows"]}
    assert rows[retired.name]["retired"] == day
    assert all(row["retired"] is None for name, row in rows.items() if name != retired.name)
    assert {row["name"]: row["retired"] for row in board["side_by_side"]}[retired.name] == day
    page = client.get("/leaderboard/").content.decode()
    assert f"retired {day}" in page
    hidden = client.get("/api/leaderboard.json?retired=hide").json()
    assert retired.name not in {row["name"] for row in hidden["ladders"]["blind"]["rows"]}
    assert retired.name not in {row["name"] for row in hidden["side_by_side"]}
    assert retired.name not in {row["name"] for row in hidden["energy"]}
    assert len(hidden["ladders"]["blind"]["rows"]) == len(rows) - 1
    refused = client.get("/api/leaderboard.json?retired=maybe")
    assert refused.status_code == 400 and "retired must be show or hide" in refused.json()["error"]
    retired.enabled = True
    retired.save()
    assert retired.retired_at is None
