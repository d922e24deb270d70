"""Data sources, tokenizer, and the bad-input errors of data preparation."""

import json
import time

import numpy as np
import pandas as pd
import pytest

from predictive_training import config as config_mod
from predictive_training.config import ConfigError
from predictive_training.data.corpus_stats import TINYSTORIES, corpus_stats
from predictive_training.data.prepare import TokenData, prepare
from predictive_training.data.sources import load_documents
from predictive_training.data.synthetic import generate_stories

DOCS = generate_stories(7, 20000)


def _cfg(source, **data):
    return config_mod.validate(
        {
            "data": {"source": source, "vocab_size": 300, "cloze_items": 10, **data},
            "model": {"context": 16, "n_layer": 1, "n_head": 2, "d_model": 16},
            "train": {"batch_size": 4, "steps": 20, "warmup_steps": 2},
        }
    )


def test_local_txt_splits_on_blank_lines_and_eot(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("first doc line one\nline two\n\nsecond doc<|endoftext|>third doc\n\n\n")
    docs = load_documents(_cfg(f"local:{p}")["data"])
    assert docs == ["first doc line one\nline two", "second doc", "third doc"]


def test_local_jsonl_json_parquet_and_folder(tmp_path):
    texts = DOCS[:30]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"text": t, "id": i}) for i, t in enumerate(texts)))
    (tmp_path / "b.json").write_text(json.dumps([{"text": t} for t in texts[:5]]))
    pd.DataFrame({"text": texts[:7]}).to_parquet(tmp_path / "c.parquet")
    for name, n in (("a.jsonl", 30), ("b.json", 5), ("c.parquet", 7)):
        assert load_documents(_cfg(f"local:{tmp_path / name}")["data"]) == texts[:n]
    assert len(load_documents(_cfg(f"local:{tmp_path}")["data"])) == 42


def test_jsonl_without_text_field_names_file(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps({"body": "x"}) + "\n")
    with pytest.raises(ConfigError, match="a.jsonl.*'text'"):
        load_documents(_cfg(f"local:{p}")["data"])


def test_hf_offline_fails_fast_with_local_hint(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")  # nothing listens there: unreachable hub
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="local:"):
        load_documents(_cfg("hf:roneneldan/TinyStories")["data"])
    assert time.perf_counter() - t0 < 15


@pytest.mark.parametrize(
    "content, match",
    [(b"", "is empty"), (b"caf\xe9 au lait\n\nmore text", "not UTF-8"), (b"tiny corpus.\n\nand another.", "fewer than one batch")],
)
def test_bad_local_file_stops_before_writing(tmp_path, content, match):
    p = tmp_path / "c.txt"
    p.write_bytes(content)
    out = tmp_path / "results" / "data"
    with pytest.raises(ConfigError, match=match):
        prepare(_cfg(f"local:{p}"), out)
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_missing_local_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        _cfg(f"local:{tmp_path / 'nope.txt'}")


def test_prepare_writes_meta_and_tokenizer_round_trips(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("\n\n".join(DOCS))
    out = tmp_path / "data"
    meta = prepare(_cfg(f"local:{p}"), out)
    assert meta["vocab_size"] == 300 and meta["tokens"]["train"] > 10 * meta["tokens"]["val"] > 0
    data = TokenData(out)  # verifies sha256
    tok = data.tokenizer()
    text = DOCS[3]
    assert tok.decode(tok.encode(text).ids) == text
    assert data.train.dtype == np.uint16 and data.train.max() < 300
    assert len(data.cloze) == 10 and all(it["choices"][it["answer"]] for it in data.cloze)
    # same input, same arrays (deterministic tokenizer training and split)
    meta2 = prepare(_cfg(f"local:{p}"), tmp_path / "data2")
    assert meta2["sha256"] == meta["sha256"]
    # the corpus report, for a local source: the same numbers as corpus_stats on the documents
    st = json.loads((out / "meta.json").read_text())["corpus_stats"]
    assert st == meta["corpus_stats"]
    expected = corpus_stats(DOCS)
    assert {k: st[k] for k in expected} == expected
    assert st["documents"] == len(DOCS) == sum(meta["documents"].values())
    assert st["distinct_per_100k"] is None  # 20,000 words: too few for the 100,000-word window
    assert 1.0 < st["tokens_per_word"] < 6.0  # a 300-token BPE splits words finely
    assert st["reference_tinystories"] == TINYSTORIES


def test_prepare_reports_corpus_stats_of_the_synthetic_source(tiny_data):
    meta = json.loads((tiny_data / "meta.json").read_text())
    st = meta["corpus_stats"]
    assert meta["source"] == "synthetic" and st["documents"] == sum(meta["documents"].values())
    assert st["sample_words"] >= 60_000 and st["sample_distinct"] > 1_000
    assert 0.2 < st["gzip_ratio"] < 0.4 and 0.2 < st["top10_share"] < 0.35


def test_corrupted_array_is_detected(tmp_path, tiny_data):
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(tiny_data, copy)
    arr = np.load(copy / "train.npy")
    arr[5] += 1
    np.save(copy / "train.npy", arr)
    with pytest.raises(ConfigError, match="sha256"):
        TokenData(copy)


def test_cloze_distractors_follow_the_same_word():
    from predictive_training.data.prepare import cloze_items

    items = cloze_items(DOCS, 50, 4, 0)
    assert len(items) == 50
    for it in items:
        assert len(set(it["choices"])) == 4
        truth = it["choices"][it["answer"]]
        assert truth != "" and it["context"]
    # determinism
    assert cloze_items(DOCS, 50, 4, 0) == items
