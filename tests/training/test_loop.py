"""The training loop on the bundled MiniLM with a handful of pairs: steps, curves, energy, resume, NaN."""

import math

import pytest
import torch

from training import loop
from training.loop import Example, TrainingConfig, train
from workers.energy import CpuTimeEstimateMeter

EVAL = [("A man is playing a guitar.", "A man plays the guitar."), ("A girl rides a horse.", "A woman rides a horse.")]


def _config(**overrides) -> TrainingConfig:
    return TrainingConfig(**{"objective": "cosent", "batch_size": 4, "max_length": 32, "eval_every": 2,
                             "learning_rate": 1e-4, **overrides})


def test_batches_are_a_permutation_per_epoch_and_depend_on_seed_and_epoch_only():
    config = _config(batch_size=3)
    assert loop.steps_per_epoch(8, 3) == 3 and loop.steps_per_epoch(7, 3) == 2  # a batch of one is dropped
    epoch = [i for step in range(3) for i in loop.batch_indices(config, 8, step)]
    assert sorted(epoch) == list(range(8))
    assert loop.batch_indices(config, 8, 4) == loop.batch_indices(config, 8, 4)
    assert loop.total_steps(config, 8) == 3 and loop.total_steps(_config(epochs=2, steps=None), 8) == 4
    assert loop.total_steps(_config(steps=7), 8) == 7


def test_learning_rate_is_constant_or_warms_up_then_decays_to_zero():
    assert [loop.lr_factor(step, 10, 0.0, False) for step in range(10)] == [1.0] * 10
    factors = [loop.lr_factor(step, 10, 0.2, True) for step in range(10)]
    assert factors[:2] == [0.5, 1.0] and factors[-1] == pytest.approx(1 / 8) and factors[2] == 1.0


def test_bad_hyperparameters_are_named():
    for overrides, words in [({"learning_rate": 0}, "learning rate"), ({"temperature": -1}, "temperature"),
                             ({"objective": "mse"}, "Unknown objective"), ({"batch_size": 1}, "batch size"),
                             ({"learning_rate": math.nan}, "learning rate")]:
        with pytest.raises(ValueError, match=words):
            _config(**overrides).check()


def test_cosent_steps_record_curves_energy_and_progress(minilm, graded_pairs):
    before = minilm.model.embeddings.word_embeddings.weight.detach().clone()
    seen = []
    result = train(minilm, graded_pairs, _config(), eval_pairs=EVAL, meter=CpuTimeEstimateMeter(15.0),
                   progress=lambda f, text: seen.append((f, text)))
    assert result.status == "done" and result.step == result.total_steps == 2
    assert [p["step"] for p in result.curves] == [0, 2]
    assert result.curves[0]["loss"] is None and result.curves[1]["loss"] > 0
    assert all(0 <= p["alignment"] <= 4 and p["uniformity"] < 0 for p in result.curves)
    assert result.joules > 0 and result.reading.source == "estimate"
    assert seen[-1][0] == 1.0 and "Step 2/2" in seen[-1][1] and "left" in seen[-1][1]
    assert not torch.equal(before, minilm.model.embeddings.word_embeddings.weight)


@pytest.mark.parametrize("objective", ["simcse", "infonce"])
def test_contrastive_objectives_run(minilm, graded_pairs, objective):
    examples = graded_pairs if objective == "infonce" else [Example(e.text1) for e in graded_pairs]
    if objective == "infonce":
        examples = [Example(e.text1, e.text2, negative="An unrelated sentence.") for e in graded_pairs]
    pairs = EVAL if objective == "infonce" else [(a, a) for a, _ in EVAL]
    result = train(minilm, examples, _config(objective=objective, steps=1, temperature=0.05), eval_pairs=pairs,
                   meter=CpuTimeEstimateMeter(15.0), dropout_views=objective == "simcse")
    assert result.status == "done" and math.isfinite(result.curves[-1]["loss"])
    if objective == "simcse":  # two dropout views of one sentence differ a little
        assert 0 < result.curves[0]["alignment"] < 0.5


def test_resume_from_a_checkpoint_gives_the_same_weights(minilm, graded_pairs, tmp_path):
    config = _config(steps=4, checkpoint_every=2, eval_every=10)
    straight = train(minilm, graded_pairs, config, eval_pairs=EVAL, meter=CpuTimeEstimateMeter(15.0))
    expected = {k: v.clone() for k, v in minilm.model.state_dict().items()}

    minilm.model.load_state_dict(_pristine(minilm))
    calls = []
    stopped = train(minilm, graded_pairs, config, eval_pairs=EVAL, meter=CpuTimeEstimateMeter(15.0),
                    checkpoint_dir=tmp_path, should_stop=lambda: calls.append(1) or len(calls) > 2)
    assert stopped.status == "cancelled" and stopped.step == 2 and (tmp_path / loop.CHECKPOINT_FILE).is_file()

    minilm.model.load_state_dict(_pristine(minilm))  # a new worker starts from the base weights
    resumed = train(minilm, graded_pairs, config, eval_pairs=EVAL, meter=CpuTimeEstimateMeter(15.0),
                    checkpoint_dir=tmp_path)
    assert resumed.status == "done" and resumed.resumed_from == 2 and resumed.step == 4
    assert resumed.joules > stopped.joules  # the energy before the checkpoint is kept
    assert [p["step"] for p in resumed.curves] == [p["step"] for p in straight.curves] == [0, 4]
    for key, value in minilm.model.state_dict().items():
        assert torch.allclose(value, expected[key], atol=1e-6), key


def _pristine(encoder):
    from workers.loading import load_encoder

    return load_encoder(encoder.path, "cpu", "float32").model.state_dict()


def test_a_nan_loss_stops_before_the_weights_change(minilm, graded_pairs, monkeypatch):
    before = {k: v.clone() for k, v in minilm.model.state_dict().items()}
    monkeypatch.setattr(loop, "batch_loss", lambda *a: torch.tensor(float("nan"), requires_grad=True))
    result = train(minilm, graded_pairs, _config(), eval_pairs=EVAL, meter=CpuTimeEstimateMeter(15.0))
    assert result.status == "nan" and result.step == 0 and "nan" in result.message.lower()
    assert all(torch.equal(v, before[k]) for k, v in minilm.model.state_dict().items())


def test_settings_problems_name_each_setting():
    assert TrainingConfig(objective="cosent").problems() == {}
    problems = TrainingConfig(objective="nope", learning_rate=0, temperature=-1, batch_size=1, steps=0).problems()
    assert set(problems) == {"objective", "learning_rate", "temperature", "batch_size", "steps"}
    assert "learning rate must be > 0" in problems["learning_rate"]
