"""Near-duplicate prompts (arena/prompt_groups.py) with the bundled all-MiniLM-L6-v2: grouping across
sessions, the down-sampling past a group's cap, and what it does to the ratings."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from arena.models import Battle, PromptGroup, Response
from arena.prompt_groups import downsampled, prompt_group_assign


@pytest.fixture
def encoder_ready(bundled_ready):
    (model,) = bundled_ready("all-minilm-l6-v2")
    return model


@pytest.fixture
def pair(make_contender):
    return make_contender(family="Fam"), make_contender(family="Fam")


def asked(pair, prompt: str, session_key: str) -> Battle:
    a, b = pair
    battle = Battle.objects.create(prompt=prompt, contender_a=a, contender_b=b, policy="uniform",
                                   session_key=session_key)
    for side, contender in (("a", a), ("b", b)):
        Response.objects.create(battle=battle, side=side, contender=contender)
    return prompt_group_assign(battle_id=battle.id)


def test_paraphrases_of_other_sessions_share_a_group(encoder_ready, pair):
    first = asked(pair, "How do I reverse a list in Python?", "s1")
    paraphrase = asked(pair, "How can I reverse a Python list?", "s2")
    other = asked(pair, "How do I sort a list in Python?", "s3")  # cosine 0.57: another question
    own_repeat = asked(pair, "How could I reverse a list in Python?", "s1")  # the same session: its own repeat
    assert first.prompt_group is not None and paraphrase.prompt_group_id == first.prompt_group_id
    assert other.prompt_group_id not in (None, first.prompt_group_id)
    assert own_repeat.prompt_group_id is None
    assert PromptGroup.objects.get(id=first.prompt_group_id).size == 2


def test_past_the_cap_a_group_counts_one_battle_in_k(encoder_ready, pair, settings):
    settings.ARENA_DUPLICATE_CAP, settings.ARENA_DUPLICATE_KEEP_EVERY = 2, 2
    battles = [asked(pair, "Why is the sky blue?", f"s{n}") for n in range(6)]
    assert [b.duplicate_downsampled for b in battles] == [False, False, True, False, True, False]
    assert [b.counts_for_ranking for b in battles] == [True, True, False, True, False, True]
    assert [downsampled(n) for n in range(1, 7)] == [False, False, True, False, True, False]
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("boss", "", "a-long-password-1"))
    page = admin.get("/admin/arena/promptgroup/").content.decode()
    assert "Why is the sky blue?" in page and "6" in page


def test_without_a_ready_encoder_prompts_are_not_grouped(pair, db):
    battle = asked(pair, "Why is the sky blue?", "s1")
    assert battle.prompt_group is None and battle.counts_for_ranking
