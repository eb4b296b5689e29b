import pytest

from arena.formatting import energy_about_the_same, energy_everyday, energy_ratio, identity_terms, mentions_identity


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
