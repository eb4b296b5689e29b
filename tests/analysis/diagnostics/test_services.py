"""Diagnostics end to end: the command (real MiniLM on STS-test), a worker run, and the pages."""

import json
import time

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from analysis.diagnostics.models import DiagnosticsRun
from modelhub.models import Contender


def test_embeddings_file_gives_embedding_only_metrics(db, tmp_path, capsys):
    rng = np.random.default_rng(0)
    path = tmp_path / "x.npy"
    np.save(path, rng.standard_normal((300, 16)))
    call_command("diagnostics", embeddings=str(path), format="json")
    out = json.loads(capsys.readouterr().out)
    assert 14 <= out["metrics"]["rankme"] <= 16  # isotropic Gaussian: effective rank close to d
    assert out["metrics"]["isoscore"] > 0.8
    assert "alignment" not in out["metrics"] and "sts_spearman" not in out["metrics"]
    run = DiagnosticsRun.objects.get()
    assert run.status == DiagnosticsRun.Status.DONE and run.source == "embeddings" and run.contender is None


def test_bad_input_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match="Name a contender"):
        call_command("diagnostics")
    with pytest.raises(CommandError, match="No contender 'nobody'"):
        call_command("diagnostics", "nobody")
    bad = tmp_path / "bad.npy"
    bad.write_text("not numpy")
    with pytest.raises(CommandError, match="not a .npy matrix"):
        call_command("diagnostics", embeddings=str(bad))
    np.save(tmp_path / "vector.npy", np.zeros(5))
    with pytest.raises(CommandError, match="expected"):
        call_command("diagnostics", embeddings=str(tmp_path / "vector.npy"))


def test_minilm_on_sts_test(bundled_ready, sts_test_file, capsys):
    bundled_ready("all-minilm-l6-v2")
    started = time.monotonic()
    call_command("diagnostics", "all-MiniLM-L6-v2", sts=str(sts_test_file))
    captured = capsys.readouterr()
    run = DiagnosticsRun.objects.get()
    metrics = run.metrics
    print(f"\nMiniLM on STS-test in {time.monotonic() - started:.1f} s: " + json.dumps(
        {k: metrics[k] for k in ("sts_spearman", "alignment", "uniformity", "isotropy", "rankme", "isoscore",
                                 "hubness_skewness")}))
    assert metrics["sts_pairs"] == 1379 and metrics["texts"] == 2758
    assert 78 < metrics["sts_spearman"] < 86  # the model card reports about 82
    assert 0 < metrics["alignment"] < 1 and metrics["uniformity"] < -2
    assert 0 < metrics["isotropy"] < 1 and 100 < metrics["rankme"] < 384
    assert "STS Spearman" in captured.out and "%" in captured.err  # table on stdout, progress bar on stderr


def test_staff_runs_diagnostics_in_the_worker_and_pages_show_them(bundled_ready, celery_worker_threads):
    bundled_ready("all-minilm-l6-v2")
    staff = get_user_model().objects.create_superuser("boss", "", "a-long-password-1")
    client = Client()
    client.force_login(staff)
    answer = client.post("/diagnostics/run/", {"contender": "all-minilm-l6-v2"})
    assert answer.status_code == 302
    run = DiagnosticsRun.objects.get()
    deadline = time.monotonic() + 180
    while run.status not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.5)
        run.refresh_from_db()
    assert run.status == "done", run.error
    assert run.metrics["texts"] > 300 and run.metrics["isotropy"] is not None
    page = Client().get("/diagnostics/").content.decode()
    assert "all-MiniLM-L6-v2" in page and "diag-plane" in page
    card = Client().get("/models/all-minilm-l6-v2/").content.decode()
    assert "22713216" in card and "RankMe" in card and f"{run.metrics['rankme']:.3f}" in card


def test_only_staff_may_start_runs(db):
    visitor = Client()
    answer = visitor.post("/diagnostics/run/", {"contender": "x"})
    assert answer.status_code == 302 and "/admin/login/" in answer.url
    assert not DiagnosticsRun.objects.exists()


def test_unknown_contender_page_is_404(db):
    assert Client().get("/models/no-such-model/").status_code == 404
    assert Contender.objects.count() == 0
