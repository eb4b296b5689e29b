"""Find, convert and load model weights. Plain Python: no Django imports.

Only safetensors and GGUF are read: pickle checkpoints (pytorch_model.bin, *.pt) can run code when
unpickled, so they are refused. ``trust_remote_code`` is never set and nothing is downloaded
(``local_files_only=True``): a model is a folder or a file on this machine.

GGUF files are parsed and de-quantised by transformers (15-50 s on CPU for a 100-300 MB file), so a
model is converted once, when it is prepared (:func:`convert_gguf`), to a float32 safetensors folder
that then loads in about a second.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

PRECISIONS: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"}
CONVERSION_MARKER = "conversion.json"  # written last inside the temporary folder: "finished"

PICKLE_HINT = (
    "only safetensors and GGUF are loaded, for safety. Convert it with "
    "`AutoModel.from_pretrained(folder).save_pretrained(out, safe_serialization=True)` on a machine "
    "where you trust the file, then register the converted folder"
)


class ModelLoadError(Exception):
    """A model can't be found, converted or loaded; the message is meant for a person."""


@dataclass(frozen=True)
class WeightsInfo:
    """Where a model's weights are and in which format."""

    format: Literal["safetensors", "gguf"]
    path: Path  # what was asked for (file or folder)
    folder: Path  # the folder transformers reads from
    gguf_file: str | None  # file name inside ``folder`` for GGUF, else None
    files: tuple[Path, ...]  # weight files
    bytes: int  # size on disk of the weight files


@dataclass
class LoadedLM:
    model: Any  # a transformers *ForCausalLM in eval mode
    tokenizer: Any
    device: str
    precision: str
    has_chat_template: bool
    parameter_count: int
    hidden_size: int
    bytes: int  # parameters and buffers in memory, approximately
    path: Path
    model_type: str


@dataclass
class LoadedEncoder:
    model: Any  # a transformers AutoModel (encoder) in eval mode
    tokenizer: Any
    device: str
    precision: str
    parameter_count: int
    embedding_dim: int
    bytes: int
    path: Path
    model_type: str
    pooling: str = "mean"  # "mean" or "cls", from a sentence-transformers 1_Pooling/config.json
    max_length: int | None = None  # sentence-transformers max_seq_length, when the folder says


def _size(files: list[Path]) -> int:
    return sum(f.stat().st_size for f in files)


def find_weights(path: Path) -> WeightsInfo:
    """Describe the model at ``path``: an HF folder (config.json + *.safetensors), a .gguf file,
    or a folder holding exactly one .gguf. Raises :class:`ModelLoadError` otherwise."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelLoadError(f"No file or folder at {path}.")
    if path.is_file():
        if path.suffix.lower() == ".gguf":
            return WeightsInfo("gguf", path, path.parent, path.name, (path,), _size([path]))
        if path.suffix.lower() in PICKLE_SUFFIXES or path.suffix.lower() == ".safetensors":
            what = "a pickle checkpoint" if path.suffix.lower() in PICKLE_SUFFIXES else "a weights file"
            raise ModelLoadError(
                f"{path} is {what}, not a model: give the folder that holds config.json and "
                "*.safetensors, or a single .gguf file."
                + (f" Pickle weights are refused; {PICKLE_HINT}." if what.startswith("a pickle") else "")
            )
        raise ModelLoadError(f"{path} is not a model: expected a .gguf file or a model folder.")

    safetensors = sorted(path.glob("*.safetensors"))
    has_config = (path / "config.json").is_file()
    if safetensors and has_config:
        return WeightsInfo("safetensors", path, path, None, tuple(safetensors), _size(safetensors))
    ggufs = sorted(p for p in path.glob("*.gguf") if p.is_file())
    if len(ggufs) == 1:
        g = ggufs[0]
        return WeightsInfo("gguf", path, path, g.name, (g,), _size([g]))
    if len(ggufs) > 1:
        names = ", ".join(g.name for g in ggufs)
        raise ModelLoadError(f"{path} holds several GGUF files ({names}): register one file, not the folder.")
    if safetensors and not has_config:
        raise ModelLoadError(f"{path} has safetensors weights but no config.json: it is not a complete model folder.")
    pickles = sorted(p.name for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise ModelLoadError(f"{path} holds only pickle weights ({', '.join(pickles)}); {PICKLE_HINT}.")
    raise ModelLoadError(f"{path} is not a model: no config.json / weights found (safetensors or GGUF).")


def _finished_conversion(out_dir: Path) -> bool:
    return (out_dir / CONVERSION_MARKER).is_file() and (out_dir / "config.json").is_file()


def _drop_quantizer(model: Any) -> None:
    # transformers marks a GGUF-loaded model as "quantised" although its weights are de-quantised
    # float tensors; with the marker left in, save_pretrained refuses or writes a config that
    # asks for the GGUF quantiser on load.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    for attr in ("is_quantized", "quantization_method"):
        if attr in getattr(model, "__dict__", {}):
            delattr(model, attr)


def _read_gguf(folder: Path, name: str, dtype: torch.dtype | None = None) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        kwargs: dict[str, Any] = {"gguf_file": name, "local_files_only": True}
        if dtype is not None:
            kwargs["dtype"] = dtype
        model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    except ModelLoadError:
        raise
    except (ValueError, KeyError, OSError, RuntimeError, NotImplementedError) as exc:
        raise ModelLoadError(f"Could not read the GGUF file {folder / name}: {exc}") from exc
    _drop_quantizer(model)
    return tokenizer, model


def convert_gguf(gguf_path: Path, out_dir: Path, progress: Callable[[float, str], None] | None = None) -> Path:
    """Convert a GGUF file to a safetensors model folder at ``out_dir`` and return ``out_dir``.

    The folder appears whole or not at all: everything is written to a temporary sibling folder
    that is renamed at the end. If ``out_dir`` already holds a finished conversion it is returned
    at once. Weights are written in float32 (exact de-quantised values); the precision is chosen
    when loading.
    """
    out_dir = Path(out_dir)
    report = progress or (lambda fraction, message: None)
    if _finished_conversion(out_dir):
        report(1.0, "Already converted")
        return out_dir
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ModelLoadError(
            f"{out_dir} already exists and is not a finished conversion: remove it or choose another folder."
        )
    info = find_weights(Path(gguf_path))
    if info.format != "gguf":
        raise ModelLoadError(f"{gguf_path} is not a GGUF file; it needs no conversion.")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    try:
        tmp.mkdir()
        report(0.05, "Reading and de-quantising the GGUF file (15-50 s on CPU)")
        assert info.gguf_file is not None
        tokenizer, model = _read_gguf(info.folder, info.gguf_file)
        report(0.8, "Writing safetensors")
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        import transformers

        marker = {
            "source": str(info.files[0]),
            "source_bytes": info.bytes,
            "transformers": transformers.__version__,
            "seconds": round(time.monotonic() - started, 2),
        }
        (tmp / CONVERSION_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        del model
        if out_dir.is_dir():
            out_dir.rmdir()  # an empty placeholder folder; rename can't replace it otherwise
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if _finished_conversion(out_dir):  # another process finished the same conversion first
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report(1.0, "Converted")
    return out_dir


def weights_bytes(folder: Path, precision: str) -> int:
    """Bytes the weights of a safetensors folder take in memory at ``precision``, from the files'
    headers (no tensor is read): floating-point tensors are cast to ``precision``, others keep
    their type. What a load adds (buffers, the KV cache) is not counted."""
    if precision not in PRECISIONS:
        raise ModelLoadError(f"Unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}.")
    float_bytes = PRECISIONS[precision].itemsize
    total = 0
    for file in sorted(Path(folder).glob("*.safetensors")):
        try:
            with file.open("rb") as handle:
                length = int.from_bytes(handle.read(8), "little")
                header = json.loads(handle.read(length))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"The safetensors header of {file} can't be read: {exc}") from exc
        for name, tensor in header.items():
            if name == "__metadata__":
                continue
            begin, end = tensor["data_offsets"]
            if tensor["dtype"] in ("F64", "F32", "F16", "BF16"):
                elements = 1
                for dim in tensor["shape"]:
                    elements *= dim
                total += elements * float_bytes
            else:
                total += end - begin
    return total


def resolve_device(setting: str) -> str:
    """ "auto" → "cuda" when torch sees a GPU, else "cpu"; other values are checked and returned."""
    setting = (setting or "auto").strip().lower()
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(
            f"Device {setting!r} was asked for, but torch sees no CUDA GPU on this host (CPU-only torch "
            "build or no driver). Use 'cpu' or 'auto'."
        )
    return setting


def _dtype(precision: str, device: str) -> torch.dtype:
    if precision not in PRECISIONS:
        raise ModelLoadError(f"Unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}.")
    if precision == "float16" and device.startswith("cpu"):
        # Many CPU kernels lack float16 or are very slow in it; bfloat16 is the CPU half type.
        raise ModelLoadError("float16 is not supported on CPU: use bfloat16 or float32 there.")
    return PRECISIONS[precision]


def _read_config(folder: Path) -> Any:
    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        raw = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{folder / 'config.json'} can't be read: {exc}") from exc
    model_type = raw.get("model_type")
    if not model_type:
        raise ModelLoadError(f"{folder / 'config.json'} has no model_type: it is not a transformers model.")
    if model_type not in CONFIG_MAPPING:
        raise ModelLoadError(
            f"Unsupported architecture '{model_type}' in {folder}: transformers "
            f"{_transformers_version()} doesn't know it (remote code is never run)."
        )
    try:
        return AutoConfig.from_pretrained(folder, local_files_only=True)
    except (ValueError, KeyError, OSError) as exc:
        raise ModelLoadError(f"The config of {folder} can't be read: {exc}") from exc


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


def _is_encoder_only(config: Any) -> bool:
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    mt = config.model_type
    if getattr(config, "is_encoder_decoder", False) or getattr(config, "is_decoder", False):
        return False
    # BERT-like types have a causal-LM head class in transformers too (BertLMHeadModel), but their
    # weights are trained bidirectionally: a BERT checkpoint is an encoder unless it says is_decoder.
    return mt in MODEL_FOR_MASKED_LM_MAPPING_NAMES or mt not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES


def _memory(model: Any) -> tuple[int, int]:
    params = sum(p.numel() for p in model.parameters())
    nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
    nbytes += sum(b.numel() * b.element_size() for b in model.buffers())
    return params, nbytes


def _hidden_size(config: Any) -> int:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return int(getattr(text, "hidden_size", 0) or getattr(text, "d_model", 0) or 0)


def _tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (ValueError, KeyError, OSError, TypeError) as exc:
        raise ModelLoadError(f"The tokenizer of {folder} can't be loaded: {exc}") from exc


def load_causal_lm(path: Path, device: str, precision: str) -> LoadedLM:
    """Load a language model (safetensors folder, or GGUF read directly, which is slow) for generation."""
    from transformers import AutoModelForCausalLM
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    info = find_weights(Path(path))
    dtype = _dtype(precision, device)
    if info.format == "gguf":
        assert info.gguf_file is not None
        tokenizer, model = _read_gguf(info.folder, info.gguf_file, dtype)
        config = model.config
    else:
        config = _read_config(info.folder)
        if _is_encoder_only(config):
            if config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or _is_masked(config):
                raise ModelLoadError(
                    f"{info.folder} is an encoder ({config.model_type}), not a language model: "
                    "register it with kind 'encoder'."
                )
            raise ModelLoadError(
                f"{info.folder} ({config.model_type}) is not a causal language model: transformers has "
                "no text-generation head for it."
            )
        tokenizer = _tokenizer(info.folder)
        try:
            model = AutoModelForCausalLM.from_pretrained(
                info.folder, dtype=dtype, use_safetensors=True, local_files_only=True
            )
        except (ValueError, KeyError, OSError, RuntimeError) as exc:
            raise ModelLoadError(f"The weights in {info.folder} can't be loaded: {exc}") from exc
    model.to(device)
    model.eval()
    params, nbytes = _memory(model)
    return LoadedLM(
        model=model,
        tokenizer=tokenizer,
        device=device,
        precision=precision,
        has_chat_template=bool(getattr(tokenizer, "chat_template", None)),
        parameter_count=params,
        hidden_size=_hidden_size(config),
        bytes=nbytes,
        path=info.path,
        model_type=config.model_type,
    )


def _is_masked(config: Any) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def _sentence_transformers_settings(folder: Path) -> tuple[str, int | None]:
    """Pooling mode and max_seq_length of a sentence-transformers folder (mean / None if absent)."""
    pooling, max_length = "mean", None
    try:
        cfg = json.loads((folder / "1_Pooling" / "config.json").read_text())
        if cfg.get("pooling_mode_cls_token") and not cfg.get("pooling_mode_mean_tokens"):
            pooling = "cls"
    except (OSError, ValueError):
        pass
    try:
        max_length = int(json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return pooling, max_length


def load_encoder(path: Path, device: str, precision: str) -> LoadedEncoder:
    """Load a text encoder (safetensors folder with AutoModel weights) for embeddings."""
    from transformers import AutoModel

    info = find_weights(Path(path))
    if info.format != "safetensors":
        raise ModelLoadError(f"{info.path} is a GGUF file: encoders are loaded from safetensors folders only.")
    dtype = _dtype(precision, device)
    config = _read_config(info.folder)
    if not _is_encoder_only(config):
        raise ModelLoadError(
            f"{info.folder} is a language model ({config.model_type}), not an encoder: register it as a language model."
        )
    tokenizer = _tokenizer(info.folder)
    try:
        model = AutoModel.from_pretrained(info.folder, dtype=dtype, use_safetensors=True, local_files_only=True)
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        raise ModelLoadError(f"The weights in {info.folder} can't be loaded: {exc}") from exc
    model.to(device)
    model.eval()
    params, nbytes = _memory(model)
    pooling, max_length = _sentence_transformers_settings(info.folder)
    return LoadedEncoder(
        model=model,
        tokenizer=tokenizer,
        device=device,
        precision=precision,
        parameter_count=params,
        embedding_dim=_hidden_size(config),
        bytes=nbytes,
        path=info.path,
        model_type=config.model_type,
        pooling=pooling,
        max_length=max_length,
    )
