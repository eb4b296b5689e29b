from analysis.diagnostics_selectors import contender_card
from analysis.services import leaderboard_refit


def test_contender_card_shows_its_ratings_and_energy(make_contender, make_battle, vote):
    alpha, beta = make_contender(name="Alpha"), make_contender(name="Beta")
    assert contender_card(contender=alpha)["ratings"] == []  # no snapshot yet
    vote(make_battle(alpha, beta, joules=(3.0, 1.0)), "a", "b")
    vote(make_battle(alpha, beta, joules=(5.0, 1.0)), "a", "a")
    leaderboard_refit(rounds=5, push=False)
    card = contender_card(contender=alpha)
    assert {(r["kind"], r["ladder"]) for r in card["ratings"]} == {("chat", "blind"), ("chat", "energy")}
    assert all(r["name"] == "Alpha" and r["battles"] == 2 for r in card["ratings"])
    assert card["energy"]["responses"] == 2 and card["energy"]["mean_joules"] == 4.0
    assert card["energy"]["joules_per_token"] == 8.0 / 20
