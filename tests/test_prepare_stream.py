"""Data preparation streams the corpus, in bounded memory, to the same outputs.

The pieces are checked against what holding everything in memory gives (the split order against
``random.shuffle``, the ``.npy`` files against ``np.save``, the cloze items on the spool against a
list), and a corpus ten times the smoke study's is prepared in a subprocess whose resident memory
is sampled while it tokenizes.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from predictive_training.data.prepare import (DocumentSpool, cloze_items, encode, encode_to_npy, shuffled_order,
                                              train_tokenizer)
from predictive_training.data.synthetic import generate_stories, iter_stories

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
def test_shuffled_order_is_random_shuffle(n):
    a, b = random.Random(5), random.Random(5)
    ref = list(range(n))
    a.shuffle(ref)
    assert list(shuffled_order(n, b)) == ref
    assert a.random() == b.random()  # the generator is left in the same state


def test_streamed_pieces_equal_the_in_memory_ones(tmp_path):
    docs = generate_stories(3, 20_000)
    assert list(iter_stories(3, 20_000)) == docs
    spool = DocumentSpool(tmp_path / "spool")
    for d in docs:
        spool.append(d)
    order = shuffled_order(len(docs), random.Random(0))
    view = spool.take(order)
    assert list(view) == [docs[i] for i in order] and view[3] == docs[order[3]]
    tok = train_tokenizer(iter(view), 300)
    assert tok.to_str() == train_tokenizer([docs[i] for i in order], 300).to_str()
    n, digest = encode_to_npy(tok, view, tmp_path / "a.npy", chunk=7)
    np.save(tmp_path / "b.npy", encode(tok, [docs[i] for i in order]))
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()
    assert n == np.load(tmp_path / "b.npy").size
    assert cloze_items(view, 20, 4, 1) == cloze_items([docs[i] for i in order], 20, 4, 1)
    spool.close()


RSS_PROBE = textwrap.dedent('''
    import json, sys, tempfile, threading, time
    from pathlib import Path
    from predictive_training import config as config_mod
    from predictive_training.data.prepare import prepare

    words = int(sys.argv[1])
    cfg = config_mod.validate({"study": "rss", "data": {"source": "synthetic", "synthetic_words": words,
                               "vocab_size": 512, "cloze_items": 40},
                               "model": {"context": 32, "n_layer": 1, "n_head": 2, "d_model": 48},
                               "train": {"batch_size": 8}})
    peak = [0]
    def sample():
        while True:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        peak[0] = max(peak[0], int(line.split()[1]) * 1024)
            time.sleep(0.02)
    threading.Thread(target=sample, daemon=True).start()
    with tempfile.TemporaryDirectory() as d:
        meta = prepare(cfg, Path(d) / "data")
    time.sleep(0.1)
    print(json.dumps({"peak": peak[0], "tokens": meta["tokens"]["train"]}))
''')

GROWTH_BOUND = 64 * 2**20


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="samples VmRSS from /proc")
def test_preparing_ten_times_the_smoke_corpus_keeps_memory_flat(tmp_path):
    """The smoke study's 300,000 words against 3,000,000: resident memory may grow by at most 64 MB
    (the BPE trainer's word counts grow with the distinct words, the offsets by 16 bytes per
    document). Holding the corpus in memory grew it by about 350 MB."""
    probe = tmp_path / "probe.py"
    probe.write_text(RSS_PROBE)
    procs = {words: subprocess.Popen([sys.executable, str(probe), str(words)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for words in (300_000, 3_000_000)}  # side by side: each process has its own peak
    out = {}
    for words, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, stderr[-2000:]
        out[words] = json.loads(stdout.strip().splitlines()[-1])
    assert out[3_000_000]["tokens"] > 9 * out[300_000]["tokens"]
    growth = out[3_000_000]["peak"] - out[300_000]["peak"]
    assert growth <= GROWTH_BOUND, f"resident memory grew by {growth / 2**20:.0f} MB for 10x the corpus"
