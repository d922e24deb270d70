"""Benchmark: sketching a 100M-parameter gradient stream on the CPU.

Builds GPT-2-like per-layer gradient tensors (~1e8 parameters in total), fills them with fresh
random numbers each step (a stand-in for ``p.grad``), sketches them with
:class:`predictive_training.records.sketch.GradientSketch` via ``project_chunks`` and reports

* the memory held by the sketch (its hash tables) and the process's resident memory after
  every step (it must not grow with the number of steps) and at its peak;
* the sketching time per step and the projected cost of 10,000 steps;
* beside it, the time of one training step of a small GPT-like stand-in model (2-layer
  ``nn.TransformerEncoder``, d = 128, batch 16 x 128 tokens) and of sketching its gradients.

Usage: ``python benchmarks/sketch_100m.py [--k 4096] [--steps 20] [--n-layer 9]``.
Runs in about a minute on 2 cores; peak memory ~1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch
from torch import nn

from predictive_training.records.sketch import GradientSketch


def _rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc), bytes."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize()


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def gpt2_like_shapes(n_layer: int, d: int = 768, vocab: int = 50257, ctx: int = 1024) -> list[tuple]:
    """Parameter shapes of a GPT-2-style model (tied LM head), in module order."""
    shapes: list[tuple] = [(vocab, d), (ctx, d)]
    for _ in range(n_layer):
        shapes += [(d,), (d,), (d, 3 * d), (3 * d,), (d, d), (d,),  # ln1, attn qkv, proj
                   (d,), (d,), (d, 4 * d), (4 * d,), (4 * d, d), (d,)]  # ln2, mlp
    shapes += [(d,), (d,)]  # final layer norm
    return shapes


class TinyGPT(nn.Module):
    """Stand-in small causal LM: embedding, 2-layer TransformerEncoder (d=128), LM head."""

    def __init__(self, vocab=8192, d=128, n_layer=2, n_head=4, ctx=128):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d)
        layer = nn.TransformerEncoderLayer(d, n_head, 4 * d, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.body = nn.TransformerEncoder(layer, n_layer, enable_nested_tensor=False)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        T = idx.shape[1]
        h = self.tok(idx) + self.pos(torch.arange(T))
        mask = nn.Transformer.generate_square_subsequent_mask(T)
        return self.head(self.body(h, mask=mask, is_causal=True))


def bench_small_model(k: int, steps: int = 10) -> dict:
    torch.manual_seed(0)
    model = TinyGPT()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    params = [p for p in model.parameters() if p.requires_grad]
    n = sum(p.numel() for p in params)
    sk = GradientSketch(n, k, seed=0)
    x = torch.randint(0, 8192, (16, 129))
    step_t, sk_t = [], []
    for i in range(steps + 2):  # two warm-up steps
        t0 = time.perf_counter()
        logits = model(x[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        sk.project_chunks(p.grad for p in params)
        t2 = time.perf_counter()
        if i >= 2:
            step_t.append(t1 - t0)
            sk_t.append(t2 - t1)
    return {"n_params": n, "train_step_s": sum(step_t) / len(step_t),
            "sketch_s": sum(sk_t) / len(sk_t),
            "sketch_overhead": sum(sk_t) / sum(step_t)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=4096, help="sketch dimension")
    ap.add_argument("--steps", type=int, default=20, help="number of gradient steps to sketch")
    ap.add_argument("--n-layer", type=int, default=9, help="GPT-2-like layers (9 -> ~103M params)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)

    rss0 = _rss_bytes()
    shapes = gpt2_like_shapes(args.n_layer)
    grads = [torch.empty(s) for s in shapes]  # stand-in for p.grad, allocated once like a model's
    n = sum(g.numel() for g in grads)
    rss_grads = _rss_bytes()

    t0 = time.perf_counter()
    sk = GradientSketch(n, args.k, seed=args.seed)
    init_s = time.perf_counter() - t0
    rss_sketch = _rss_bytes()

    gen = torch.Generator().manual_seed(args.seed)
    times, rss_after, out = [], [], []
    for _ in range(args.steps):
        for g in grads:
            g.normal_(generator=gen)  # fresh random "gradient" (not timed)
        t = time.perf_counter()
        y = sk.project_chunks(grads)
        times.append(time.perf_counter() - t)
        out.append(y)  # the [k] sketches are what a recorder keeps: T * k * 4 bytes
        rss_after.append(_rss_bytes())

    # sanity: ||S g||^2 / ||g||^2 ~ 1 +- sqrt(2/k) on the last step
    norm_ratio = float(out[-1].double().pow(2).sum() / sum(g.double().pow(2).sum() for g in grads))
    per_step = sorted(times)[len(times) // 2]
    small = bench_small_model(args.k)
    report = {
        "n_params": n,
        "n_tensors": len(shapes),
        "k": args.k,
        "steps": args.steps,
        "torch_threads": torch.get_num_threads(),
        "sketch_init_s": round(init_s, 2),
        "sketch_buffer_MiB": round(sk.nbytes / 2**20, 1),
        "rss_MiB": {"start": round(rss0 / 2**20), "after_grads": round(rss_grads / 2**20),
                    "after_sketch_init": round(rss_sketch / 2**20),
                    "after_step": [round(r / 2**20) for r in rss_after],
                    "growth_step2_to_last": round((rss_after[-1] - rss_after[1]) / 2**20, 1),
                    "peak": round(_peak_rss_bytes() / 2**20)},
        "sketch_s_per_step": {"median": round(per_step, 3), "min": round(min(times), 3),
                              "max": round(max(times), 3)},
        "projected_10k_steps_min": round(per_step * 10_000 / 60, 1),
        "record_MiB_per_10k_steps_grad_plus_update": round(2 * 10_000 * args.k * 4 / 2**20),
        "norm_ratio_last_step": round(norm_ratio, 4),
        "small_model": {k_: (round(v, 4) if isinstance(v, float) else v) for k_, v in small.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
