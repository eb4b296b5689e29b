"""Votes cast in Debian's chromium reach the leaderboard page live, with real SmolLM2 contenders."""

import json

import pytest

from tests.factories import wait_for_stage, wait_until


def _battle(page, base: str, prompt: str, blind: str, final: str) -> None:  # noqa: F811
    page.goto(f"{base}/arena/")
    page.fill("#prompt", prompt)
    page.click("#send")
    wait_for_stage(page, "blind_vote")
    page.click(f"#vote-bar button[data-choice='{blind}']")
    wait_for_stage(page, "final_vote", 20_000)
    page.click(f"#final-vote-bar button[data-choice='{final}']")
    wait_for_stage(page, "revealed", 20_000)


def test_votes_in_the_browser_reach_the_live_leaderboard(arena_server, settings, page, artifacts_dir):  # noqa: F811
    settings.ANALYSIS_REFIT_DELAY_S = 0.3
    settings.ANALYSIS_BOOTSTRAP_ROUNDS = 20
    board = page.context.new_page()
    board.goto(f"{arena_server}/leaderboard/")
    assert "No counted battles yet." in board.text_content("#lb-board")

    _battle(page, arena_server, "Name two colours.", "a", "b")
    # the open leaderboard page replaces its tables when the refit lands (websocket, then a fetch)
    # (a refit follows each vote, so the blind vote may show up first, then the second one)
    wait_until(board,
        "document.querySelector('#lb-announce').textContent.includes('updated') && "
        "document.querySelector('.lb-status').textContent.includes('1 vote after the energy reveal')",
        timeout=60_000,
    )
    assert "SmolLM2" in board.text_content("#lb-ladders")
    assert "1 blind vote," in board.text_content(".lb-status")

    _battle(page, arena_server, "Say hello in French.", "b", "b")
    wait_until(board,
        "document.querySelector('.lb-status').textContent.includes('2 votes after the energy reveal')",
        timeout=60_000,
    )
    board.wait_for_selector(".lb-figure[data-figure='energy_scatter'] .main-svg", state="attached")
    board.wait_for_selector(".lb-figure[data-figure='win_rate_blind'] .main-svg", state="attached")
    assert "Switches after the energy reveal" in board.text_content("#lb-board")
    assert "J per response" in board.text_content("#lb-energy")
    board.screenshot(path=str(artifacts_dir / "leaderboard-live.png"), full_page=True)

    data = board.request.get(f"{arena_server}/api/leaderboard.json").json()
    for ladder in ("blind", "energy"):
        rows = [row for row in data["ladders"][ladder]["rows"] if row["rating"] is not None]
        assert rows and all(row["lower"] <= row["rating"] <= row["upper"] for row in rows)
    assert data["ladders"]["blind"]["battles"] == 2 and data["ladders"]["energy"]["battles"] == 2
    assert all(row["joules_mean"] > 0 for row in data["energy"] if row["responses"])
    assert data["gea"]["overall"]["n_eligible"] + data["gea"]["overall"]["opposite_n_eligible"] >= 1
    lines = [json.loads(line) for line in board.request.get(f"{arena_server}/api/battles.jsonl").text().splitlines()]
    assert [(line["winner"], line["winner_after_energy"]) for line in lines] == [
        ("model_a", "model_b"), ("model_b", "model_b")
    ]
    assert all(line["energy_a_j"] > 0 and line["energy_b_j"] > 0 for line in lines)


@pytest.fixture
def one_vote(asgi_server, settings, make_contender, make_battle, vote):
    """A fresh arena with one blind vote, refitted (set up before the browser: it uses the ORM)."""
    from analysis.leaderboard.services.refit import leaderboard_refit

    settings.ANALYSIS_BOOTSTRAP_ROUNDS = 50
    alpha = make_contender(name="Alpha", family="Greek")
    beta = make_contender(name="Beta", family="Greek")
    vote(make_battle(alpha, beta), "a")
    leaderboard_refit(push=False)
    return asgi_server


def test_one_vote_shows_provisional_rows_with_honest_intervals(one_vote, browser_page, artifacts_dir):
    browser_page.goto(f"{one_vote}/leaderboard/")
    rows = browser_page.locator("#lb-ladders tbody tr.lb-provisional")
    assert rows.count() == 2
    text = browser_page.text_content("#lb-ladders")
    assert "provisional" in text and "2285" not in text
    browser_page.screenshot(path=str(artifacts_dir / "leaderboard-provisional.png"), full_page=True)
    data = browser_page.request.get(f"{one_vote}/api/leaderboard.json").json()
    blind = data["ladders"]["blind"]["rows"]
    assert [r["provisional"] for r in blind] == [True, True]
    assert all(100 < r["upper"] - r["lower"] < 1000 for r in blind)


@pytest.fixture
def styled(asgi_server):
    """A stored snapshot with style control and the price of energy (set up before the browser)."""
    from tests.analysis.test_views import snapshot_of_records

    snapshot_of_records()
    return asgi_server


def test_style_view_toggles_and_the_price_of_energy_is_shown(styled, browser_page, artifacts_dir):
    browser_page.goto(f"{styled}/leaderboard/")
    assert "Each doubling of an answer's energy costs" in browser_page.text_content("#lb-energy-price")
    assert browser_page.locator("#lb-style-coefficients").count() == 0
    browser_page.click("#lb-view a")
    browser_page.wait_for_selector("#lb-style-coefficients")
    assert "view=style" in browser_page.url
    assert "style-controlled" in browser_page.text_content("#lb-ladders-title")
    browser_page.screenshot(path=str(artifacts_dir / "leaderboard-style.png"), full_page=True)
    browser_page.click("#lb-view a")
    browser_page.wait_for_url(lambda url: "view=style" not in url)
    assert browser_page.locator("#lb-style-coefficients").count() == 0


@pytest.fixture
def many_votes(asgi_server):
    """A stored snapshot of 200 battles among three contenders (set up before the browser)."""
    from tests.analysis.test_views import snapshot_of_records

    return asgi_server, snapshot_of_records().data["boards"]["chat"]["summary"]


def test_a_newcomer_reads_the_summary_first_and_a_phone_gets_cards(many_votes, browser_page, artifacts_dir):
    base, summary = many_votes
    page = browser_page
    page.goto(f"{base}/leaderboard/")
    # desktop: the summary comes first after the title and introduction, all of it in the first screen,
    # the same sentences as the server's
    assert page.evaluate("Array.from(document.querySelector('main').children, e => e.id || e.tagName)")[:3] == [
        "H1", "P", "lb-summary-slot"]
    box = page.locator("#lb-summary").bounding_box()
    assert box["y"] + box["height"] <= 900
    assert page.text_content("#lb-summary-leader") == summary["leader"]
    assert "leads the blind ladder after 200 votes" in summary["leader"]
    # the jargon waits behind its disclosure; Elo is hidden until asked for
    assert not page.locator("#lb-method p").first.is_visible()
    page.click("#lb-method summary")
    assert page.locator("#lb-method p").first.is_visible()
    elo = page.locator("#lb-ladders tbody tr").first.locator(".lb-elo").first
    assert not elo.is_visible()
    page.check("#lb-elo-toggle")
    assert elo.is_visible()
    page.uncheck("#lb-elo-toggle")
    # every point of the energy plot carries its contender's name as a label
    page.wait_for_selector(".lb-figure[data-figure='energy_scatter'] .main-svg", state="attached")
    labels = page.locator(".lb-figure[data-figure='energy_scatter'] .textpoint").all_text_contents()
    assert sorted(labels) == ["Alpha", "Alpha", "Beta", "Beta", "Gamma", "Gamma"]  # one per ladder
    page.screenshot(path=str(artifacts_dir / "leaderboard-desktop.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/leaderboard/")
    page.wait_for_selector(".lb-figure[data-figure='energy_scatter'] .main-svg", state="attached")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing scrolls sideways
    assert page.locator("#lb-summary-leader").bounding_box()["y"] < 844  # the summary starts in the first screen
    for row in page.locator("#lb-ladders tbody tr").all():  # each card shows both ladders' ranks
        for cell in (row.locator(".lb-rank").first, row.locator(".lb-energy-rank")):
            assert cell.is_visible()
            box = cell.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert "Energy-aware rank" in page.evaluate(
        "getComputedStyle(document.querySelector('#lb-ladders tbody .lb-energy-rank'), '::before').content")
    page.screenshot(path=str(artifacts_dir / "leaderboard-phone.png"), full_page=True)


@pytest.fixture
def voting_on(asgi_server, settings, make_contender, make_battle, vote):
    """One blind vote, refitted; ``another()`` casts a second and refits with a push (run it in
    in_db_thread: the browser's event loop holds this thread)."""
    from analysis.leaderboard.services.refit import leaderboard_refit

    settings.ANALYSIS_BOOTSTRAP_ROUNDS = 20
    alpha, beta = make_contender(name="Alpha", family="Greek"), make_contender(name="Beta", family="Greek")
    vote(make_battle(alpha, beta), "a")
    leaderboard_refit(push=False)

    def another():
        vote(make_battle(alpha, beta), "b")
        leaderboard_refit(push=True)

    return asgi_server, another


def test_the_summary_updates_live(voting_on, browser_page):
    from tests.factories import in_db_thread

    base, another = voting_on
    browser_page.goto(f"{base}/leaderboard/")
    assert browser_page.text_content("#lb-summary-leader") == "Only 1 blind vote so far: too few to say who leads."
    in_db_thread(another)
    wait_until(browser_page,
        "document.querySelector('#lb-summary-leader').textContent"
        " === 'Only 2 blind votes so far: too few to say who leads.'", timeout=30_000,
    )
    # the new summary took the old one's place, above the filters (not a second copy inside the board)
    assert browser_page.locator("#lb-summary").count() == 1
    assert browser_page.locator("#lb-summary-slot #lb-summary-leader").count() == 1
