"""manage.py train_encoder: bad input as CommandErrors, --queue, and a real foreground run with its table."""

import pytest
from django.core.management import CommandError, call_command

from modelhub.models import Contender
from training.models import TrainingRun


@pytest.mark.django_db
def test_bad_input_is_a_clear_error(make_contender, pairs_file, tmp_path, django_capture_on_commit_callbacks):
    pairs = pairs_file
    chat = make_contender(kind="chat", name="chatty")
    encoder = make_contender(kind="encoder", name="enc")
    with pytest.raises(CommandError, match="No contender 'nobody'"):
        call_command("train_encoder", "nobody", pairs=str(pairs), objective="cosent", name="x")
    with pytest.raises(CommandError, match="not an encoder"):
        call_command("train_encoder", chat.name, pairs=str(pairs), objective="cosent", name="x")
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\t1\nc\td\tmany\n")
    with pytest.raises(CommandError, match="line 2: the score 'many' is not a number"):
        call_command("train_encoder", encoder.slug, pairs=str(bad), objective="cosent", name="x")
    with pytest.raises(CommandError, match="No corpus 'nope'"):
        call_command("train_encoder", "enc", corpus="nope", objective="simcse", name="x")
    with pytest.raises(CommandError, match="temperature"):
        call_command("train_encoder", "enc", pairs=str(pairs), objective="infonce", name="x", temperature=0)
    assert not TrainingRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        call_command("train_encoder", "enc", pairs=str(pairs), objective="cosent", name="x", queue=True)
    assert len(queued) == 1 and TrainingRun.objects.get().status == TrainingRun.Status.QUEUED


def test_a_foreground_run_shows_progress_and_the_before_after_table(bundled_ready, sts_file, settings, tmp_path,
                                                                    capsys):
    settings.ARENA_DATA_DIR = tmp_path
    settings.TRAINING_DIAGNOSTICS_LIMIT = 8
    settings.TRAINING_CLI_THREADS = 1
    settings.TRAINING_MIN_EXAMPLES = 2
    bundled_ready("all-minilm-l6-v2")
    sts = sts_file
    call_command("train_encoder", "all-MiniLM-L6-v2", pairs=str(sts), objective="infonce", name="MiniLM InfoNCE",
                 steps=1, batch_size=4, max_length=32, sts=str(sts), lr=1e-5)
    out, err = capsys.readouterr()
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.DONE and run.examples == 3  # InfoNCE takes the STS pairs scored >= 4
    assert "MiniLM InfoNCE: 1 steps" in out and "STS Spearman" in out and "kJ" in out and "%" in err
    assert Contender.objects.get(name="MiniLM InfoNCE").model.status == "ready"
