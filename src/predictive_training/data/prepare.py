"""Data preparation: documents -> byte-level BPE -> train/validation token arrays + meta.json.

The corpus is streamed (:func:`prepare`): resident memory does not grow with its text, only by
16 bytes per document (offsets and the split order) and, for the cloze probe, 16 bytes per
candidate word position of the validation split.

Output folder (written under a temporary name, then renamed, so a failure leaves nothing):

- ``train.npy``, ``val.npy``: uint16 (or uint32) token ids, documents joined by ``<|endoftext|>``;
- ``tokenizer.json``: the trained Hugging Face ``tokenizers`` BPE;
- ``cloze.json``: multiple-choice cloze items from held-out text (the downstream probe);
- ``meta.json``: source, tokenizer, vocabulary size, token counts, sha256 of the arrays, and
  ``corpus_stats``: how the text compares with real children's stories (``corpus_stats.py``;
  computed on the first 340,000 words of the documents, whatever the source).
"""

from __future__ import annotations

import array
import hashlib
import itertools
import json
import logging
import random
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer
from tokenizers.implementations import ByteLevelBPETokenizer

from ..config import ConfigError
from ..io import atomic_dir
from .corpus_stats import TINYSTORIES, corpus_stats
from .sources import EOT, iter_documents

log = logging.getLogger(__name__)


def train_tokenizer(docs: Iterable[str], vocab_size: int) -> Tokenizer:
    """Byte-level BPE trained offline on ``docs`` (any iterable, consumed once); ``<|endoftext|>`` is id 0."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(docs, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOT], show_progress=False)
    return bpe._tokenizer


# documents per encode_batch call: the Encoding objects of a batch (ids, offsets, token strings)
# take about 100 bytes per token, so a batch of 1,000 stories stays near 30 MB
ENCODE_CHUNK = 1000


def _dtype(tokenizer: Tokenizer) -> np.dtype:
    return np.dtype(np.uint16 if tokenizer.get_vocab_size() < 2**16 else np.uint32)


def _encoded_chunks(tokenizer: Tokenizer, docs: Iterable[str], chunk: int) -> Iterator[np.ndarray]:
    """Token ids of ``docs``, each followed by ``<|endoftext|>``, ``chunk`` documents at a time."""
    eot = tokenizer.token_to_id(EOT)
    dtype = _dtype(tokenizer)
    batch: list[str] = []
    for doc in itertools.chain(docs, [None]):
        if doc is not None:
            batch.append(doc)
        if batch and (doc is None or len(batch) == chunk):
            yield np.concatenate([np.asarray(enc.ids + [eot], dtype=dtype) for enc in tokenizer.encode_batch(batch)])
            batch = []


def encode(tokenizer: Tokenizer, docs: Iterable[str], chunk: int = ENCODE_CHUNK) -> np.ndarray:
    """Concatenate documents, each followed by ``<|endoftext|>``; returns a 1-D id array.

    Encoded in chunks of ``chunk`` documents straight into numpy (:func:`encode_to_npy` writes the
    chunks to a file instead, so that not even the output array is held)."""
    parts = list(_encoded_chunks(tokenizer, docs, chunk))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=_dtype(tokenizer))


def encode_to_npy(tokenizer: Tokenizer, docs: Iterable[str], path: Path, chunk: int = ENCODE_CHUNK) -> tuple[int, str]:
    """Encode ``docs`` as :func:`encode` does into the ``.npy`` file ``path``, chunk by chunk; returns
    the number of tokens and the sha256 of the array's bytes (as :func:`sha256` of the array)."""
    dtype = _dtype(tokenizer)
    raw = path.with_name(path.name + ".raw")
    digest, n = hashlib.sha256(), 0
    with open(raw, "wb") as fh:
        for ids in _encoded_chunks(tokenizer, docs, chunk):
            b = ids.tobytes()
            fh.write(b)
            digest.update(b)
            n += ids.size
    # the header np.save writes for a 1-D array of n ids, then the ids themselves
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n,)}
    with open(path, "wb") as out, open(raw, "rb") as fh:
        np.lib.format.write_array_header_1_0(out, header)
        shutil.copyfileobj(fh, out, length=1 << 22)
    raw.unlink()
    return n, digest.hexdigest()


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


_WORD = re.compile(r"[a-z]{3,}")
_SPOT = re.compile(r"(?<= )([a-z]{3,})\b")


def shuffled_order(n: int, rng: random.Random) -> array.array:
    """``0 .. n-1`` in the order ``rng.shuffle(list(range(n)))`` gives, consuming ``rng`` exactly as
    that call does, held as 8-byte integers (a list of Python ints takes about 36 bytes each)."""
    order = array.array("q", range(n))
    randbelow = rng._randbelow  # what random.shuffle draws with (CPython 3.11+: no `random` argument)
    for i in range(n - 1, 0, -1):
        j = randbelow(i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def cloze_items(docs: Sequence[str], n_items: int, n_choices: int, seed: int) -> list[dict]:
    """Pick-the-true-next-word items from held-out documents.

    Each item: ``context`` (text up to a word), ``choices`` (the true word and ``n_choices - 1``
    distractors), ``answer`` (index of the truth). Distractors are words that also follow the
    same preceding word elsewhere in the held-out text ("her grandma" / "her ball" / "her room"),
    so that grammar alone does not give the answer away and the model must use the story's
    context; when too few such words exist, frequent held-out words fill the remaining choices.

    ``docs`` is read three times and indexed (a list, or the spool of ``prepare``); the candidate
    positions are kept as two integers each, not as match objects holding their documents.
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
    spot_doc, spot_start = array.array("q"), array.array("q")
    for i, d in enumerate(docs):
        for m in _SPOT.finditer(d):
            if m.start() > 40:
                spot_doc.append(i)
                spot_start.append(m.start())
    order = shuffled_order(len(spot_doc), rng)
    items: list[dict] = []
    for k in order[:n_items]:
        i = spot_doc[k]
        doc = docs[i]
        m = _SPOT.match(doc, spot_start[k])
        word = m.group(0)
        # the text before the word may hold no ASCII word at all (digits, other scripts)
        before = re.findall(r"[A-Za-z']+", doc[: m.start()])
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
        items.append({"context": doc[: m.start()].rstrip(" "), "choices": choices, "answer": choices.index(word)})
    return items


class DocumentSpool:
    """Documents written one after another to a file (UTF-8) with their byte offsets: a corpus
    on disk with random access, so that ``prepare`` holds 8 bytes per document, not the text."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fh = open(self.path, "w+b")
        self._offsets = array.array("q", [0])

    def append(self, doc: str) -> None:
        b = doc.encode("utf-8")
        self._fh.write(b)
        self._offsets.append(self._offsets[-1] + len(b))

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> str:
        self._fh.flush()
        self._fh.seek(self._offsets[i])
        return self._fh.read(self._offsets[i + 1] - self._offsets[i]).decode("utf-8")

    def take(self, indices: Sequence[int]) -> "SpooledDocs":
        return SpooledDocs(self, indices)

    def close(self) -> None:
        self._fh.close()


class SpooledDocs(Sequence):
    """The documents of a spool at ``indices``, in that order (a read-only sequence)."""

    def __init__(self, spool: DocumentSpool, indices: Sequence[int]):
        self.spool, self.indices = spool, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self.spool[self.indices[j]] for j in range(*k.indices(len(self)))]
        return self.spool[self.indices[k]]

    def __iter__(self) -> Iterator[str]:
        for i in self.indices:
            yield self.spool[i]


def prepare(cfg: dict, out_dir: str | Path, base_dir: str | Path | None = None) -> dict:
    """Build the data folder for a validated study ``cfg``; returns the meta dict.

    Streams the corpus (memory does not grow with its text): the source's documents go to a spool
    file beside the output folder (with the corpus statistics and word count taken on the way),
    the split is a seeded shuffle of document indices, the BPE trains on the training documents
    read back from the spool in that order, and both splits are encoded chunk by chunk into their
    ``.npy`` files. The outputs are those of holding everything in memory, byte for byte.
    """
    data_cfg = cfg["data"]
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.spool-", dir=out_dir.parent) as work:
        spool = DocumentSpool(Path(work) / "documents.utf8")
        n_words = 0

        def spooled() -> Iterator[str]:
            nonlocal n_words
            for doc in iter_documents(data_cfg, base_dir):
                spool.append(doc)
                n_words += len(doc.split())
                yield doc

        stats = corpus_stats(spooled())  # documents in source order, before the split shuffle
        n_docs = len(spool)
        log.info("streamed %d documents from %s in %.1f s", n_docs, data_cfg["source"], time.perf_counter() - t0)
        if n_docs < 2:
            raise ConfigError(
                f"data.source {data_cfg['source']!r} yielded {n_docs} document(s); at least 2 are needed "
                "for a train/validation split"
            )
        order = shuffled_order(n_docs, random.Random(data_cfg["split_seed"]))
        n_val = max(1, round(n_docs * data_cfg["val_fraction"]))
        val_docs, train_docs = spool.take(order[:n_val]), spool.take(order[n_val:])

        t1 = time.perf_counter()
        tokenizer = train_tokenizer(iter(train_docs), data_cfg["vocab_size"])
        n_train, sha_train = encode_to_npy(tokenizer, train_docs, Path(work) / "train.npy")
        n_val_tok, sha_val = encode_to_npy(tokenizer, val_docs, Path(work) / "val.npy")
        log.info("trained BPE (%d tokens) and encoded in %.1f s", tokenizer.get_vocab_size(), time.perf_counter() - t1)

        need = cfg["train"]["batch_size"] * (cfg["model"]["context"] + 1)
        for name, n in (("train", n_train), ("validation", n_val_tok)):
            if n < need:
                raise ConfigError(
                    f"data.source {data_cfg['source']!r}: the {name} split has {n} tokens, fewer than one "
                    f"batch needs (train.batch_size x (model.context + 1) = {need}); use more text or a smaller batch"
                )

        items = cloze_items(val_docs, data_cfg["cloze_items"], data_cfg["cloze_choices"], data_cfg["split_seed"])
        spool.close()
        stats["tokens_per_word"] = (n_train + n_val_tok - n_docs) / n_words  # <|endoftext|> left out
        stats["reference_tinystories"] = TINYSTORIES
        log.info("corpus statistics: %s", {k: stats[k] for k in TINYSTORIES})
        meta = {
            "source": data_cfg["source"],
            "tokenizer": {"type": "byte-level BPE (Hugging Face tokenizers)", "file": "tokenizer.json"},
            "vocab_size": tokenizer.get_vocab_size(),
            "eot_id": tokenizer.token_to_id(EOT),
            "documents": {"train": n_docs - n_val, "val": n_val},
            "tokens": {"train": int(n_train), "val": int(n_val_tok)},
            "dtype": str(_dtype(tokenizer)),
            "sha256": {"train.npy": sha_train, "val.npy": sha_val},
            "cloze_items": len(items),
            "words": n_words,
            "corpus_stats": stats,
        }
        with atomic_dir(out_dir) as tmp:
            for name in ("train.npy", "val.npy"):
                shutil.move(str(Path(work) / name), tmp / name)
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
