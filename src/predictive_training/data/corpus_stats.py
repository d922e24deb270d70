"""Corpus statistics: how much a text corpus looks like real children's stories.

One definition, used by ``prepare`` (written to ``data/meta.json`` as ``corpus_stats``) and by
the tests of the synthetic generator.

Definitions
-----------
word
    A maximal run of lowercase letters and apostrophes after lowercasing: ``[a-z']+`` on
    ``text.lower()`` (so "Don't" is one word, "ice-cream" two, digits are no word).
sample
    The shortest prefix of the corpus's documents, in the order the source gives them (for
    ``synthetic``: generation order), that holds at least ``SAMPLE_WORDS`` = 340,000 words (the
    whole corpus when it is smaller). Every statistic below except ``documents`` is computed on
    the sample, so the cost is bounded however large the corpus is.
``distinct_per_100k``
    The number of distinct words among the first 100,000 running words of the sample.
``hapax_per_340k``
    The number of words that occur exactly once among the first 340,000 running words.
``gzip_ratio``
    ``len(gzip.compress(raw, 9)) / len(raw)`` where ``raw`` is the UTF-8 text of the sample's
    documents joined by a blank line (``"\\n\\n"``, as in a ``local:`` ``.txt`` file).
``top10_share``
    The share of the first 340,000 running words taken by the 10 most frequent words among them.

A window statistic is ``None`` when the corpus holds fewer words than its window; the sample's
own type, hapax and top-10 numbers are always given.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from typing import Iterable

__all__ = ["WORD", "words", "corpus_stats", "TINYSTORIES", "TYPES_WINDOW", "HAPAX_WINDOW", "SAMPLE_WORDS"]

WORD = re.compile(r"[a-z']+")
TYPES_WINDOW = 100_000
HAPAX_WINDOW = 340_000
SAMPLE_WORDS = max(TYPES_WINDOW, HAPAX_WINDOW)
TOP_K = 10
SEPARATOR = "\n\n"

# Real TinyStories text (about 1.7 MB of the published train and validation splits), measured once:
# the synthetic generator aims at these values.
TINYSTORIES = {"distinct_per_100k": 3852, "hapax_per_340k": 1490, "gzip_ratio": 0.302, "top10_share": 0.286}


def words(text: str) -> list[str]:
    """The words of ``text``: ``[a-z']+`` runs of the lowercased text."""
    return WORD.findall(text.lower())


def corpus_stats(
    docs: Iterable[str],
    types_window: int = TYPES_WINDOW,
    hapax_window: int = HAPAX_WINDOW,
    top_k: int = TOP_K,
) -> dict:
    """Statistics of ``docs`` (any iterable of strings, consumed only as far as the sample).

    The windows are parameters so that tests can use small known texts; ``prepare`` and the
    targets use the defaults (100,000 and 340,000 words).
    """
    sample_size = max(types_window, hapax_window)
    sample_docs: list[str] = []
    stream: list[str] = []
    n_docs = 0
    for doc in docs:
        n_docs += 1
        if len(stream) >= sample_size:
            continue  # keep counting documents only
        sample_docs.append(doc)
        stream.extend(words(doc))
    raw = SEPARATOR.join(sample_docs).encode("utf-8")
    head = stream[:sample_size]
    counts = Counter(stream[:hapax_window])
    top = counts.most_common(top_k)
    n_hapax_window = min(len(stream), hapax_window)
    sample_counts = Counter(stream)
    return {
        "documents": n_docs,
        "sample_documents": len(sample_docs),
        "sample_words": len(stream),
        "sample_bytes": len(raw),
        "sample_distinct": len(sample_counts),
        "sample_hapax": sum(1 for c in sample_counts.values() if c == 1),
        "mean_document_words": len(stream) / len(sample_docs) if sample_docs else None,
        f"distinct_per_{_k(types_window)}": len(set(head[:types_window])) if len(head) >= types_window else None,
        f"hapax_per_{_k(hapax_window)}": (
            sum(1 for c in counts.values() if c == 1) if len(head) >= hapax_window else None
        ),
        "gzip_ratio": len(gzip.compress(raw, compresslevel=9, mtime=0)) / len(raw) if raw else None,
        f"top{top_k}_share": sum(c for _, c in top) / n_hapax_window if n_hapax_window else None,
        f"top{top_k}_words": [w for w, _ in top],
    }


def _k(n: int) -> str:
    """Window size as written in a key: 100000 -> '100k', 340000 -> '340k', 50 -> '50'."""
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)
