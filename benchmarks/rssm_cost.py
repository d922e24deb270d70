"""Cost of the RSSM-lite dynamics model against a real full training step of the default model.

Usage: python benchmarks/rssm_cost.py [--config config/config.yaml] [--steps 500] [--horizon 50]
                                      [--rollouts 7] [--threads 1] [--rssm KEY=VALUE ...]

Everything is measured in this one process, interleaved, so the ratios are robust to the load of
a shared machine (absolute times are not):

1. ``full step``: one real optimisation step of the config's GPT on random tokens (forward,
   backward, gradient clipping, AdamW, and the ``before/after`` update difference the trainer
   computes), median over ``--steps`` steps.
2. ``observe``: what the hybrid trainer adds to every full step for the dynamics model: the
   per-tensor gradient and update norms, :func:`step_features`, and ``RSSMLite.observe`` with its
   periodic online optimisation (held-out evaluations, training steps, re-filtering), amortised
   (total seconds over all steps / steps). The median per call is printed too (the cheap
   non-training calls), and the mean of the calls that ran an optimisation.
3. ``rollout+apply``: one ``--horizon``-step rollout (``n_samples`` from the RSSM config) plus
   adding the predicted delta to the weights, median over ``--rollouts`` calls after the steps.

The default ``--steps`` 500 is about what a default ``hybrid_r50`` run observes (warmup, Full and
Correct steps). The model's learning curve over these steps is summarised too (on random tokens,
so only its cost, not its skill, means anything here). Targets: amortised observe plus
training <= 0.25 full steps; rollout+apply < 2 full steps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import yaml

from predictive_training.model import GPT, GPTConfig
from predictive_training.dynamics.rssm import RSSMConfig, RSSMLite, step_features


def _parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, val = item.partition("=")
        out[key] = yaml.safe_load(val)
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--horizon", type=int, default=50)
    ap.add_argument("--rollouts", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rssm", nargs="*", default=[], help="RSSMConfig overrides KEY=VALUE")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    with open(args.config) as fh:
        cfg = yaml.safe_load(fh)
    m, tr = cfg["model"], cfg["train"]
    vocab = cfg["data"]["vocab_size"]
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=vocab, context=m["context"], n_layer=m["n_layer"],
                          n_head=m["n_head"], d_model=m["d_model"]))
    params = dict(model.named_parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=tr.get("lr", 3e-3), weight_decay=0.1)
    bs, ctx = tr["batch_size"], m["context"]
    g = torch.Generator().manual_seed(0)
    rcfg = RSSMConfig.from_dict({"seed": 0, **_parse_overrides(args.rssm)})
    rssm = RSSMLite.for_model(model, rcfg)
    names = list(rssm.param_names)
    lr = float(tr.get("lr", 3e-3))

    step_s, obs_s, train_s = [], [], []
    for t in range(args.steps):
        x = torch.randint(0, vocab, (bs, ctx), generator=g)
        y = torch.randint(0, vocab, (bs, ctx), generator=g)
        t0 = time.perf_counter()
        loss = model.loss(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        before = {n: p.detach().clone() for n, p in params.items()}
        opt.step()
        update = {n: p.detach() - before[n] for n, p in params.items()}
        step_s.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        grad_norms = {n: float(torch.linalg.vector_norm(params[n].grad)) for n in names}
        upd_norms = {n: float(torch.linalg.vector_norm(update[n])) for n in names}
        f = step_features(float(loss.detach()), float(gn), lr, t, args.steps, grad_norms, upd_norms, names=names)
        stats = rssm.observe(f, update, train=True)
        obs_s.append(time.perf_counter() - t0)
        if stats is not None:
            train_s.append(obs_s[-1])

    roll_s = []
    with torch.no_grad():
        for k in range(args.rollouts):
            t0 = time.perf_counter()
            r = rssm.rollout(args.horizon, seed=k, lrs=[lr] * args.horizon)
            for n, p in params.items():
                p.add_(r.delta[n])
            roll_s.append(time.perf_counter() - t0)
            for n, p in params.items():  # undo, so each rollout applies to the same weights
                p.sub_(r.delta[n])

    full = statistics.median(step_s)
    obs_amort = sum(obs_s) / len(obs_s)
    roll = statistics.median(roll_s)
    out = {
        "n_params": sum(p.numel() for p in params.values()),
        "threads": torch.get_num_threads(),
        "full_step_ms_median": 1e3 * full,
        "observe_ms_amortised": 1e3 * obs_amort,
        "observe_ms_median_call": 1e3 * statistics.median(obs_s),
        "observe_ms_training_calls": [round(1e3 * v, 1) for v in train_s],
        "observe_ms_mean_training_call": 1e3 * statistics.mean(train_s) if train_s else float("nan"),
        "rssm_train_steps": rssm.n_train_steps,
        "rssm_state_numbers_over_n": rssm.state_numbers()["n_proportional"] / sum(p.numel() for p in params.values()),
        "rollout_apply_ms_median": 1e3 * roll,
        "ratio_rollout_apply_over_full_step": roll / full,
        "ratio_observe_over_full_step": obs_amort / full,
        "target_rollout_apply_lt_2_full_steps": roll / full < 2.0,
        "target_observe_le_25pct": obs_amort / full <= 0.25,
    }
    width = max(len(k) for k in out)
    print(f"RSSM cost vs full step ({args.config}, {args.steps} steps, horizon {args.horizon})")
    for k, v in out.items():
        print(f"  {k:<{width}}  {v:.4g}" if isinstance(v, float) else f"  {k:<{width}}  {v}")
    sys.stdout.flush()
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
