import pytest

from arena.formatting import (
    PAGE_WORDS,
    energy_about_the_same,
    energy_everyday,
    energy_ratio,
    identity_terms,
    mentions_identity,
    page_words,
    passage_snippet,
)


@pytest.mark.parametrize(
    ("a", "b", "text", "ratio"),
    [
        (12.0, 5.0, "A used 2.4× the energy of B.", 2.4),
        (2.0, 10.0, "B used 5.0× the energy of A.", 5.0),
        (1.0, 1.02, "A and B used about the same energy.", 1.02),
    ],
)
def test_energy_ratio_names_the_hungrier_side(a, b, text, ratio):
    assert energy_ratio(a, b) == (text, ratio)


def test_energy_ratio_without_figures_says_so():
    assert energy_ratio(None, 3.0)[1] is None
    assert "unknown" in energy_ratio(None, 3.0)[0]
    assert energy_ratio(0.0, 3.0)[1] is None


def test_identity_leak_detects_name_and_maker_but_not_common_words():
    terms = identity_terms("SmolLM2-135M-Instruct", "SmolLM2", "Hugging Face")
    assert mentions_identity("I am SmolLM, an AI assistant.", terms)
    assert mentions_identity("I was trained by Hugging Face.", terms)
    assert mentions_identity("Made by HuggingFace", terms)
    assert not mentions_identity("Face the facts: Paris is the capital of France.", terms)
    gemma = identity_terms("Gemma-3-270M", "Gemma 3", "Google")
    assert mentions_identity("I'm Gemma, made by Google DeepMind.", gemma)
    assert not mentions_identity("I am a helpful assistant.", gemma)


@pytest.mark.parametrize(("joules", "text"), [
    (None, ""),
    (54.4, "0.015 Wh: a 10 W LED bulb lit for 5.4 s"),
    (2.0, "0.00056 Wh: a 10 W LED bulb lit for 0.20 s"),
    (1500.0, "0.42 Wh: a 10 W LED bulb lit for 2 min"),
    (100_000.0, "28 Wh: a 10 W LED bulb lit for 2.8 h"),
])
def test_energy_in_everyday_terms(joules, text):
    assert energy_everyday(joules) == text



@pytest.mark.parametrize(("a", "b", "same"), [
    (138.0, 139.0, True), (100.0, 104.9, True), (100.0, 105.0, False), (5.0, 1.0, False), (0.0, 0.0, True),
    (0.0, 3.0, False),
])
def test_about_the_same_energy_is_one_rule(a, b, same):
    """The reveal's sentence and the switch statistics (analysis.leaderboard.gea) share it."""
    assert energy_about_the_same(a, b) is same and energy_about_the_same(b, a) is same
    if a > 0 and b > 0:
        assert ("about the same" in energy_ratio(a, b)[0]) is same


@pytest.mark.parametrize(("text", "snippet"), [
    # reStructuredText: a heading's underline (and overline), directives, comments, roles, links, literals
    ("Planets\n=======\n\nJupiter is big.", "Planets: Jupiter is big."),
    ("*****\nWhy?\n*****\nBecause.", "Why? Because."),
    (".. note:: Read this first.\n\n.. _target:\n\n.. a comment\nText.", "Read this first. Text."),
    ("See :ref:`the loop <loops>`, :func:`~os.path.join` and :py:class:`int`.", "See the loop, os.path.join and int."),
    ("Use ``len(x)`` or `the docs <https://docs.python.org/>`_ or `Target`_.", "Use len(x) or the docs or Target."),
    ("Example::\n\n    x = 1\n\n::\n\n    y = 2", "Example: x = 1 y = 2"),
    ("=====  =====\nkey    value\n=====  =====\n+---+\n| a | b |\n+---+", "key value a b"),
    # Markdown: headings, emphasis, links, images, fences, bullets
    ("# Title\n\nSome **bold** and *emphasis*.", "Title: Some bold and emphasis."),
    ("[docs](https://example.org) and ![a chart](chart.png)", "docs and a chart"),
    ("```python\nprint(1)\n```\n- one\n- two", "print(1) • one • two"),
    # What stays: Python's own asterisks, dunder names, ellipses and a role-free colon
    ("f(*args, **kwargs) is 2**10 and x * y * z", "f(*args, **kwargs) is 2**10 and x * y * z"),
    ("Define __init__() and `_private` names.", "Define __init__() and _private names."),
    (">>> print(a, b)\n...     more", ">>> print(a, b) ... more"),
    ("  spaced\t\tout \n\n\n text  ", "spaced out text"),
    ("", ""),
])
def test_a_passage_snippet_drops_markup(text, snippet):
    assert passage_snippet(text) == snippet


def test_a_long_passage_is_cut_at_a_word_with_an_ellipsis():
    text = "Jupiter is the largest planet in the solar system, " * 20
    snippet = passage_snippet(text, limit=60)
    assert snippet == "Jupiter is the largest planet in the solar system, Jupiter…"
    assert len(snippet) <= 61
    assert passage_snippet("x" * 100, limit=10) == "x" * 10 + "…"  # one long word is cut where it must be
    assert passage_snippet("short", limit=60) == "short"


def test_the_built_in_python_docs_read_without_markup():
    from arena.corpora import python_docs_documents

    snippets = [passage_snippet(document.text) for document in python_docs_documents()]
    assert all(len(snippet) <= 301 for snippet in snippets)
    assert not [s for s in snippets if "====" in s or "----" in s or "****" in s or "~~~~" in s]
    assert any("__init__" in snippet for snippet in snippets)


def test_each_page_has_its_own_words_for_the_same_places():
    assert PAGE_WORDS["chat"].keys() == PAGE_WORDS["retrieval"].keys()
    assert page_words("anonymous") is page_words("named") is PAGE_WORDS["chat"]
    retrieval = page_words("retrieval")
    assert retrieval["sent_heading"] == "Query" and retrieval["vote_question"] == "Which results are better?"
    for key, text in retrieval.items():
        assert not any(word in text.lower() for word in ("answer", "prompt", "token", "writ")), key
        assert text != PAGE_WORDS["chat"][key], key
