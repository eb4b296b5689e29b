"""The training admin: a run's page keeps its progress in view, folds away what was measured, and rounds it."""

from training.models import TrainingRun


def test_a_run_page_folds_away_what_was_measured_rounded(admin_client, make_contender):
    run = TrainingRun.objects.create(
        base=make_contender(kind="encoder"), name="Tuned", objective="cosent", pairs_path="/p.tsv",
        status=TrainingRun.Status.RUNNING, progress=0.4567, step=9, total_steps=20, seconds=123.456789,
        joules=2052.8637919999255, energy_source="estimate", examples=640,
    )
    page = admin_client.get(f"/admin/training/trainingrun/{run.id}/change/").content.decode()
    progress, measured = page.split(">Progress<", 1)[1].split("<details>", 1)
    assert 'value="46"></progress> 46 %' in progress and "Time left" in progress
    folded = measured.split("</details>", 1)[0]
    assert "Measured" in folded and "Training time" in folded and "123.46 s" in folded and "2.05 kJ" in folded
    assert "640" in folded
    assert "123.456789" not in page and "0.4567" not in page
    listing = admin_client.get("/admin/training/trainingrun/").content.decode()
    assert "46 %" in listing and "fine-tunes an encoder contender" in listing


def test_the_add_form_asks_only_for_the_inputs(admin_client):
    page = admin_client.get("/admin/training/trainingrun/add/").content.decode()
    assert 'name="learning_rate"' in page and 'name="base"' in page
    assert "<details>" not in page and "Training time" not in page and "Time left" not in page
