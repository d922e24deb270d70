"""Benchmark: training throughput (tokens/s) and model-FLOPs utilisation (MFU).

MFU = 6 N (tokens/s) / peak, with N the model's parameter count (tied embeddings once) and the
peak measured in the same run as the best FLOP/s of a large matrix multiply on the same hardware
(``torch.mm``; float32 on the CPU, bfloat16 on CUDA), so MFU says how much of the machine's
achievable matmul rate training turns into model FLOPs. (6 N per token ignores attention's
``12 L T d`` FLOPs per token, a few percent for these shapes; an MFU from a vendor's nominal peak
would be lower.)

* CPU: the default study's model (``config/config.yaml``: its ``model`` and ``data.vocab_size``,
  batch ``train.batch_size``), with 1 torch thread and with all threads; the matmul peak is
  measured at the same thread counts.
* CUDA (when a GPU is present): the paper model (``config/paper.yaml``, ~98M parameters), bf16
  autocast, a few hundred steps (``--gpu-steps``).

Training steps are the bare loop (AdamW, gradient clipping, random tokens: throughput does not
depend on the text), without the study's recording; ``benchmarks/recording_overhead.py``
measures recording. Usage: ``python benchmarks/throughput.py [--seconds 6] [--gpu-steps 300]
[--json OUT]``; the CPU part takes about a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from predictive_training import config as config_mod
from predictive_training.model import GPT, GPTConfig

ROOT = Path(__file__).resolve().parents[1]


def model_from(config_file: Path) -> tuple[GPTConfig, int]:
    """GPT config and batch size of a study config file (validated, defaults filled)."""
    cfg = config_mod.load(config_file)
    m = cfg["model"]
    gcfg = GPTConfig(vocab_size=cfg["data"]["vocab_size"], context=m["context"], n_layer=m["n_layer"],
                     n_head=m["n_head"], d_model=m["d_model"], dropout=m["dropout"])
    return gcfg, cfg["train"]["batch_size"]


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, seconds: float) -> float:
    """Best FLOP/s of ``torch.mm`` of two n x n matrices over ~``seconds`` of repeats (2 n^3 FLOPs each)."""
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=g).to(device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    reps = 10 if device.type == "cuda" else 1  # time several launches together on the GPU
    torch.mm(a, b)
    sync()
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        sync()
        best = max(best, reps * 2 * n**3 / (time.perf_counter() - t0))
    return best


def train_throughput(gcfg: GPTConfig, batch: int, device: torch.device, *, seconds: float | None = None,
                     steps: int | None = None, bf16: bool = False, warmup: int = 3) -> dict:
    """Tokens/s of the bare training loop on random tokens: ``steps`` steps or ~``seconds``."""
    torch.manual_seed(0)
    model = GPT(gcfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1,
                            fused=device.type == "cuda")
    x = torch.randint(0, gcfg.vocab_size, (batch, gcfg.context + 1), device=device)
    inp, tgt = x[:, :-1], x[:, 1:]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model.loss(inp, tgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    sync()
    done, t0 = 0, time.perf_counter()
    while (steps is not None and done < steps) or (steps is None and time.perf_counter() - t0 < seconds):
        loss = step()
        done += 1
    sync()
    elapsed = time.perf_counter() - t0
    tokens = done * batch * gcfg.context
    return {"n_params": model.n_params(), "steps": done, "tokens_per_s": tokens / elapsed,
            "step_ms": 1000 * elapsed / done, "final_loss": float(loss.detach())}


def row(name: str, res: dict, peak: float, threads) -> dict:
    flops_per_s = 6 * res["n_params"] * res["tokens_per_s"]
    return {"setting": name, "threads": threads, "params": res["n_params"], "steps": res["steps"],
            "step_ms": res["step_ms"], "tokens_per_s": res["tokens_per_s"], "model_tflops": flops_per_s / 1e12,
            "peak_tflops": peak / 1e12, "mfu": flops_per_s / peak}


def print_table(rows: list[dict]) -> None:
    head = f"{'setting':<34} {'threads':>7} {'params':>12} {'steps':>6} {'ms/step':>9} {'tokens/s':>11} " \
           f"{'model TFLOP/s':>13} {'peak TFLOP/s':>12} {'MFU':>6}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['setting']:<34} {r['threads']!s:>7} {r['params']:>12,} {r['steps']:>6} {r['step_ms']:>9.2f} "
              f"{r['tokens_per_s']:>11,.0f} {r['model_tflops']:>13.4f} {r['peak_tflops']:>12.4f} "
              f"{100 * r['mfu']:>5.1f}%")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "config/config.yaml"), help="CPU model's study config")
    ap.add_argument("--gpu-config", default=str(ROOT / "config/paper.yaml"), help="GPU model's study config")
    ap.add_argument("--seconds", type=float, default=6.0, help="seconds of training per CPU setting")
    ap.add_argument("--mm-size", type=int, default=2048, help="matrix size of the CPU matmul peak")
    ap.add_argument("--gpu-steps", type=int, default=300, help="training steps on the GPU")
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)

    rows = []
    cpu = torch.device("cpu")
    all_threads = os.cpu_count() or 1
    if not args.skip_cpu:
        gcfg, batch = model_from(Path(args.config))
        for threads in sorted({1, all_threads}):
            torch.set_num_threads(threads)
            peak = matmul_peak(cpu, torch.float32, args.mm_size, seconds=3.0)
            res = train_throughput(gcfg, batch, cpu, seconds=args.seconds)
            rows.append(row(f"CPU fp32, {Path(args.config).name} (batch {batch})", res, peak, threads))
        torch.set_num_threads(all_threads)
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        gcfg, batch = model_from(Path(args.gpu_config))
        peak = matmul_peak(gpu, torch.bfloat16, 8192, seconds=3.0)
        res = train_throughput(gcfg, batch, gpu, steps=args.gpu_steps, bf16=True, warmup=10)
        rows.append(row(f"CUDA bf16, {Path(args.gpu_config).name} (batch {batch})", res, peak,
                        torch.cuda.get_device_name(0)))
    else:
        print("no CUDA device: the GPU row (config/paper.yaml, bf16) is skipped")
    print(f"torch {torch.__version__}; peak = best torch.mm FLOP/s (CPU float32 {args.mm_size}^2, "
          f"CUDA bf16 8192^2) at the same thread count; MFU = 6 N tokens/s / peak")
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
