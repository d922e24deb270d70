"""Data preparation: documents -> byte-level BPE -> train/validation token arrays + meta.json.

Output folder (written under a temporary name, then renamed, so a failure leaves nothing):

- ``train.npy``, ``val.npy``: uint16 (or uint32) token ids, documents joined by ``<|endoftext|>``;
- ``tokenizer.json``: the trained Hugging Face ``tokenizers`` BPE;
- ``cloze.json``: multiple-choice cloze items from held-out text (the downstream probe);
- ``meta.json``: source, tokenizer, vocabulary size, token counts, sha256 of the arrays, and
  ``corpus_stats``: how the text compares with real children's stories (``corpus_stats.py``;
  computed on the first 340,000 words of the documents, whatever the source).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer
from tokenizers.implementations import ByteLevelBPETokenizer

from ..config import ConfigError
from ..io import atomic_dir
from .corpus_stats import TINYSTORIES, corpus_stats
from .sources import EOT, load_documents

log = logging.getLogger(__name__)


def train_tokenizer(docs: list[str], vocab_size: int) -> Tokenizer:
    """Byte-level BPE trained offline on ``docs``; ``<|endoftext|>`` is id 0."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(docs, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOT], show_progress=False)
    return bpe._tokenizer


def encode(tokenizer: Tokenizer, docs: list[str], chunk: int = 10_000) -> np.ndarray:
    """Concatenate documents, each followed by ``<|endoftext|>``; returns a 1-D id array.

    Encoded in chunks of ``chunk`` documents straight into numpy, so memory stays at about the
    size of the output array (Python int lists of a whole corpus would need tens of GB).
    """
    eot = tokenizer.token_to_id(EOT)
    dtype = np.uint16 if tokenizer.get_vocab_size() < 2**16 else np.uint32
    parts: list[np.ndarray] = []
    for i in range(0, len(docs), chunk):
        for enc in tokenizer.encode_batch(docs[i : i + chunk]):
            parts.append(np.asarray(enc.ids + [eot], dtype=dtype))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


_WORD = re.compile(r"[a-z]{3,}")


def cloze_items(docs: list[str], n_items: int, n_choices: int, seed: int) -> list[dict]:
    """Pick-the-true-next-word items from held-out documents.

    Each item: ``context`` (text up to a word), ``choices`` (the true word and ``n_choices - 1``
    distractors), ``answer`` (index of the truth). Distractors are words that also follow the
    same preceding word elsewhere in the held-out text ("her grandma" / "her ball" / "her room"),
    so that grammar alone does not give the answer away and the model must use the story's
    context; when too few such words exist, frequent held-out words fill the remaining choices.
    """
    rng = random.Random(seed)
    counts = Counter(w for d in docs for w in _WORD.findall(d.lower()))
    pool = sorted(w for w, c in counts.items() if c >= 3)
    if len(pool) < n_choices:
        return []
    followers: dict[str, set[str]] = {}
    for d in docs:
        words = re.findall(r"[A-Za-z']+", d)
        for prev, nxt in zip(words, words[1:]):
            if _WORD.fullmatch(nxt):
                followers.setdefault(prev.lower(), set()).add(nxt)
    # Every (document, word position) is a candidate; a seeded shuffle picks n of them.
    spots = [(i, m) for i, d in enumerate(docs) for m in re.finditer(r"(?<= )([a-z]{3,})\b", d) if m.start() > 40]
    rng.shuffle(spots)
    items: list[dict] = []
    for i, m in spots[:n_items]:
        word = m.group(0)
        # the text before the word may hold no ASCII word at all (digits, other scripts)
        before = re.findall(r"[A-Za-z']+", docs[i][: m.start()])
        prev = before[-1].lower() if before else ""
        similar = sorted(followers.get(prev, set()) - {word})
        rng.shuffle(similar)
        distractors = similar[: n_choices - 1]
        while len(distractors) < n_choices - 1:
            w = rng.choice(pool)
            if w != word and w not in distractors:
                distractors.append(w)
        choices = distractors + [word]
        rng.shuffle(choices)
        items.append({"context": docs[i][: m.start()].rstrip(" "), "choices": choices, "answer": choices.index(word)})
    return items


def prepare(cfg: dict, out_dir: str | Path, base_dir: str | Path | None = None) -> dict:
    """Build the data folder for a validated study ``cfg``; returns the meta dict."""
    data_cfg = cfg["data"]
    t0 = time.perf_counter()
    docs = load_documents(data_cfg, base_dir)
    log.info("loaded %d documents from %s in %.1f s", len(docs), data_cfg["source"], time.perf_counter() - t0)
    if len(docs) < 2:
        raise ConfigError(
            f"data.source {data_cfg['source']!r} yielded {len(docs)} document(s); at least 2 are needed "
            "for a train/validation split"
        )
    order = list(range(len(docs)))
    random.Random(data_cfg["split_seed"]).shuffle(order)
    n_val = max(1, round(len(docs) * data_cfg["val_fraction"]))
    val_docs = [docs[i] for i in order[:n_val]]
    train_docs = [docs[i] for i in order[n_val:]]

    t1 = time.perf_counter()
    tokenizer = train_tokenizer(train_docs, data_cfg["vocab_size"])
    train_ids, val_ids = encode(tokenizer, train_docs), encode(tokenizer, val_docs)
    log.info("trained BPE (%d tokens) and encoded in %.1f s", tokenizer.get_vocab_size(), time.perf_counter() - t1)

    need = cfg["train"]["batch_size"] * (cfg["model"]["context"] + 1)
    for name, ids in (("train", train_ids), ("validation", val_ids)):
        if len(ids) < need:
            raise ConfigError(
                f"data.source {data_cfg['source']!r}: the {name} split has {len(ids)} tokens, fewer than one "
                f"batch needs (train.batch_size x (model.context + 1) = {need}); use more text or a smaller batch"
            )

    items = cloze_items(val_docs, data_cfg["cloze_items"], data_cfg["cloze_choices"], data_cfg["split_seed"])
    t2 = time.perf_counter()
    stats = corpus_stats(docs)  # documents in source order, before the split shuffle
    n_words = sum(len(d.split()) for d in docs)
    stats["tokens_per_word"] = (len(train_ids) + len(val_ids) - len(docs)) / n_words  # <|endoftext|> left out
    stats["reference_tinystories"] = TINYSTORIES
    log.info("corpus statistics in %.1f s: %s", time.perf_counter() - t2,
             {k: stats[k] for k in TINYSTORIES})
    meta = {
        "source": data_cfg["source"],
        "tokenizer": {"type": "byte-level BPE (Hugging Face tokenizers)", "file": "tokenizer.json"},
        "vocab_size": tokenizer.get_vocab_size(),
        "eot_id": tokenizer.token_to_id(EOT),
        "documents": {"train": len(train_docs), "val": len(val_docs)},
        "tokens": {"train": int(len(train_ids)), "val": int(len(val_ids))},
        "dtype": str(train_ids.dtype),
        "sha256": {"train.npy": sha256(train_ids), "val.npy": sha256(val_ids)},
        "cloze_items": len(items),
        "words": n_words,
        "corpus_stats": stats,
    }
    with atomic_dir(out_dir) as tmp:
        np.save(tmp / "train.npy", train_ids)
        np.save(tmp / "val.npy", val_ids)
        tokenizer.save(str(tmp / "tokenizer.json"))
        (tmp / "cloze.json").write_text(json.dumps(items))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    log.info("data ready in %.1f s: %s", time.perf_counter() - t0, json.dumps(meta["tokens"]))
    return meta


class TokenData:
    """A prepared data folder, verified against its ``meta.json`` checksums."""

    def __init__(self, folder: str | Path, verify: bool = True):
        self.folder = Path(folder)
        meta_path = self.folder / "meta.json"
        if not meta_path.exists():
            raise ConfigError(f"data folder {self.folder} has no meta.json (run the prepare_data rule first)")
        self.meta = json.loads(meta_path.read_text())
        self.train = np.load(self.folder / "train.npy")
        self.val = np.load(self.folder / "val.npy")
        if verify:
            for name, arr in (("train.npy", self.train), ("val.npy", self.val)):
                if sha256(arr) != self.meta["sha256"][name]:
                    raise ConfigError(f"{self.folder / name} does not match the sha256 in meta.json (corrupted?)")
        self.vocab_size = int(self.meta["vocab_size"])
        self.cloze = json.loads((self.folder / "cloze.json").read_text())

    def tokenizer(self) -> Tokenizer:
        return Tokenizer.from_file(str(self.folder / "tokenizer.json"))
