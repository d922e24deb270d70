"""Hostile data: generated data files and folders for ``local:`` sources through ``load_documents``,
and generated corpora through ``prepare``, which leaves nothing behind when it fails (hypothesis;
``hostile_support``)."""

from __future__ import annotations

import io
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from predictive_training.config import ConfigError, load, validate
from predictive_training.data.prepare import TokenData, cloze_items, prepare
from predictive_training.data.sources import load_documents
from predictive_training.data.synthetic import generate_stories

from .hostile_support import TRIED, fast, fast_schema_and_counts  # noqa: F401 (an autouse fixture)


DOCS = generate_stories(11, 3000)
DOC_TEXT = st.one_of(
    st.sampled_from(DOCS), st.text(max_size=60), st.sampled_from(["", "   ", "\n\n", "<|endoftext|>", "é" * 50])
)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=10))
TEXT_VALUE = st.one_of(
    DOC_TEXT,
    DOC_TEXT,
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
    st.floats(),
    st.booleans(),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)
CLEAN_ROW = st.fixed_dictionaries({"text": DOC_TEXT}, optional={"id": st.integers(0, 10**6)})
ROW = st.one_of(
    CLEAN_ROW,
    st.fixed_dictionaries({"text": TEXT_VALUE}, optional={"id": st.integers(0, 10**6), "meta": JSON_SCALARS}),
    st.dictionaries(st.text(max_size=6), JSON_SCALARS, max_size=3),  # usually no text field
    st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=3)),  # not a row at all
)


def _invalid_utf8(data: bytes, at: float) -> bytes:
    i = int(at * len(data))
    return data[:i] + b"\xff\xfe\xc3" + data[i:]


def _txt(draw) -> bytes:
    docs = draw(st.lists(DOC_TEXT, min_size=draw(st.sampled_from([0, 1, 1, 1])), max_size=12))
    sep = draw(st.sampled_from(["\n\n", "<|endoftext|>", "\n", "\r\n\r\n", " \n \n"]))
    text = sep.join(docs)
    if draw(st.sampled_from([True, True, False])):
        return text.encode("utf-8")
    return draw(
        st.one_of(
            st.binary(max_size=200),
            st.sampled_from([b"", b"   \n\t\n ", b"\x00" * 10, "word ".encode() * 40000]),  # huge single line
            st.floats(0, 1).map(lambda at: _invalid_utf8(text.encode("utf-8"), at)),
        )
    )


def _jsonl(draw) -> bytes:
    rows = draw(
        st.lists(
            st.one_of(CLEAN_ROW, CLEAN_ROW, ROW) if draw(st.sampled_from([True, False, False])) else CLEAN_ROW,
            min_size=draw(st.sampled_from([0, 1, 1, 1])),
            max_size=10,
        )
    )
    lines = [json.dumps(r) for r in rows]
    if draw(st.sampled_from([False, False, False, True])):  # garbage or blank lines among the rows
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["", "{", "not json", "[1,", "{}"])))
    data = "\n".join(lines).encode("utf-8")
    if draw(st.sampled_from([False, False, False, False, True])):
        return _invalid_utf8(data, draw(st.floats(0, 1)))
    return data


def _json(draw) -> bytes:
    rows = draw(st.lists(st.one_of(CLEAN_ROW, ROW), max_size=8))
    shape = draw(st.sampled_from(["list", "list", "list", "one", "wrapped", "scalar"]))
    obj = {"list": rows, "one": rows[0] if rows else {}, "wrapped": {"data": rows}, "scalar": draw(JSON_SCALARS)}[shape]
    return json.dumps(obj).encode("utf-8")


def _parquet(draw) -> bytes:
    n = draw(st.integers(0, 8))
    strings = lambda: pa.array(
        draw(st.lists(st.one_of(st.none(), DOC_TEXT), min_size=n, max_size=n)), type=pa.string()
    )  # noqa: E731
    column = draw(
        st.sampled_from(
            [
                strings,
                strings,
                strings,
                lambda: pa.array(
                    draw(st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=n, max_size=n)),
                    type=pa.int64(),
                ),
                lambda: pa.array(draw(st.lists(st.floats(), min_size=n, max_size=n)), type=pa.float64()),
                lambda: pa.array(
                    draw(st.lists(st.lists(st.text(max_size=5), max_size=3), min_size=n, max_size=n)),
                    type=pa.list_(pa.string()),
                ),
                lambda: pa.array(draw(st.lists(st.binary(max_size=10), min_size=n, max_size=n)), type=pa.binary()),
            ]
        )
    )()
    name = draw(st.sampled_from(["text", "text", "text", "body", "Text"]))
    if draw(st.sampled_from([False] * 9 + [True])):
        return draw(st.binary(max_size=100))  # not parquet at all
    buf = io.BytesIO()
    pq.write_table(pa.table({name: column}), buf)
    return buf.getvalue()


@st.composite
def data_file(draw) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".txt", ".jsonl", ".json", ".parquet"]))
    make = {".txt": _txt, ".jsonl": _jsonl, ".json": _json, ".parquet": _parquet}[suffix]
    return suffix, make(draw)


@st.composite
def data_folder(draw) -> dict:
    """A folder of 0-4 files, maybe with unsupported ones and a subfolder."""
    files = draw(st.lists(data_file(), max_size=4))
    junk = draw(st.lists(st.sampled_from([".csv", ".md", "", ".TXT"]), max_size=2))
    return {"kind": "folder", "files": files, "junk": junk, "nested": draw(st.booleans())}


SINGLE_FILE = data_file().map(lambda f: {"kind": "file", "files": [f]})


def materialize(spec: dict, root: Path) -> tuple[Path, list[Path]]:
    if spec["kind"] == "file":
        suffix, raw = spec["files"][0]
        path = root / f"corpus{suffix}"
        path.write_bytes(raw)
        return path, [path]
    folder = root / "corpus"
    folder.mkdir()
    paths = []
    for i, (suffix, raw) in enumerate(spec["files"]):
        sub = folder / "sub" if spec["nested"] and i % 2 else folder
        sub.mkdir(exist_ok=True)
        paths.append(sub / f"part{i}{suffix}")
        paths[-1].write_bytes(raw)
    for j, suffix in enumerate(spec["junk"]):
        (folder / f"junk{j}{suffix}").write_bytes(b"ignored")
    return folder, paths


def expected_documents(spec: dict) -> list[str] | None:
    """Known answer for a single clean .jsonl/.json/.parquet file; None where rows are mixed."""
    if spec["kind"] != "file":
        return None
    suffix, raw = spec["files"][0]
    if suffix == ".jsonl":
        try:
            rows = [json.loads(line) for line in raw.decode("utf-8").split("\n") if line.strip()]
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
    elif suffix == ".json":
        try:
            rows = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(rows, list):
            return None
    elif suffix == ".parquet":
        try:
            table = pq.read_table(io.BytesIO(raw))
        except Exception:  # noqa: BLE001 - not parquet
            return None
        if table.column_names != ["text"] or table.schema.field("text").type != pa.string():
            return None
        rows = [{"text": t} for t in table.column("text").to_pylist()]
    else:
        return None
    if not rows or not all(isinstance(r, dict) and set(r) <= {"text", "id", "meta"} for r in rows):
        return None
    if any(isinstance(r.get("meta"), float) and not math.isfinite(r["meta"]) for r in rows):
        return None  # NaN is not JSON; the reader may refuse it
    texts = [r.get("text") for r in rows]
    if not all(t is None or isinstance(t, str) for t in texts):
        return None
    return [t.strip() for t in texts if t and t.strip()]


REASONS = [
    "is empty",
    "not UTF-8",
    "only whitespace",
    "has no '",
    "values, not text",
    "could not be read",
    "not valid JSON",
    "not an object",
    "no rows with fields",
    "holds no text",
    "holds no .txt",
    "fewer than one batch",
    "yielded",
]


def reason(msg: str) -> str:
    return next((r for r in REASONS if r in msg), "other")


def names_the_source(msg: str, source: Path, files: list[Path]) -> bool:
    return str(source) in msg or any(str(f) in msg for f in files)


def _data_cfg(source: Path, text_field: str = "text", **train) -> dict:
    return validate(
        {
            "data": {"source": f"local:{source}", "vocab_size": 260, "cloze_items": 10, "text_field": text_field},
            "model": {"context": train.get("context", 4), "n_layer": 1, "n_head": 1, "d_model": 8},
            "train": {"batch_size": train.get("batch_size", 1), "steps": 20, "warmup_steps": 2},
        }
    )


def check_load_documents(spec: dict, text_field: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source, files = materialize(spec, Path(tmp))
        try:
            docs = load_documents(_data_cfg(source, text_field)["data"])
        except ConfigError as exc:
            assert names_the_source(str(exc), source, files), str(exc)
            TRIED[f"load_documents: generated {spec['kind']} (ConfigError: {reason(str(exc))})"] += 1
            return
        assert docs and all(isinstance(d, str) and d and d == d.strip() for d in docs)
        want = expected_documents(spec) if text_field == "text" else None
        if want is not None:
            assert docs == want
            TRIED["load_documents: known-answer checks"] += 1
        TRIED[f"load_documents: generated {spec['kind']} (loaded)"] += 1


@fast(50)
@given(spec=SINGLE_FILE, text_field=st.sampled_from(["text"] * 8 + ["body", ""]))
def test_generated_data_files_load_or_name_the_file(spec, text_field):
    check_load_documents(spec, text_field)


@fast(15)
@given(spec=data_folder())
def test_generated_data_folders_load_or_name_the_file(spec):
    check_load_documents(spec, "text")


# Text without line breaks or separators, so that the expected documents are known exactly.
CLEAN_TEXT = st.one_of(
    st.sampled_from(DOCS),
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=40),
).filter(lambda t: "<|endoftext|>" not in t)


@st.composite
def clean_file(draw) -> tuple[str, bytes, list[str]]:
    """A well-formed file of each format and the documents it must yield."""
    texts = draw(st.lists(CLEAN_TEXT, min_size=1, max_size=12))
    want = [t.strip() for t in texts if t.strip()]
    suffix = draw(st.sampled_from([".txt", ".jsonl", ".json", ".parquet"]))
    if suffix == ".txt":
        raw = draw(st.sampled_from(["\n\n", "<|endoftext|>", "\n \n", "\n\n\n"])).join(texts).encode("utf-8")
    elif suffix == ".jsonl":
        raw = "\n".join(
            json.dumps({"text": t, "id": i}, ensure_ascii=draw(st.booleans())) for i, t in enumerate(texts)
        ).encode()
    elif suffix == ".json":
        raw = json.dumps([{"text": t} for t in texts]).encode()
    else:
        buf = io.BytesIO()
        pq.write_table(pa.table({"text": pa.array(texts, type=pa.string())}), buf)
        raw = buf.getvalue()
    return suffix, raw, want


@fast(20)
@given(spec=clean_file())
def test_clean_files_yield_exactly_their_documents(spec):
    """Known answer: every non-blank text, stripped, in file order (or ConfigError if none is left)."""
    suffix, raw, want = spec
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"corpus{suffix}"
        path.write_bytes(raw)
        try:
            docs = load_documents(_data_cfg(path)["data"])
        except ConfigError as exc:
            assert not want and str(path) in str(exc), str(exc)
            TRIED["load_documents: clean file, all blank (ConfigError)"] += 1
            return
        assert docs == want
        TRIED[f"load_documents: clean {suffix} known answer"] += 1


def _no_leftovers(parent: Path) -> None:
    left = [p.name for p in parent.iterdir()] if parent.exists() else []
    assert left == [], f"left under {parent}: {left}"


@st.composite
def corpus(draw) -> tuple[str, bytes]:
    """A corpus that is sometimes big enough for prepare: real stories mixed with hostile text."""
    docs = draw(
        st.lists(st.one_of(st.sampled_from(DOCS), DOC_TEXT, st.just("1234567890 " * 5 + "abc def ghi")), max_size=25)
    )
    suffix = draw(st.sampled_from([".txt", ".jsonl"]))
    if suffix == ".txt":
        raw = "\n\n".join(docs).encode("utf-8")
    else:
        rows = docs + draw(st.lists(TEXT_VALUE, max_size=3))  # a few rows of the wrong type among them
        raw = "\n".join(json.dumps({"text": d}) for d in rows).encode("utf-8")
    return suffix, raw


@fast(8)
@given(spec=corpus(), batch_size=st.integers(1, 16), context=st.integers(4, 32))
@example(spec=(".txt", "\n\n".join(["1234567890 " * 5 + "abc def ghi jkl"] * 30).encode()), batch_size=1, context=4)
@example(spec=(".txt", b"tiny corpus.\n\nand another."), batch_size=16, context=32)
def test_generated_corpora_prepare_or_leave_nothing(spec, batch_size, context):
    suffix, raw = spec
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"corpus{suffix}"
        source.write_bytes(raw)
        parent = Path(tmp) / "results"
        out = parent / "data"
        try:
            cfg = _data_cfg(source, batch_size=batch_size, context=context)
            meta = prepare(cfg, out)
        except ConfigError as exc:
            assert names_the_source(str(exc), source, [source]), str(exc)
            _no_leftovers(parent)
            TRIED[f"prepare: generated corpus (ConfigError: {reason(str(exc))})"] += 1
            return
        assert sorted(p.name for p in parent.iterdir()) == ["data"]  # no .data.tmp-* beside it
        assert sorted(p.name for p in out.iterdir()) == [
            "cloze.json",
            "meta.json",
            "tokenizer.json",
            "train.npy",
            "val.npy",
        ]
        data = TokenData(out)  # verifies the sha256 in meta.json
        assert meta == json.loads((out / "meta.json").read_text())
        assert len(data.train) == meta["tokens"]["train"] >= batch_size * (context + 1)
        assert len(data.val) == meta["tokens"]["val"] >= batch_size * (context + 1)
        assert int(np.max(data.train)) < meta["vocab_size"] <= 260
        TRIED["prepare: generated corpus (prepared)"] += 1


def test_prepare_failure_in_folder_source_leaves_nothing(tmp_path):
    """A folder whose files load but are too small for one batch: nothing under results/."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text("one small story.\n\nanother one.")
    (folder / "b.jsonl").write_text(json.dumps({"text": "a third"}) + "\n" + json.dumps({"text": 3}) + "\n")
    pq.write_table(pa.table({"text": ["a fourth", None]}), folder / "c.parquet")
    (folder / "notes.md").write_text("ignored")
    with pytest.raises(ConfigError, match=r"corpus.*fewer than one batch"):
        prepare(_data_cfg(folder, batch_size=16, context=32), tmp_path / "results" / "data")
    _no_leftovers(tmp_path / "results")
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "x.csv").write_text("text\nhello\n")
    with pytest.raises(ConfigError, match=r"empty holds no \.txt/\.jsonl/\.json/\.parquet files"):
        prepare(_data_cfg(empty), tmp_path / "results2" / "data")
    _no_leftovers(tmp_path / "results2")
    TRIED["prepare: fixed folder cases"] += 2


@pytest.mark.parametrize(
    "name, raw, match",
    [
        ("int.jsonl", b'{"text": 5}\n{"text": 6}\n', r"'text' field holds int values, not text"),
        ("list.json", b'[{"text": ["a", "b"]}]', r"'text' field holds list values, not text"),
        ("ws.jsonl", b"  \n\n \t\n", r"holds only whitespace"),
        ("broken.jsonl", b'{"text": "a"}\n{"text": \n', r"line 2 is not valid JSON \(Expecting value at column 10\)"),
        ("broken.json", b'[{"text": "a"},\n {"text": }]', r"not valid JSON \(line 2 column 11"),
        # a leading bare null crashed the process inside pyarrow (segmentation fault)
        ("null.jsonl", b'null\n{"text": "a"}\n', r"line 1 is null, not an object"),
        ("null.json", b"null", r"top-level value is null"),
        ("mixed.json", b'[{"text": "a"}, 5]', r"item 1 of its array is a number"),
        ("empty.json", b"[]", r"holds no rows with fields"),
        ("empty_rows.jsonl", b"{}\n{}\n", r"holds no rows with fields"),
        ("dup.jsonl", b'{"text": "a", "text": "b"}\n', r"could not be read as json: .*specified twice"),
    ],
)
def test_data_messages_found_by_generation(tmp_path, name, raw, match):
    """Messages that once said only 'holds no text' or 'An error occurred while generating the dataset'."""
    path = tmp_path / name
    path.write_bytes(raw)
    with pytest.raises(ConfigError, match=match) as info:
        load_documents(_data_cfg(path)["data"])
    assert str(path) in str(info.value)


def test_cloze_items_with_no_word_before_the_blank():
    """Text before a cloze position may hold no ASCII word (digits, other scripts): once an IndexError."""
    docs = ["1234567890 " * 5 + "abc def", "éééé " * 10 + "abc def", "abc abc abc def def def ghi ghi ghi jkl jkl jkl"]
    items = cloze_items(docs, 10, 4, 0)
    assert items and all(it["choices"][it["answer"]] in it["choices"] and len(set(it["choices"])) == 4 for it in items)
    assert {it["context"] for it in items} >= {"1234567890 " * 4 + "1234567890"}


def test_failure_while_writing_keeps_the_old_output_and_leaves_no_temporary(tmp_path, monkeypatch):
    """A disk error inside the atomic write: the previous data folder survives, no .data.tmp-* (nor
    the document spool) remains."""
    import predictive_training.data.prepare as prepare_mod

    source = tmp_path / "corpus.txt"
    source.write_text("\n\n".join(DOCS))
    out = tmp_path / "results" / "data"
    meta = prepare(_data_cfg(source), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    real_move = prepare_mod.shutil.move

    def failing_move(src, dst, *args, **kwargs):  # the encoded splits are moved into the new folder
        if str(dst).endswith("val.npy"):  # train.npy in place, val.npy fails
            raise OSError(28, "No space left on device")
        return real_move(src, dst, *args, **kwargs)

    monkeypatch.setattr(prepare_mod.shutil, "move", failing_move)
    with pytest.raises(OSError, match="No space left"):
        prepare(_data_cfg(source), out)
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["data"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert TokenData(out).meta == meta
