"""Every page of the admin site renders for staff, with a row of each model (the job models included)."""

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from analysis.diagnostics.models import DiagnosticsRun
from arena.models import Corpus, CorpusEmbedding
from arena.services import battle_create, vote_cast
from tests.factories import finish
from workers.models import WorkerHeartbeat


def test_every_admin_list_and_change_page_renders(admin_client, make_contender):
    first, second = make_contender(), make_contender()
    battle = battle_create(prompt="hi", session_key="s1")
    finish(battle)
    vote_cast(battle_id=battle.id, session_key="s1", stage="blind", choice="a")
    corpus = Corpus.objects.create(name="Trivia")
    CorpusEmbedding.objects.create(corpus=corpus, contender=first, status="running", progress=0.4)
    DiagnosticsRun.objects.create(contender=second, source=DiagnosticsRun.Source.CORPUS)
    WorkerHeartbeat.objects.create(hostname="w@h", pid=1, started_at=timezone.now(), last_seen=timezone.now())

    checked = set()
    for model in admin.site._registry:
        meta = model._meta
        listing = admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert listing.status_code == 200, meta.label
        row = model.objects.first()
        if row is not None:
            change = admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.pk]))
            assert change.status_code == 200, meta.label
            checked.add(meta.label)
    # Battle pages show their responses inline, corpus pages their embeddings (progress bars of running jobs).
    assert {"modelhub.Model", "modelhub.Contender", "arena.Battle", "arena.Vote", "arena.Corpus",
            "workers.WorkerHeartbeat"} <= checked
