"""Checksums for snapshot and checkpoint files, and safetensors loading that refuses damaged files.

A folder of results files carries a manifest, ``MANIFEST.sha256``, in the format of GNU
``sha256sum`` (one ``<64 hex digits>  <file name>`` line per file, names relative to the
folder), so ``cd snapshots && sha256sum -c MANIFEST.sha256`` checks it without this package.

- :func:`write_manifest` records the sha256 of files (atomically; entries for other files of an
  existing manifest are kept, so a recorder can add each snapshot as it writes it);
- :func:`verify` lists every problem of a folder: listed files that are missing or whose
  checksum differs (truncated, overwritten, bit-flipped), malformed manifest lines;
- :func:`load_safetensors_checked` loads one safetensors file after checking its manifest entry
  (when there is one) and its header, raising :class:`IntegrityError` that names the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from pathlib import Path, PurePosixPath
from typing import Iterable

from ..io import atomic_write_text

MANIFEST = "MANIFEST.sha256"

# safetensors refuses headers above 100 MB; a larger length field means a damaged file
_MAX_HEADER_BYTES = 100_000_000
# bytes per element of the safetensors dtypes (F8 variants are one byte)
_DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "U16": 2,
    "I16": 2,
    "F16": 2,
    "BF16": 2,
    "U32": 4,
    "I32": 4,
    "F32": 4,
    "U64": 8,
    "I64": 8,
    "F64": 8,
}
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


class IntegrityError(ValueError):
    """A results file is missing, truncated or corrupted; the message names the file."""


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of the file's bytes, read in ``chunk_size``-byte chunks (constant memory)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _entry_name(folder: Path, file: str | os.PathLike) -> str:
    """The manifest name of ``file`` (relative to ``folder``, POSIX separators)."""
    path = Path(file)
    if path.is_absolute():
        try:
            rel = path.resolve().relative_to(folder.resolve())
        except ValueError:
            raise ValueError(f"files: {path} is not inside the manifest folder {folder}") from None
    else:
        rel = path
    name = PurePosixPath(*rel.parts).as_posix()
    if not _safe_name(name):
        raise ValueError(f"files: {str(file)!r} is not a plain file path inside {folder} (or is the manifest itself)")
    if "\n" in name or "\r" in name or "\\" in name:  # sha256sum would have to escape these
        raise ValueError(f"files: {name!r} holds a newline or backslash; rename it")
    return name


def _safe_name(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and not PurePosixPath(name).is_absolute() and ".." not in parts and name not in (".", MANIFEST)


def read_manifest(folder: str | os.PathLike) -> dict[str, str]:
    """``{file name: sha256}`` from ``folder/MANIFEST.sha256``.

    Raises ``IntegrityError`` naming the manifest when it is missing or has a malformed line.
    """
    entries, problems = _parse_manifest(Path(folder))
    if problems:
        raise IntegrityError("; ".join(problems))
    return entries


def _parse_manifest(folder: Path) -> tuple[dict[str, str], list[str]]:
    path = folder / MANIFEST
    if not path.is_file():
        return {}, [f"{path}: manifest missing (nothing to verify against)"]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [f"{path}: manifest unreadable: {exc}"]
    entries: dict[str, str] = {}
    problems: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if not m:
            problems.append(f"{path}: line {n} is not '<sha256>  <file name>': {line[:80]!r}")
        elif not _safe_name(m.group(2)):
            problems.append(f"{path}: line {n} names a path outside the folder: {m.group(2)!r}")
        else:
            entries[m.group(2)] = m.group(1)
    return entries, problems


def write_manifest(folder: str | os.PathLike, files: Iterable[str | os.PathLike] | None = None) -> Path:
    """Record the sha256 of ``files`` in ``folder/MANIFEST.sha256``; returns the manifest path.

    ``files``: names relative to ``folder`` or absolute paths inside it; ``None`` means every
    regular file directly in ``folder`` except the manifest and hidden (``.``-prefixed,
    e.g. temporary) files. Entries of an existing manifest for other files are kept. The
    manifest is written under a temporary name and renamed, so readers never see half of it.
    Raises ``ValueError`` naming a file that is missing or outside ``folder``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder: {folder} is not a folder")
    if files is None:
        names = sorted(
            p.name for p in folder.iterdir() if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
        )
    else:
        if isinstance(files, (str, os.PathLike)):
            files = [files]  # one file given bare; iterating a str would give characters
        names = [_entry_name(folder, f) for f in files]
    for name in names:
        if not (folder / name).is_file():
            raise ValueError(f"files: {folder / name} does not exist or is not a file")
    entries, _ = _parse_manifest(folder)  # unreadable lines of an old manifest are dropped
    entries.update({name: sha256_file(folder / name) for name in names})
    path = folder / MANIFEST
    atomic_write_text(path, "".join(f"{digest}  {name}\n" for name, digest in sorted(entries.items())))
    return path


def verify(folder: str | os.PathLike, strict: bool = False) -> list[str]:
    """Every integrity problem of ``folder``, one message per problem, each naming the file.

    Checked: the manifest exists and parses; every listed file exists and matches its sha256
    (which catches truncation, appended bytes and flipped bits). ``strict=True`` also reports
    regular, non-hidden files that the manifest does not list. An empty list means intact.
    """
    folder = Path(folder)
    entries, problems = _parse_manifest(folder)
    for name, expected in sorted(entries.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{path}: missing (listed in {MANIFEST})")
            continue
        actual = sha256_file(path)
        if actual != expected:
            problems.append(
                f"{path}: sha256 mismatch, truncated or corrupted "
                f"(manifest {expected[:12]}..., file {actual[:12]}..., {path.stat().st_size} bytes)"
            )
    if strict and (folder / MANIFEST).is_file():
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name != MANIFEST and not path.name.startswith(".") and path.name not in entries:
                problems.append(f"{path}: not listed in {MANIFEST}")
    return problems


def require_intact(folder: str | os.PathLike, strict: bool = False) -> None:
    """Raise ``IntegrityError`` listing every problem :func:`verify` finds in ``folder``."""
    problems = verify(folder, strict=strict)
    if problems:
        raise IntegrityError(f"{len(problems)} integrity problem(s) in {folder}: " + "; ".join(problems))


def safetensors_header(path: str | os.PathLike) -> dict:
    """Parse and check the header of a safetensors file without loading tensors.

    Layout: 8-byte little-endian header length N, N bytes of JSON, then the data buffer. Checks
    that N fits in the file, the JSON parses to an object, every tensor's byte range matches its
    dtype and shape and lies inside the buffer, and the buffer ends exactly where the last
    tensor does (a truncated file fails here). Returns the header dict (``__metadata__`` included).
    """
    path = Path(path)
    if not path.is_file():
        raise IntegrityError(f"{path}: missing")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise IntegrityError(f"{path}: truncated ({size} bytes, shorter than the 8-byte safetensors header length)")
        (n,) = struct.unpack("<Q", head)
        if n > _MAX_HEADER_BYTES or 8 + n > size:
            raise IntegrityError(
                f"{path}: safetensors header length {n} does not fit the file ({size} bytes); truncated or corrupted"
            )
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{path}: safetensors header unreadable ({exc}); corrupted") from exc
    if not isinstance(header, dict):
        raise IntegrityError(f"{path}: safetensors header is not a JSON object; corrupted")
    buffer = size - 8 - n
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, stop = (int(x) for x in info["data_offsets"])
            shape = [int(d) for d in info["shape"]]
            dtype = info["dtype"]
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(
                f"{path}: safetensors header entry {name!r} is malformed ({exc!r}); corrupted"
            ) from exc
        count = 1
        for d in shape:
            count *= d
        width = _DTYPE_BYTES.get(dtype)
        if not 0 <= begin <= stop or (width is not None and stop - begin != count * width):
            raise IntegrityError(
                f"{path}: tensor {name!r} has byte range [{begin}, {stop}) inconsistent with {dtype}{shape}; corrupted"
            )
        end = max(end, stop)
    if end != buffer:
        what = "truncated" if end > buffer else "has trailing bytes"
        raise IntegrityError(f"{path}: {what}: tensors need {end} data bytes, the file holds {buffer}")
    return header


def load_safetensors_checked(path: str | os.PathLike, device: str = "cpu") -> dict:
    """Load a safetensors file into ``{name: torch.Tensor}`` only if it is intact.

    When ``MANIFEST.sha256`` beside the file lists it, the file's sha256 must match (catches any
    flipped byte); the header is always checked (:func:`safetensors_header`), and any error of
    the safetensors reader itself is re-raised as ``IntegrityError`` naming the file.
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise IntegrityError(f"{path}: missing")
    folder = path.parent
    if (folder / MANIFEST).is_file():
        entries, _ = _parse_manifest(folder)
        expected = entries.get(path.name)
        if expected is not None:
            actual = sha256_file(path)
            if actual != expected:
                raise IntegrityError(
                    f"{path}: sha256 mismatch with {folder / MANIFEST}, truncated or corrupted "
                    f"(manifest {expected[:12]}..., file {actual[:12]}...)"
                )
    safetensors_header(path)
    try:
        return load_file(str(path), device=device)
    except Exception as exc:  # SafetensorError and friends: the file is what the caller needs to know
        raise IntegrityError(f"{path}: safetensors could not read it ({type(exc).__name__}: {exc}); corrupted") from exc
