from analysis.diagnostics.selectors import contender_card
from analysis.leaderboard.services.refit import leaderboard_refit


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


def test_contender_energy_counts_only_battles_the_public_may_see(make_contender, make_battle, vote, settings):
    from arena.services import vote_cast
    from tests.factories import close_voting

    alpha, beta = make_contender(name="Alpha"), make_contender(name="Beta")
    unvoted = make_battle(alpha, beta, joules=(7.0, 1.0))
    blind_only = make_battle(alpha, beta, joules=(9.0, 1.0))
    vote_cast(battle_id=blind_only.id, session_key=blind_only.session_key, stage="blind", choice="a")
    assert contender_card(contender=alpha)["energy"]["responses"] == 0
    vote(make_battle(alpha, beta, joules=(3.0, 1.0)), "a", "b")
    assert contender_card(contender=alpha)["energy"]["mean_joules"] == 3.0
    close_voting(unvoted)
    energy = contender_card(contender=alpha)["energy"]
    assert energy["responses"] == 2 and energy["mean_joules"] == 5.0
