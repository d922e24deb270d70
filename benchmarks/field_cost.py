"""Cost of the field's predictors against a real full training step of the default model.

Usage: python benchmarks/field_cost.py [--config config/config.yaml] [--steps 200] [--horizon 20]
                                       [--rollouts 7] [--threads 1] [--json OUT]

Everything is measured in this one process, interleaved, so the ratios are robust to the load of a
shared machine (absolute times are not); run it on a quiet machine all the same. For each of
``verified``, ``dmd`` and ``nowcaster`` (configured by the config's ``hybrid.*``; the nowcaster with
an untrained network of its configured size: its cost does not depend on its weights):

1. ``full step``: one real optimisation step of the config's GPT on random tokens (forward,
   backward, clipping, AdamW, the update difference the trainer computes), median over ``--steps``.
2. ``observe``: the predictor's ``observe`` of every full step, amortised.
3. ``rollout+apply``: one ``--horizon``-step prediction plus adding it to the weights, median over
   ``--rollouts``; for ``verified`` the whole verified rollout, its held-aside checks included (one
   forward pass on one batch of the config's shape per check, as ``hybrid.verified.batches = 1``;
   how many checks a phase makes depends on where the loss stops falling: at most ``1 + Y / k``).
4. ``check``: one held-aside check (a forward pass in eval mode), median.

Also each predictor's persistent state in numbers over ``N`` (the state bound: 8).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from predictive_training import config as config_mod
from predictive_training.dynamics.dmd import DMDPredictor
from predictive_training.dynamics.nowcaster import N_TENSOR_FEATURES, NowcasterConfig, NowcasterNet, NowcasterPredictor
from predictive_training.dynamics.protocol import Observation
from predictive_training.dynamics.verified import VerifiedExtrapolation
from predictive_training.model import GPT, GPTConfig


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--horizon", type=int, default=20)
    ap.add_argument("--rollouts", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    cfg = config_mod.load(args.config)
    m, tr, h = cfg["model"], cfg["train"], cfg["hybrid"]
    vocab = cfg["data"]["vocab_size"]
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=vocab, **m))
    params = dict(model.named_parameters())
    n_params = sum(p.numel() for p in params.values())
    opt = torch.optim.AdamW(model.parameters(), lr=tr["lr"], weight_decay=tr["weight_decay"])
    bs, ctx, lr = tr["batch_size"], m["context"], float(tr["lr"])
    g = torch.Generator().manual_seed(0)
    v = h["verified"]
    d = h["dmd"]
    nc = NowcasterConfig.from_study(h, 0)
    preds = {
        "verified": VerifiedExtrapolation(v["direction"], v["ema_beta"], v["check_every"]),
        "dmd": DMDPredictor(d["window"], d["rank"], d["per_lr"], d["rcond"]),
        "nowcaster": NowcasterPredictor(NowcasterNet(nc.history + N_TENSOR_FEATURES, nc.hidden), nc, params),
    }
    step_s, obs_s = [], {k: 0.0 for k in preds}
    for t in range(args.steps):
        x = torch.randint(0, vocab, (bs, ctx), generator=g)
        y = torch.randint(0, vocab, (bs, ctx), generator=g)
        t0 = time.perf_counter()
        model.train()
        loss = model.loss(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), tr["grad_clip"])
        before = {n: p.detach().clone() for n, p in params.items()}
        opt.step()
        update = {n: p.detach() - before[n] for n, p in params.items()}
        step_s.append(time.perf_counter() - t0)
        obs = Observation.of_step(t, args.steps, float(loss.detach()), float(gn), lr,
                                  {n: p.grad for n, p in params.items()}, tr["grad_clip"], update)
        for k, p in preds.items():
            t0 = time.perf_counter()
            p.observe(obs)
            obs_s[k] += time.perf_counter() - t0

    xv = torch.randint(0, vocab, (bs, ctx), generator=g)
    yv = torch.randint(0, vocab, (bs, ctx), generator=g)
    origin = {n: p.detach().clone() for n, p in params.items()}
    checks: list[float] = []
    n_checks: list[int] = []

    @torch.no_grad()
    def loss_at(delta) -> float:
        t0 = time.perf_counter()
        for n, p in params.items():
            p.copy_(origin[n])
            if n in delta:
                p.add_(delta[n])
        model.eval()
        out = float(model.loss(xv, yv))
        checks.append(time.perf_counter() - t0)
        return out

    Y = args.horizon
    lrs = [lr] * Y
    roll_s = {k: [] for k in preds}
    with torch.no_grad():
        for r in range(args.rollouts):
            for k, p in preds.items():
                t0 = time.perf_counter()
                if k == "verified":
                    before_n = len(checks)
                    out = p.verified_rollout(Y, lrs, r, loss_at)
                    n_checks.append(len(checks) - before_n)
                else:
                    out = p.rollout(Y, lrs, r)
                for n, q in params.items():
                    q.copy_(origin[n]).add_(out.delta[n])
                roll_s[k].append(time.perf_counter() - t0)
                for n, q in params.items():
                    q.copy_(origin[n])

    full = statistics.median(step_s)
    res = {"config": args.config, "n_params": n_params, "threads": torch.get_num_threads(), "horizon": Y,
           "full_step_ms_median": 1e3 * full, "check_ms_median": 1e3 * statistics.median(checks),
           "ratio_check_over_full_step": statistics.median(checks) / full,
           "verified_checks_per_rollout": n_checks}
    for k, p in preds.items():
        roll = statistics.median(roll_s[k])
        res[k] = {"observe_ms_amortised": 1e3 * obs_s[k] / args.steps,
                  "ratio_observe_over_full_step": obs_s[k] / args.steps / full,
                  "rollout_apply_ms_median": 1e3 * roll, "ratio_rollout_apply_over_full_step": roll / full,
                  "state_numbers_over_N": p.state_numbers() / n_params}
    print(json.dumps(res, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return res


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
