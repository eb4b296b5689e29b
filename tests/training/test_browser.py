"""The training page in Debian's chromium: the curves and the progress follow the run live, and the
before/after table appears when it ends."""

import pytest

from tests.factories import in_db_thread, wait_until


@pytest.fixture
def running_run(make_contender):
    from training.models import TrainingRun

    base = make_contender(kind="encoder", name="Base encoder")
    return TrainingRun.objects.create(
        base=base, name="Live one", objective="cosent", pairs_path="/data/pairs.tsv", status="running",
        progress=0.1, progress_text="Step 2/20, loss 1.9000, about 40 s left", step=0, total_steps=20,
        seconds_left=40, curves=[{"step": 0, "loss": None, "alignment": 0.42, "uniformity": -2.1}])


def test_the_page_follows_a_run_live(asgi_server, running_run, artifacts_dir, browser_page):
    from analysis.diagnostics.models import DiagnosticsRun
    from training.models import TrainingRun

    page = browser_page
    page.goto(f"{asgi_server}/training/{running_run.id}/")
    page.wait_for_selector("#training-plane .main-svg", state="attached")
    assert "running" in page.text_content("#training-status")

    def progress() -> None:
        TrainingRun.objects.filter(id=running_run.id).update(
            progress=0.5, progress_text="Step 10/20, loss 1.2000, about 20 s left", step=10, seconds_left=20,
            curves=[{"step": 0, "loss": None, "alignment": 0.42, "uniformity": -2.1},
                    {"step": 5, "loss": 1.6, "alignment": 0.38, "uniformity": -2.2},
                    {"step": 10, "loss": 1.2, "alignment": 0.35, "uniformity": -2.3}], joules=1500.0,
            energy_source="estimate", energy_method="estimated from 100 s of CPU time × 15 W per core")

    in_db_thread(progress)
    wait_until(page, "document.querySelector('#training-progress').value === 50", timeout=15_000)
    assert "Step 10/20" in page.text_content("#training-progress-text")
    assert "Training cost 1.50 kJ" in page.text_content("#training-energy")
    # the plane now holds the three evaluation points (one text label each)
    wait_until(page,
        "document.querySelectorAll('#training-plane .textpoint').length === 3", timeout=15_000)
    page.screenshot(path=str(artifacts_dir / "training-live.png"), full_page=True)

    def finish() -> None:
        run = TrainingRun.objects.get(id=running_run.id)
        before = DiagnosticsRun.objects.create(contender=run.base, source="sts", status="done",
                                               metrics={"sts_spearman": 82.03, "alignment": 0.42})
        after = DiagnosticsRun.objects.create(contender=run.base, source="sts", status="done",
                                              metrics={"sts_spearman": 83.07, "alignment": 0.35})
        TrainingRun.objects.filter(id=run.id).update(status="done", progress=1.0, progress_text="Done",
                                                     diagnostics_before=before, diagnostics_after=after)

    in_db_thread(finish)
    wait_until(page, "document.querySelector('#training-comparison').textContent.includes('83.070')",
                           timeout=15_000)
    assert "done" in page.text_content("#training-status")
