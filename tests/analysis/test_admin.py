"""The analysis admin: leaderboard competitors are named apart from contenders, the rows the leaderboard
makes have no add page, measured numbers are rounded."""

import re
from datetime import UTC, datetime

import pytest

from analysis.models import Competitor, ImportedBattle, LeaderboardSnapshot

RAW_JOULES = 2.0528637919999255


@pytest.mark.django_db
def test_the_index_names_leaderboard_competitors_apart_from_contenders(admin_client):
    index = admin_client.get("/admin/").content.decode()
    assert "Leaderboard competitors" in index and "Contenders" in index
    assert not re.search(r">\s*Competitors\s*<", index)
    listing = admin_client.get("/admin/analysis/competitor/").content.decode()
    assert "What the leaderboard ranks" in listing and "imported battle log" in listing
    assert "Select leaderboard competitor to change" in listing


def test_competitors_come_only_from_the_leaderboard(admin_client, make_contender):
    contender = make_contender()
    competitor = Competitor.objects.create(name=contender.name, contender=contender)
    assert admin_client.get("/admin/analysis/competitor/add/").status_code == 403
    assert admin_client.post("/admin/analysis/competitor/add/", {"name": "Hand-made"}).status_code == 403
    assert not Competitor.objects.filter(name="Hand-made").exists()
    listing = admin_client.get("/admin/analysis/competitor/").content.decode()
    assert 'href="/admin/analysis/competitor/add/"' not in listing and contender.name in listing
    page = admin_client.get(f"/admin/analysis/competitor/{competitor.id}/change/").content.decode()
    assert "Change leaderboard competitor" in page


@pytest.mark.django_db
def test_imported_battles_show_their_energies_rounded(admin_client):
    battle = ImportedBattle.objects.create(
        source_key="log:1", competitor_a=Competitor.objects.create(name="ext-a"),
        competitor_b=Competitor.objects.create(name="ext-b"), winner="a", tstamp=datetime(2025, 1, 2, tzinfo=UTC),
        energy_a_j=RAW_JOULES, energy_b_j=None,
    )
    listing = admin_client.get("/admin/analysis/importedbattle/").content.decode()
    assert "2.05 J" in listing and str(RAW_JOULES) not in listing
    page = admin_client.get(f"/admin/analysis/importedbattle/{battle.id}/change/").content.decode()
    assert "Energy of A" in page and "2.05 J" in page and str(RAW_JOULES) not in page
    assert "ext-a" in page and "log:1" in page


@pytest.mark.django_db
def test_a_snapshot_shows_its_fit_time_rounded(admin_client):
    snapshot = LeaderboardSnapshot.objects.create(computed_at=datetime(2025, 1, 2, tzinfo=UTC),
                                                  seconds=0.123456789, data={})
    listing = admin_client.get("/admin/analysis/leaderboardsnapshot/").content.decode()
    assert "Fit time" in listing and "0.12 s" in listing and "0.123456789" not in listing
    page = admin_client.get(f"/admin/analysis/leaderboardsnapshot/{snapshot.id}/change/").content.decode()
    assert "0.12 s" in page and "0.123456789" not in page and 'name="seconds"' not in page
