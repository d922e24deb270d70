"""The report's corpus section: the statistics of the study's text beside real children's stories.

``prepare`` writes ``corpus_stats`` into ``data/meta.json`` for every source
(``data/corpus_stats.py``); this section shows them against the TinyStories reference stored with
them, so that a reader sees how regular the corpus behind every number is (a corpus far more regular than real stories
makes every skipped step cost more).
"""

from __future__ import annotations

from collections.abc import Mapping

from .context import fmt

__all__ = ["corpus_section"]

# (key in corpus_stats, label, format)
_ROWS = (
    ("distinct_per_100k", "distinct words per 100,000 running words", "{:,.0f}"),
    ("hapax_per_340k", "words seen once, per 340,000 running words", "{:,.0f}"),
    ("gzip_ratio", "gzip ratio of the raw text (level 9)", "{:.3f}"),
    ("top10_share", "share of the 10 most frequent words", "{:.3f}"),
)


def _cell(value, form: str) -> str:
    return "-" if value is None else form.format(value)


def corpus_section(meta: Mapping) -> dict | None:
    """A report section (title, paragraphs, columns, rows, note) from ``data/meta.json``; None when
    the meta has no ``corpus_stats`` (data prepared before they existed)."""
    cs = meta.get("corpus_stats")
    if not cs:
        return None
    ref = cs.get("reference_tinystories") or {}
    rows = []
    for key, label, form in _ROWS:
        v, r = cs.get(key), ref.get(key)
        rel = "-" if v is None or not r else f"{100 * (v - r) / r:+.0f}%"
        rows.append([label, _cell(v, form), _cell(r, form), rel])
    para = (f"Source: {meta.get('source')}; {fmt(cs.get('documents'))} documents, "
            f"{fmt(cs.get('mean_document_words'))} words per document on average, "
            f"{fmt(cs.get('tokens_per_word'))} tokens per word with the study's tokenizer; statistics on a sample of "
            f"{cs.get('sample_words', 0):,} running words. A 'word' is a maximal run of lowercase letters and "
            "apostrophes after lowercasing.")
    return {"title": "Corpus", "paragraphs": [para],
            "columns": ["statistic", "this corpus", "real TinyStories", "difference"], "rows": rows,
            "note": "A corpus much more regular than real stories (fewer distinct and rare words, more compressible) "
                    "keeps the default model in a steep learning phase, where every skipped step costs more; the "
                    "reference column was measured on the real TinyStories text (not in the repository)."}
