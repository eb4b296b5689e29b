import json
import shutil
import time

import pytest
import torch
from safetensors.torch import save_file

from workers import loading
from workers.loading import (
    ModelLoadError,
    convert_gguf,
    find_weights,
    load_causal_lm,
    load_encoder,
    resolve_device,
)


def test_find_weights_hf_folder(tiny_llm_dir):
    info = find_weights(tiny_llm_dir)
    assert info.format == "safetensors" and info.folder == tiny_llm_dir and info.gguf_file is None
    assert info.bytes > 0 and all(f.suffix == ".safetensors" for f in info.files)


def test_find_weights_gguf_file_and_folder(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    assert find_weights(f).format == "gguf" and find_weights(f).gguf_file == "m.gguf"
    info = find_weights(tmp_path)
    assert info.format == "gguf" and info.folder == tmp_path and info.gguf_file == "m.gguf"
    (tmp_path / "n.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelLoadError, match="several GGUF files"):
        find_weights(tmp_path)


def test_refuses_a_missing_path(tmp_path):
    with pytest.raises(ModelLoadError, match="No file or folder at"):
        find_weights(tmp_path / "nope")


def test_refuses_pickle_weights(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    (tmp_path / "pytorch_model.bin").write_bytes(b"never unpickled")
    with pytest.raises(ModelLoadError, match=r"only pickle weights \(pytorch_model.bin\).*for safety"):
        find_weights(tmp_path)
    with pytest.raises(ModelLoadError, match="Pickle weights are refused"):
        find_weights(tmp_path / "pytorch_model.bin")


def test_refuses_a_folder_without_weights(tmp_path):
    (tmp_path / "README.md").write_text("hello")
    with pytest.raises(ModelLoadError, match="is not a model: no config.json / weights found"):
        find_weights(tmp_path)


def test_refuses_an_unknown_architecture(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "xyz", "architectures": ["XyzLM"]}))
    save_file({"w": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="Unsupported architecture 'xyz'"):
        load_causal_lm(tmp_path, "cpu", "float32")


def test_refuses_an_encoder_as_a_language_model(tiny_bert_dir):
    with pytest.raises(ModelLoadError, match=r"is an encoder \(bert\), not a language model.*kind 'encoder'"):
        load_causal_lm(tiny_bert_dir, "cpu", "float32")


def test_refuses_a_language_model_as_an_encoder(tiny_llm_dir):
    with pytest.raises(ModelLoadError, match=r"is a language model \(llama\), not an encoder"):
        load_encoder(tiny_llm_dir, "cpu", "float32")


def test_refuses_float16_on_cpu_and_unknown_precisions(tiny_llm_dir):
    with pytest.raises(ModelLoadError, match="float16 is not supported on CPU"):
        load_causal_lm(tiny_llm_dir, "cpu", "float16")
    with pytest.raises(ModelLoadError, match="Unknown precision 'int3'"):
        load_causal_lm(tiny_llm_dir, "cpu", "int3")


def test_load_causal_lm(tiny_lm, tiny_completion_dir):
    lm = tiny_lm
    assert not lm.model.training
    assert lm.has_chat_template is True
    assert lm.hidden_size == 32 and lm.model_type == "llama"
    assert lm.parameter_count == sum(p.numel() for p in lm.model.parameters())
    assert lm.bytes >= lm.parameter_count * 4
    base = load_causal_lm(tiny_completion_dir, "cpu", "bfloat16")
    assert base.has_chat_template is False
    assert next(base.model.parameters()).dtype == torch.bfloat16
    assert base.bytes < lm.bytes


def test_load_encoder(tiny_encoder):
    enc = tiny_encoder
    assert not enc.model.training
    assert enc.embedding_dim == 32 and enc.model_type == "bert" and enc.pooling == "mean"
    assert enc.parameter_count > 0 and enc.bytes >= enc.parameter_count * 4


def test_resolve_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ModelLoadError, match="no CUDA GPU"):
        resolve_device("cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"


def fake_reader(source_dir, calls, fail=False):
    """Stands in for transformers' slow GGUF parser: returns the tiny model from ``source_dir``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def read(folder, name, dtype=None):
        calls.append(name)
        if fail:
            raise ModelLoadError("Could not read the GGUF file: truncated")
        return (
            AutoTokenizer.from_pretrained(source_dir),
            AutoModelForCausalLM.from_pretrained(source_dir),
        )

    return read


def test_convert_gguf_writes_a_whole_folder_once(tmp_path, tiny_llm_dir, monkeypatch):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    calls: list = []
    monkeypatch.setattr(loading, "_read_gguf", fake_reader(tiny_llm_dir, calls))
    steps: list = []
    out = convert_gguf(gguf, tmp_path / "converted", progress=lambda f, msg: steps.append(f))
    assert out == tmp_path / "converted"
    assert (out / "config.json").is_file() and list(out.glob("*.safetensors"))
    assert json.loads((out / "conversion.json").read_text())["source"] == str(gguf)
    assert steps[-1] == 1.0 and steps == sorted(steps)
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []
    assert convert_gguf(gguf, out) == out  # finished: returned without parsing again
    assert calls == ["model.gguf"]
    assert load_causal_lm(out, "cpu", "float32").has_chat_template


def test_convert_gguf_failure_leaves_nothing_behind(tmp_path, tiny_llm_dir, monkeypatch):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(loading, "_read_gguf", fake_reader(tiny_llm_dir, [], fail=True))
    with pytest.raises(ModelLoadError, match="truncated"):
        convert_gguf(gguf, tmp_path / "converted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf"]


def test_convert_gguf_refuses_to_overwrite_another_folder(tmp_path, tiny_llm_dir):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    other = tmp_path / "other"
    shutil.copytree(tiny_llm_dir, other)
    with pytest.raises(ModelLoadError, match="is not a finished conversion"):
        convert_gguf(gguf, other)


def test_convert_gguf_explains_an_unreadable_file(tmp_path):
    gguf = tmp_path / "broken.gguf"
    gguf.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelLoadError, match="Could not read the GGUF file"):
        convert_gguf(gguf, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_real_smollm2_gguf_converts_and_loads(smollm2_dir, capsys):
    started = time.monotonic()
    lm = load_causal_lm(smollm2_dir, "cpu", "float32")
    seconds = time.monotonic() - started
    with capsys.disabled():
        print(f"\nSmolLM2 load after conversion: {seconds:.2f} s, {lm.parameter_count / 1e6:.1f}M parameters")
    assert lm.model_type == "llama" and lm.has_chat_template
    assert 130e6 < lm.parameter_count < 140e6 and lm.hidden_size == 576
    assert not hasattr(lm.model.config, "quantization_config")
    assert not list(smollm2_dir.glob("*.bin"))
