"""The run page, its JSON, the contender page's training cost, the admin form and its cancel action."""

import json

import pytest
from django.test import Client

from analysis.diagnostics.models import DiagnosticsRun
from training.models import TrainingRun

CURVES = [{"step": 0, "loss": None, "alignment": 0.4, "uniformity": -2.0},
          {"step": 20, "loss": 1.5, "alignment": 0.3, "uniformity": -2.2}]


@pytest.fixture
def trained(make_contender):
    base = make_contender(kind="encoder", name="Base <b>enc</b>")
    new = make_contender(kind="encoder", name="Tuned")
    before = DiagnosticsRun.objects.create(contender=base, source="sts", status="done",
                                           metrics={"sts_spearman": 82.03, "alignment": 0.4, "uniformity": -2.0,
                                                    "isotropy": 0.2, "rankme": 200.0})
    after = DiagnosticsRun.objects.create(contender=new, source="sts", status="done",
                                          metrics={"sts_spearman": 83.1, "alignment": 0.3, "uniformity": -2.2,
                                                   "isotropy": 0.25, "rankme": 210.0})
    return TrainingRun.objects.create(
        base=base, name="Tuned", objective="cosent", pairs_path="/srv/secret/pairs-x.tsv", status="done",
        progress=1.0, step=20, total_steps=20, curves=CURVES, joules=12345.0, energy_source="estimate",
        energy_method="estimated from 823 s of CPU time × 15 W per core", model=new.model,
        diagnostics_before=before, diagnostics_after=after)


@pytest.mark.django_db
def test_run_page_and_json(trained):
    client = Client()
    page = client.get(f"/training/{trained.id}/")
    html = page.content.decode()
    assert page.status_code == 200 and "Training cost 12.35 kJ" in html and "83.100" in html
    assert "Base &lt;b&gt;enc&lt;/b&gt;" in html and "<b>enc</b>" not in html  # escaped
    assert "pairs-x.tsv" in html and "/srv/secret" not in html  # the file's name, never the server's path
    data = client.get(f"/training/{trained.id}.json").json()
    assert data["curves"] == CURVES and data["finished"] and data["contender_url"] == "/models/tuned/"
    assert [row["key"] for row in data["comparison"]] == ["sts_spearman", "alignment", "uniformity", "isotropy",
                                                          "rankme"]
    listing = client.get("/training/").content.decode()
    assert f"/training/{trained.id}/" in listing and "12.35 kJ" in listing
    assert client.get("/training/999999/").status_code == 404


@pytest.mark.django_db
def test_contender_page_shows_training_cost_origin_and_before_after(trained):
    html = Client().get("/models/tuned/").content.decode()
    assert 'id="contender-training-cost"' in html and "Training cost 12.35 kJ" in html
    assert "fine-tuned from Encoder-model-" in html or "fine-tuned from Fam-model-" in html
    assert 'id="contender-training-diagnostics"' in html and "82.03" in html and "83.10" in html
    # a contender that was not trained shows none of it
    other = Client().get(f"/models/{trained.base.slug}/").content.decode()
    assert "Training cost" not in other and "contender-origin" not in other


@pytest.mark.django_db
def test_admin_form_refuses_bad_input_then_queues_a_run_and_cancels_it(admin_client, make_contender, tmp_path,
                                                                      django_capture_on_commit_callbacks):
    chat = make_contender(kind="chat")
    encoder = make_contender(kind="encoder")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"a {i}\tb {i}\t{i}\n" for i in range(10)))
    form = {"name": "Mine", "objective": "cosent", "pairs_path": str(pairs), "epochs": 1, "batch_size": 4,
            "learning_rate": 2e-5, "temperature": 0.05, "max_length": 64, "seed": 0, "eval_every": 5}
    answer = admin_client.post("/admin/training/trainingrun/add/", {**form, "base": chat.id})
    assert answer.status_code == 200 and "Select a valid choice" in answer.content.decode()  # encoders only
    answer = admin_client.post("/admin/training/trainingrun/add/", {**form, "base": encoder.id, "learning_rate": 0})
    assert "The learning rate must be &gt; 0" in answer.content.decode()
    assert not TrainingRun.objects.exists()

    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = admin_client.post("/admin/training/trainingrun/add/", {**form, "base": encoder.id})
    assert answer.status_code == 302 and len(queued) == 1
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.QUEUED and run.base == encoder
    change = admin_client.get(f"/admin/training/trainingrun/{run.id}/change/").content.decode()
    assert f"/training/{run.id}/" in change and "Time left" in change
    admin_client.post("/admin/training/trainingrun/", {"action": "cancel", "_selected_action": [run.id]})
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED
    assert json.loads(Client().get(f"/training/{run.id}.json").content)["finished"]
