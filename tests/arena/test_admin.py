"""The arena's admin: battles and votes come only from the arena, measured numbers are rounded, each list
says what its rows are."""

import pytest

from arena.models import Battle, Corpus, CorpusEmbedding, Response, Vote

RAW_JOULES = 2.0528637919999255
RAW_SECONDS = 1.2345678901234


@pytest.fixture
def battle(make_contender) -> Battle:
    """An anonymous battle, both sides answered with raw measured floats, and its blind vote."""
    first, second = make_contender(), make_contender()
    battle = Battle.objects.create(prompt="hi", contender_a=first, contender_b=second, policy="uniform",
                                   session_key="s1")
    for side, contender, joules in (("a", first, RAW_JOULES), ("b", second, 0.5)):
        Response.objects.create(battle=battle, side=side, contender=contender, status=Response.Status.DONE,
                                text=f"answer {side}", output_tokens=10, duration_s=RAW_SECONDS, joules=joules,
                                energy_source="estimate")
    Vote.objects.create(battle=battle, blind_choice="a", final_choice="b", changed=True)
    return battle


def test_votes_and_battles_have_no_add_page_nor_add_link(admin_client, battle):
    for name in ("vote", "battle"):
        assert admin_client.get(f"/admin/arena/{name}/add/").status_code == 403, name
        listing = admin_client.get(f"/admin/arena/{name}/").content.decode()
        assert f'href="/admin/arena/{name}/add/"' not in listing, name
        assert f"Add {name}" not in listing, name
    assert admin_client.post("/admin/arena/vote/add/", {"battle": battle.id, "blind_choice": "b"}).status_code == 403
    assert Vote.objects.count() == 1
    # what a person may add keeps its link
    assert 'href="/admin/arena/corpus/add/"' in admin_client.get("/admin/arena/corpus/").content.decode()
    index = admin_client.get("/admin/").content.decode()
    assert 'href="/admin/arena/vote/add/"' not in index and 'href="/admin/arena/corpus/add/"' in index


def test_a_vote_is_read_only_and_named_as_the_glossary_names_it(admin_client, battle):
    vote = battle.vote
    answer = admin_client.post(f"/admin/arena/vote/{vote.id}/change/", {"blind_choice": "tie"})
    assert answer.status_code == 403
    vote.refresh_from_db()
    assert vote.blind_choice == "a"
    page = admin_client.get(f"/admin/arena/vote/{vote.id}/change/").content.decode()
    assert "Blind vote" in page and "Final vote" in page
    assert "A is better" in page and "B is better" in page
    assert 'name="_save"' not in page  # a view, not a form
    listing = admin_client.get("/admin/arena/vote/").content.decode()
    assert "Blind vote" in listing and "By blind vote" in listing and "A is better" in listing
    assert "the blind vote before the energy is shown" in listing


def test_a_battle_shows_its_energies_and_times_rounded(admin_client, battle):
    listing = admin_client.get("/admin/arena/battle/").content.decode()
    assert "2.05 J / 0.50 J" in listing
    assert str(RAW_JOULES) not in listing
    assert "sampling policy in force" in listing and "A battle is a prompt and the two answers" in listing

    page = admin_client.get(f"/admin/arena/battle/{battle.id}/change/").content.decode()
    assert "2.05 J" in page and "1.23 s" in page
    assert str(RAW_JOULES) not in page and str(RAW_SECONDS) not in page
    assert 'id="responses-empty"' not in page  # no blank response row to add


def test_a_battle_page_edits_only_the_exclusion_flags_and_folds_away_who_asked(admin_client, battle):
    page = admin_client.get(f"/admin/arena/battle/{battle.id}/change/").content.decode()
    assert 'name="identity_leak"' in page and 'name="has_error"' in page
    assert 'name="prompt"' not in page and 'name="kind"' not in page and 'name="prompt_hash"' not in page
    folded = page.split("<details>", 1)[1].split("</details>", 1)[0]
    assert "Who asked" in folded and "Session key" in folded and "Client ip" in folded
    answer = admin_client.post(f"/admin/arena/battle/{battle.id}/change/", {
        "identity_leak": "on", "kind": "retrieval",
        "responses-TOTAL_FORMS": 2, "responses-INITIAL_FORMS": 2, "responses-MIN_NUM_FORMS": 0,
        "responses-MAX_NUM_FORMS": 1000, "responses-0-id": battle.responses.get(side="a").id,
        "responses-0-battle": battle.id, "responses-1-id": battle.responses.get(side="b").id,
        "responses-1-battle": battle.id,
    })
    assert answer.status_code == 302, answer.content.decode()[:2000]
    battle.refresh_from_db()
    assert battle.identity_leak and battle.kind == Battle.Kind.CHAT


def test_a_corpus_embedding_shows_its_progress_and_time_rounded(admin_client, make_contender):
    corpus = Corpus.objects.create(name="Trivia", document_count=3)
    CorpusEmbedding.objects.create(corpus=corpus, contender=make_contender(kind="encoder"), status="running",
                                   progress=0.4567, seconds=RAW_SECONDS, joules=RAW_JOULES, document_count=3)
    page = admin_client.get(f"/admin/arena/corpus/{corpus.id}/change/").content.decode()
    assert 'value="46"></progress> 46 %' in page and "1.23 s" in page
    assert "0.4567" not in page and str(RAW_SECONDS) not in page
