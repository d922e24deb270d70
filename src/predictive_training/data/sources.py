"""Text sources for ``data.source``: ``synthetic``, ``hf:<dataset>``, ``local:<path>``.

:func:`iter_documents` streams the documents (non-empty, stripped strings) one at a time, so that
a corpus is never held in memory whole; :func:`load_documents` is the same as a list. Errors
name the file or key; ``prepare`` raises them before anything is written under ``results/``.
Memory while streaming: a ``local:`` ``.txt`` file is read as one document row and split (so the
largest file, not the corpus, bounds it); ``.jsonl``/``.json``/``.parquet`` rows are read in
batches from ``datasets``' memory-mapped Arrow files; ``hf:`` rows one at a time.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from ..config import ConfigError, local_path

log = logging.getLogger(__name__)

LOCAL_SUFFIXES = (".txt", ".jsonl", ".json", ".parquet")
_ROWS = 1000  # rows per batch read from a local file
EOT = "<|endoftext|>"
_SPLIT = re.compile(r"\n\s*\n|" + re.escape(EOT))


def iter_documents(data_cfg: dict, base_dir: str | os.PathLike | None = None) -> Iterator[str]:
    """The documents of ``data.source`` in source order: stripped, empty ones dropped, at most
    ``data.max_documents``; a ConfigError if there are none."""
    source = data_cfg["source"]
    if source == "synthetic":
        from .synthetic import iter_stories

        docs = iter_stories(data_cfg["synthetic_seed"], data_cfg["synthetic_words"])
    elif source.startswith("hf:"):
        docs = _hf_documents(source.removeprefix("hf:"), data_cfg)
    elif source.startswith("local:"):
        docs = _local_documents(local_path(source, base_dir), data_cfg["text_field"])
    else:  # the schema pattern makes this unreachable; keep the message anyway
        raise ConfigError(f"config key 'data.source': unknown source {source!r}")
    limit = data_cfg.get("max_documents")
    n = 0
    for d in docs:
        if not d or not d.strip():
            continue
        yield d.strip()
        n += 1
        if limit and n >= limit:
            break
    if n == 0:
        raise ConfigError(f"data.source {source!r} yielded no text")


def load_documents(data_cfg: dict, base_dir: str | os.PathLike | None = None) -> list[str]:
    """:func:`iter_documents` as a list (small corpora and tools; ``prepare`` streams)."""
    return list(iter_documents(data_cfg, base_dir))


# --- local files --------------------------------------------------------------------------


def _local_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in LOCAL_SUFFIXES)
        if not files:
            raise ConfigError(f"data.source folder {path} holds no {'/'.join(LOCAL_SUFFIXES)} files")
        return files
    if not path.exists():
        raise ConfigError(f"data.source file not found: {path}")
    if path.suffix not in LOCAL_SUFFIXES:
        raise ConfigError(f"data.source file {path}: unsupported suffix {path.suffix!r}; use {LOCAL_SUFFIXES}")
    return [path]


def _check_file(path: Path) -> None:
    if path.stat().st_size == 0:
        raise ConfigError(f"data.source file {path} is empty")
    if path.suffix in (".txt", ".jsonl", ".json"):
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"data.source file {path} is not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
        if not text.strip():  # datasets would say only: Instruction "train" corresponds to no data
            raise ConfigError(f"data.source file {path} holds only whitespace, no text")
        if path.suffix in (".jsonl", ".json"):
            _check_json_rows(path, text)


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}


def _check_json_rows(path: Path, text: str) -> None:
    """Every row must be a JSON object; checked with Python's parser before pyarrow sees the file.

    pyarrow 26 crashes the whole process (segmentation fault) on a JSON Lines file whose first
    value is a bare ``null`` (cf. apache/arrow#47409), and its parse errors carry no line numbers.
    A ``.json`` file is one object or an array of objects, or JSON Lines (which datasets also reads).
    """
    text = text.removeprefix("\ufeff")  # pyarrow accepts a byte-order mark; json.loads does not
    empty = ConfigError(f"data.source file {path} holds no rows with fields (only [] or {{}}), no text")
    if path.suffix == ".json":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data":  # "Extra data": more than one value, i.e. JSON Lines
                raise ConfigError(
                    f"data.source file {path} is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
                ) from exc
        else:
            rows = obj if isinstance(obj, list) else [obj]
            for i, row in enumerate(rows):
                if not isinstance(row, dict):
                    where = f"item {i} of its array" if isinstance(obj, list) else "its top-level value"
                    raise ConfigError(
                        f"data.source file {path}: {where} is {_JSON_TYPES.get(type(row), type(row).__name__)}, "
                        "not an object with a text field"
                    )
            if not any(rows):  # datasets would say only: Instruction "train" corresponds to no data
                raise empty
            return
    any_fields = False
    for n, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 may sit inside strings
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"data.source file {path}: line {n} is not valid JSON ({exc.msg} at column {exc.colno})"
            ) from exc
        if not isinstance(row, dict):
            raise ConfigError(
                f"data.source file {path}: line {n} is {_JSON_TYPES.get(type(row), type(row).__name__)}, "
                "not an object with a text field"
            )
        any_fields = any_fields or bool(row)
    if not any_fields:
        raise empty


def _local_documents(path: Path, text_field: str) -> Iterator[str]:
    """Read local files through Hugging Face ``datasets`` (txt, json/jsonl, parquet), file by file:
    each file is checked whole (types of its text field, some text at all) before its documents
    are yielded, in batches from the memory-mapped Arrow table."""
    import datasets

    with tempfile.TemporaryDirectory(prefix="pt-datasets-") as cache:
        for file in _local_files(path):
            _check_file(file)
            builder = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}[file.suffix]
            kwargs = {"sample_by": "document"} if builder == "text" else {}
            try:
                ds = datasets.load_dataset(
                    builder, data_files=str(file), split="train", cache_dir=cache, **kwargs
                )
            except Exception as exc:  # datasets raises many types; the file name is what matters
                raise ConfigError(
                    f"data.source file {file} could not be read as {builder}: {_root_cause(exc)}"
                ) from exc
            field = "text" if builder == "text" else text_field
            if field not in ds.column_names:
                raise ConfigError(
                    f"data.source file {file} has no '{field}' field (columns: {ds.column_names}); "
                    "set data.text_field"
                )
            def texts_of(batch_values) -> Iterator[str]:
                for t in batch_values:
                    if not isinstance(t, str):
                        continue
                    # .txt: documents are separated by blank lines or <|endoftext|>
                    for d in (_SPLIT.split(t) if builder == "text" else (t,)):
                        if d.strip():
                            yield d

            n_text, n_other, wrong, any_text = 0, 0, set(), False
            for batch in ds.iter(batch_size=_ROWS):  # first pass: what the file holds
                values = batch[field]
                n_text += sum(isinstance(t, str) for t in values)
                others = [t for t in values if t is not None and not isinstance(t, str)]
                n_other += len(others)
                wrong.update(type(t).__name__ for t in others)
                any_text = any_text or next(texts_of(values), None) is not None
            wrong = sorted(wrong)
            if wrong and n_text:  # a few bad rows among text rows: skip them, but say so
                log.warning("data.source file %s: skipped %d rows whose '%s' is not a string (%s)",
                            file, n_other, field, ", ".join(wrong))
            elif wrong:
                raise ConfigError(
                    f"data.source file {file}: the '{field}' field holds {', '.join(wrong)} values, not text"
                )
            if not any_text:
                raise ConfigError(f"data.source file {file} holds no text")
            for batch in ds.iter(batch_size=_ROWS):
                yield from texts_of(batch[field])


def _root_cause(exc: BaseException) -> str:
    """The innermost explicit cause: datasets wraps the parser's useful error in a generic one.

    Only ``__cause__`` (raise ... from) is followed; ``__context__`` holds fallback attempts
    (pandas after pyarrow) whose messages say less.
    """
    root, seen = exc, {id(exc)}
    while (nxt := root.__cause__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        root = nxt
    text = str(root) or type(root).__name__
    return text[:300] if root is exc else f"{str(exc)[:150]} ({type(root).__name__}: {text[:300]})"


# --- Hugging Face hub ---------------------------------------------------------------------


def _hub_reachable(timeout: float = 3.0) -> bool:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = urlparse(endpoint).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _hf_documents(name: str, data_cfg: dict) -> Iterator[str]:
    import datasets

    hint = (
        "To run offline, download the dataset's files on a connected machine (e.g. `huggingface-cli "
        f"download {name} --repo-type dataset --local-dir DIR`) and set data.source to 'local:DIR' "
        "(a folder of .txt, .jsonl/.json or .parquet files with a 'text' field); or, if it is already "
        "in your Hugging Face cache, set HF_HUB_OFFLINE=1."
    )
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"
    if not offline and not _hub_reachable():
        # Fail fast: datasets would retry for ~25 s before giving up.
        raise ConfigError(f"data.source 'hf:{name}': the Hugging Face hub is unreachable. {hint}")
    try:
        ds = datasets.load_dataset(
            name,
            data_cfg.get("hf_config"),
            split=data_cfg["hf_split"],
            streaming=data_cfg["hf_streaming"],
        )
    except Exception as exc:
        raise ConfigError(
            f"data.source 'hf:{name}' could not be loaded: {type(exc).__name__}: {str(exc)[:200]}. {hint}"
        ) from exc
    field = data_cfg["text_field"]
    for row in ds:  # iter_documents stops at data.max_documents
        if field not in row:
            raise ConfigError(f"data.source 'hf:{name}' rows have no '{field}' field; set data.text_field")
        yield row[field]
