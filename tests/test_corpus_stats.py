"""Corpus statistics (predictive_training.data.corpus_stats) on small texts with known answers."""

from __future__ import annotations

import gzip

import pytest

from predictive_training.data.corpus_stats import TINYSTORIES, corpus_stats, words


def test_words_are_lowercase_letter_and_apostrophe_runs():
    assert words('"Don\'t go!" said Lily.') == ["don't", "go", "said", "lily"]
    assert words("Ice-cream, 3 cones & TWO cups") == ["ice", "cream", "cones", "two", "cups"]
    assert words("café") == ["caf"]  # "é" is not in [a-z']: a word ends there
    assert words("  ,  42 ") == []


def test_small_text_by_hand():
    docs = ["The cat sat.", "The dog sat on the mat!"]
    # words: the cat sat the dog sat on the mat (9); counts: the 3, sat 2, cat dog on mat 1
    st = corpus_stats(docs, types_window=5, hapax_window=9, top_k=2)
    assert st["documents"] == 2 and st["sample_documents"] == 2 and st["sample_words"] == 9
    assert st["distinct_per_5"] == 4  # the cat sat the dog
    assert st["hapax_per_9"] == 4  # cat dog on mat
    assert st["top2_share"] == pytest.approx(5 / 9)  # the (3) + sat (2)
    assert st["top2_words"] == ["the", "sat"]
    assert st["sample_distinct"] == 6 and st["sample_hapax"] == 4
    assert st["mean_document_words"] == pytest.approx(4.5)
    raw = "The cat sat.\n\nThe dog sat on the mat!".encode()
    assert st["sample_bytes"] == len(raw)
    assert st["gzip_ratio"] == pytest.approx(len(gzip.compress(raw, 9, mtime=0)) / len(raw))


def test_windows_cut_the_word_stream_not_documents():
    docs = ["a b c", "d e f", "a a a"]
    st = corpus_stats(docs, types_window=4, hapax_window=5, top_k=1)
    assert st["distinct_per_4"] == 4  # a b c d
    assert st["hapax_per_5"] == 5  # a b c d e, each once
    assert st["top1_share"] == pytest.approx(1 / 5)
    # the sample is whole documents: the shortest prefix holding 5 words is the first two
    assert st["sample_documents"] == 2 and st["sample_words"] == 6 and st["documents"] == 3


def test_repetitive_text_compresses_better_than_varied_text():
    same = corpus_stats(["the cat sat on the mat"] * 200, types_window=10, hapax_window=10)
    varied = corpus_stats([f"the {w} sat on a {w[::-1]} mat" for w in map(str, range(200))] , 10, 10)
    assert same["gzip_ratio"] < varied["gzip_ratio"]


def test_window_stats_are_none_when_the_corpus_is_smaller():
    st = corpus_stats(["one two three"])  # default windows: 100,000 and 340,000 words
    assert st["distinct_per_100k"] is None and st["hapax_per_340k"] is None
    assert st["sample_words"] == 3 and st["sample_distinct"] == 3
    assert st["top10_share"] == pytest.approx(1.0)  # only three words, all in the "top 10"


def test_default_keys_match_the_reference():
    st = corpus_stats(["a b"])
    assert set(TINYSTORIES) <= set(st)


def test_reads_an_iterator_only_as_far_as_the_sample_and_still_counts_documents():
    seen = []

    def gen():
        for i in range(1000):
            seen.append(i)
            yield "w " * 10

    st = corpus_stats(gen(), types_window=20, hapax_window=30)
    assert st["documents"] == 1000 and st["sample_documents"] == 3
    assert len(seen) == 1000  # counting documents needs every one, but only 3 are kept


def test_empty_corpus():
    st = corpus_stats([])
    assert st["documents"] == 0 and st["sample_words"] == 0
    assert st["gzip_ratio"] is None and st["top10_share"] is None and st["mean_document_words"] is None


def test_command_line_prints_the_stats_of_a_configs_corpus(tmp_path, capsys):
    import json

    from predictive_training.cli import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("The cat sat.\n\nThe dog sat on the mat!\n")
    cfg = tmp_path / "study.yaml"
    cfg.write_text(f"data:\n  source: 'local:{corpus}'\n")
    assert main(["corpus-stats", str(cfg)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["documents"] == 2 and out["sample_words"] == 9 and out["reference_tinystories"] == TINYSTORIES
    assert main(["corpus-stats", str(tmp_path / "missing.yaml")]) == 2


def test_the_report_shows_the_corpus_beside_real_stories():
    from predictive_training.report.corpus import corpus_section

    meta = {"source": "synthetic", "corpus_stats": {
        "documents": 10, "mean_document_words": 150.0, "tokens_per_word": 1.5, "sample_words": 340000,
        "distinct_per_100k": 4000, "hapax_per_340k": 1500, "gzip_ratio": 0.29, "top10_share": 0.30,
        "reference_tinystories": {"distinct_per_100k": 3852, "hapax_per_340k": 1490, "gzip_ratio": 0.302,
                                  "top10_share": 0.286}}}
    sec = corpus_section(meta)
    assert sec["title"] == "Corpus" and len(sec["rows"]) == 4
    assert all(len(r) == len(sec["columns"]) for r in sec["rows"])
    distinct = sec["rows"][0]
    assert distinct[1] == "4,000" and distinct[2] == "3,852" and distinct[3] == "+4%"
    assert sec["rows"][2][3] == "-4%"  # 0.29 against 0.302
    assert corpus_section({"source": "old"}) is None  # data prepared before the statistics existed
