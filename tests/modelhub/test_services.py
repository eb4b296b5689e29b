import json
from dataclasses import replace
from functools import partial

import torch
from safetensors.torch import save_file

from modelhub.models import Contender, Model
from modelhub.services import bundled_models_register, model_prepare


def register(tmp_path, source, kind=Model.Kind.CHAT, source_type=Model.SourceType.HF_FOLDER) -> Model:
    return Model.objects.create(name=f"m-{abs(hash((str(source), kind)))}", family="f", kind=kind,
                                source_type=source_type, source=str(source))


def test_register_bundled_is_idempotent(db):
    from modelhub.catalogue import CATALOGUE

    bundled_models_register()
    bundled_models_register()
    assert Model.objects.count() == len(CATALOGUE) == 6
    assert set(Model.objects.values_list("kind", flat=True)) == {"chat", "completion", "encoder"}
    smol = Contender.objects.filter(model__source="smollm2-135m-instruct")
    assert set(smol.values_list("decoding", flat=True)) == {"greedy", "sampling", "contrastive"}


def test_the_bundled_same_family_pair(db):
    """Qwen2.5-Coder 0.5B and 1.5B: one family, chat, each with a greedy bfloat16 contender."""
    bundled_models_register()
    pair = Contender.objects.filter(model__family="Qwen2.5-Coder").order_by("model__name")
    assert [(c.model.name, c.model.kind, c.decoding, c.precision) for c in pair] == [
        ("Qwen2.5-Coder-0.5B-Instruct", "chat", "greedy", "bfloat16"),
        ("Qwen2.5-Coder-1.5B-Instruct", "chat", "greedy", "bfloat16"),
    ]


def test_a_bundled_model_with_a_broken_part_fails_and_names_the_package(db, split, monkeypatch, settings,
                                                                        tmp_path):
    """A corrupt part: the model is failed with the package named, nothing half-written is left, the
    other models are untouched; once the part is good again, "Prepare again" joins it afresh."""
    from modelhub import catalogue
    from modelhub.weight_parts import part_path

    spec, data, _site = split
    settings.ARENA_DATA_DIR = tmp_path / "data"
    entry = catalogue.CATALOGUE["qwen2.5-coder-0.5b-instruct"]
    monkeypatch.setitem(catalogue.CATALOGUE, entry.key, replace(
        entry, locate=partial(catalogue._split_gguf, spec, "test.gguf")))
    bundled_models_register()
    others = list(Model.objects.exclude(source=entry.key).order_by("id").values("id", "status", "error"))
    path = part_path(spec.parts[1])
    good = path.read_bytes()
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    model = Model.objects.get(source=entry.key)
    model = model_prepare(model_id=model.id)
    assert model.status == Model.Status.FAILED
    assert "'arena-test-weights-part2'" in model.error and "sha256" in model.error
    assert list((tmp_path / "data" / "weights").iterdir()) == []
    assert list(Model.objects.exclude(source=entry.key).order_by("id").values("id", "status", "error")) == others
    path.write_bytes(good)
    model = model_prepare(model_id=model.id)  # the test GGUF is no model: it fails later, after the join
    assert (tmp_path / "data" / "weights" / "test.gguf").read_bytes() == data
    assert "arena-test-weights" not in model.error


def test_a_model_larger_than_the_model_cache_is_refused(bundled_ready, settings):
    from workers import runtime

    (model,) = bundled_ready("smollm2-135m-instruct")
    runtime.model_cache.clear()
    settings.ARENA_MODEL_CACHE_BYTES = 100 * 1024**2
    model = model_prepare(model_id=model.id)
    assert model.status == Model.Status.FAILED
    assert "needs 0.50 GiB in float32, more than a worker's model cache" in model.error
    assert "ARENA_MODEL_CACHE_BYTES = 0.10 GiB" in model.error
    assert runtime.model_cache.keys() == []  # refused before loading


def test_the_qwen_pair_prepares_and_answers(bundled_ready):
    """Both models of the pair joined, verified, converted and loaded in their contenders' precision;
    one real greedy answer of each, through the runtime that serves battles (batched decoding)."""
    from workers import runtime

    small, large = bundled_ready("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")
    assert 2 * small.parameter_count < large.parameter_count < 2e9
    assert (small.embedding_dim, large.embedding_dim) == (896, 1536)
    for model in (small, large):
        contender = model.contenders.get()
        decoding = replace(contender.decoding_config(), max_new_tokens=24)
        result, reading = runtime.generate(path=model.prepared_path, precision=contender.precision,
                                           prompt="What is the capital of France?", decoding=decoding)
        assert result.output_tokens > 0 and "Paris" in result.text, result.text
        assert reading.joules > 0 and reading.source in {"estimate", "rapl", "nvml"}



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


def test_encoder_registered_as_chat_is_refused(db, tmp_path, minilm_folder):
    model = model_prepare(model_id=register(tmp_path, minilm_folder).id)
    assert model.status == Model.Status.FAILED
    assert "encoder" in model.error and "kind 'encoder'" in model.error


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
