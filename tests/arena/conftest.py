"""Fixtures of the arena's tests (contenders: the root conftest's factory)."""

import pytest


@pytest.fixture
def two_chat(make_contender):
    return make_contender(family="Fam"), make_contender(family="Fam")
