"""A meta-trained per-weight nowcaster (after WNN, ICML 2023, and NiNo, ICLR 2025), small.

One small network, shared by every weight, maps a weight's recent history of changes (and a few
features of its tensor) to its change over the next ``Y`` steps. It is trained OFFLINE on the
recorded baseline trajectories of the OTHER seeds (:mod:`predictive_training.records.trajectory`;
leave-one-seed-out: :func:`train_leave_one_out` refuses a record of the held-out seed, and
:meth:`NowcasterPredictor.load` refuses a model whose training data included the run's seed), then
applied online in the held-out seed's run, behind the :class:`~.protocol.Predictor` protocol.

Inputs of one weight at a window boundary (stride ``s`` = ``hybrid.nowcaster.stride`` real steps
per window, the last ``K`` = ``history`` windows):

- ``K`` rates, oldest first: the weight's change over each window divided by the window's summed
  learning rates (a change per unit learning rate, as the other predictors use), each divided by
  ``sigma``, the root mean square of the rates of the weight's TENSOR over the same ``K`` windows
  (so one network serves tensors of any scale); clipped to ``+-clip``;
- ``is_matrix`` (a tensor of two or more dimensions), ``log2(Y / s)`` (the horizon in windows),
  the step fraction of the boundary, and ``log(sigma)``.

Output ``z``: the weight's mean rate over the next ``Y`` steps divided by ``sigma``; the predicted
change is ``z x sigma x (sum of the coming learning rates)``. The network is a linear map plus a
two-layer MLP whose last layer starts at zero (so training starts from the best linear rule: an
average of recent rates, i.e. the EMA/repeat predictors in disguise, and learns what it can
beyond that), trained with Adam on the Huber loss of ``z`` (targets clipped to ``+-clip``).

Training data: every window boundary after warmup with ``K`` windows of history and ``Y / s``
windows ahead, for every horizon ``Y`` the study uses (each a multiple of ``s``), every sampled
weight, of every other seed; minibatches are drawn at random (seeded by the held-out seed).

Online (:class:`NowcasterPredictor`): the run's own real steps are summed into windows of ``s``
observed steps (Predict phases are not observed: a window spans only real steps); persistent
state ``(K + 1) x N`` numbers (``K`` windows of rates and the open window).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
import dataclasses
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import nowcaster_horizons
from ..io import write_json
from ..records.trajectory import TRAJECTORY, Trajectory, read_trajectory
from .. import registry
from .base import BasePredictor, PredictorContext
from .protocol import Observation, PredictedPhase, rollout_lrs

log = logging.getLogger(__name__)

__all__ = ["NowcasterConfig", "NowcasterNet", "NowcasterPredictor", "train_leave_one_out", "save_nowcaster",
           "train_for_seed", "N_TENSOR_FEATURES"]

N_TENSOR_FEATURES = 4  # is_matrix, log2(windows ahead), step fraction, log sigma
_CHUNK = 1 << 16  # weights per forward pass of the network in a rollout


@dataclass
class NowcasterConfig:
    """Settings of the nowcaster (``hybrid.nowcaster`` in the study config)."""

    stride: int = 5          # real steps per window of the history and of the record
    history: int = 4         # K windows of history
    hidden: int = 32         # MLP width
    train_steps: int = 2000  # Adam steps of the offline training
    batch_size: int = 4096   # examples per step
    lr: float = 1e-3         # Adam learning rate
    clip: float = 10.0       # |normalised input| and |target| clipped here
    seed: int = 0            # the held-out seed (initialisation and minibatches)

    def __post_init__(self):
        for name in ("stride", "history", "hidden", "train_steps", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"hybrid.nowcaster.{name} must be a positive integer, got {v!r}")
        for name in ("lr", "clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"hybrid.nowcaster.{name} must be > 0, got {getattr(self, name)!r}")

    @classmethod
    def from_study(cls, hcfg: Mapping, seed: int) -> "NowcasterConfig":
        """From ``hybrid.nowcaster`` (the record's ``sample_per_tensor`` is not the model's)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in hcfg["nowcaster"].items() if k in known}, seed=int(seed))


class NowcasterNet(nn.Module):
    """``z = linear(x) + mlp(x)``; the MLP's last layer starts at zero."""

    def __init__(self, n_in: int, hidden: int):
        super().__init__()
        self.lin = nn.Linear(n_in, 1)
        self.mlp = nn.Sequential(nn.Linear(n_in, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU(),
                                 nn.Linear(hidden, 1))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.lin(x) + self.mlp(x)).squeeze(-1)

    def flops_per_weight(self) -> int:
        """Multiply-adds x 2 of one forward pass for one weight."""
        return 2 * sum(m.in_features * m.out_features for m in self.modules() if isinstance(m, nn.Linear))


def _features(rates: torch.Tensor, sigma: torch.Tensor, is_matrix: torch.Tensor, windows_ahead: torch.Tensor,
              step_frac: torch.Tensor, clip: float) -> torch.Tensor:
    """``[B, K + 4]`` inputs from ``rates [B, K]`` (raw, oldest first) and per-example ``sigma``,
    ``is_matrix``, ``windows_ahead`` and ``step_frac`` (``[B]`` each)."""
    safe = torch.where(sigma > 0, sigma, torch.ones_like(sigma))
    x = (rates / safe[:, None]).clamp(-clip, clip)
    extra = torch.stack([is_matrix.float(), torch.log2(windows_ahead.float()), step_frac.float(),
                         torch.log(safe).clamp(-30.0, 30.0)], dim=1)
    return torch.cat([x, extra], dim=1)


# ----------------------------------------------------------------------------------------------
# offline training, leave one seed out
# ----------------------------------------------------------------------------------------------


class _Examples:
    """The examples of one trajectory record, drawn at random (see the module docstring)."""

    def __init__(self, rec: Trajectory, cfg: NowcasterConfig, windows_ahead: Sequence[int]):
        K = cfg.history
        lr = rec.lr_sum.double()
        ok = lr > 0
        self.rates = torch.where(ok[:, None], rec.deltas.double() / torch.where(ok, lr, 1.0)[:, None], 0.0).float()
        W, S = self.rates.shape
        n_t = len(rec.names)
        t = rec.tensor.long()
        cnt = torch.bincount(t, minlength=n_t).double()
        sq = torch.zeros(W, n_t, dtype=torch.float64).index_add_(1, t, self.rates.double() ** 2)
        csq = torch.cat([torch.zeros(1, n_t, dtype=torch.float64), sq.cumsum(0)])
        j = torch.arange(W)
        lo = (j - K + 1).clamp(min=0)
        self.sigma = torch.sqrt((csq[j + 1] - csq[lo]) / (K * cnt.clamp(min=1))[None, :]).float()  # [W, n_t]
        self.dcum = torch.cat([torch.zeros(1, S), rec.deltas.cumsum(0)])  # [W + 1, S]
        self.lcum = torch.cat([torch.zeros(1, dtype=torch.float64), lr.cumsum(0)])
        self.t = t
        self.is_matrix = torch.tensor([len(rec.shapes[n]) >= 2 for n in rec.names])[t]
        self.step_frac = rec.end_step.double() / rec.steps
        pairs = [(int(jj), int(h)) for h in windows_ahead for jj in range(K - 1, W - h)
                 if int(rec.end_step[jj]) >= rec.warmup_steps and ok[jj - K + 1: jj + 1].all()
                 and float(self.lcum[jj + 1 + h] - self.lcum[jj + 1]) > 0]
        self.pairs = torch.tensor(pairs, dtype=torch.int64).reshape(-1, 2)
        self.S, self.K, self.clip = S, K, cfg.clip

    def __len__(self) -> int:
        return int(self.pairs.shape[0]) * self.S

    def draw(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x [n, K + 4], z [n], rates_norm [n, K])`` for ``n`` random (boundary, horizon, weight)."""
        p = self.pairs[torch.randint(0, self.pairs.shape[0], (n,), generator=g)]
        i = torch.randint(0, self.S, (n,), generator=g)
        return self.take(p[:, 0], p[:, 1], i)

    def take(self, j: torch.Tensor, h: torch.Tensor, i: torch.Tensor):
        K = self.K
        hist = torch.stack([self.rates[j - K + 1 + k, i] for k in range(K)], dim=1)
        sig = self.sigma[j, self.t[i]]
        x = _features(hist, sig, self.is_matrix[i], h, self.step_frac[j], self.clip)
        target = (self.dcum[j + 1 + h, i] - self.dcum[j + 1, i]).double() / (self.lcum[j + 1 + h] - self.lcum[j + 1])
        safe = torch.where(sig > 0, sig, torch.ones_like(sig)).double()
        z = (target / safe).clamp(-self.clip, self.clip).float()
        return x, z, x[:, :K]


def train_leave_one_out(records: Sequence[Trajectory], held_out_seed: int, horizons: Sequence[int],
                        cfg: NowcasterConfig) -> dict:
    """Train the nowcaster for ``held_out_seed`` on ``records`` (the baseline trajectories of the
    other seeds). Raises ValueError if a record belongs to the held-out seed (the nowcaster is
    never trained on the seed it is applied to), if there are none, or if they disagree with each
    other or with ``cfg`` (stride, parameters). Returns what :func:`save_nowcaster` writes: the
    network, its config, ``held_out_seed``, ``trained_on_seeds``, the horizons, the parameter
    names and shapes, and ``info`` (examples, losses, training seconds)."""
    t_start = time.perf_counter()
    recs = list(records)
    if not recs:
        raise ValueError(f"the nowcaster for seed {held_out_seed} needs the trajectory of at least one other seed")
    seeds = [r.seed for r in recs]
    if int(held_out_seed) in seeds:
        bad = [r.path for r in recs if r.seed == int(held_out_seed)]
        raise ValueError(f"leave-one-seed-out: the nowcaster for seed {held_out_seed} must not train on its own "
                         f"seed's trajectory ({bad})")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"two trajectory records of the same seed: {sorted(seeds)}")
    names, shapes = recs[0].names, recs[0].shapes
    for r in recs:
        if r.names != names or r.shapes != shapes:
            raise ValueError(f"{r.path}: a trajectory of a model with other parameters than {recs[0].path}")
        if r.stride != cfg.stride:
            raise ValueError(f"{r.path}: recorded at stride {r.stride}, hybrid.nowcaster.stride is {cfg.stride}")
    bad = [y for y in horizons if int(y) % cfg.stride]
    if bad or not horizons:
        raise ValueError(f"hybrid.nowcaster.stride={cfg.stride} must divide every horizon it predicts, not {bad}")
    windows_ahead = sorted({int(y) // cfg.stride for y in horizons})
    sets = [_Examples(r, cfg, windows_ahead) for r in recs]
    empty = [r.path for r, e in zip(recs, sets) if e.pairs.shape[0] == 0]
    if empty:
        raise ValueError(f"no training example in {empty}: the run is shorter than warmup + "
                         f"{cfg.history} + {max(windows_ahead)} windows of {cfg.stride} steps")
    n_in = cfg.history + N_TENSOR_FEATURES
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = NowcasterNet(n_in, cfg.hidden)
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 17)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    per = max(1, cfg.batch_size // len(sets))
    curve = []
    every = max(1, cfg.train_steps // 10)
    for step in range(cfg.train_steps):
        xs, zs = zip(*[(x, z) for x, z, _ in (s.draw(per, g) for s in sets)])
        x, z = torch.cat(xs), torch.cat(zs)
        loss = nn.functional.smooth_l1_loss(net(x), z)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % every == 0 or step == 0:
            curve.append({"step": step + 1, "huber": float(loss.detach())})
            log.info("nowcaster for seed %d: step %d/%d, Huber loss %.4f", held_out_seed, step + 1,
                     cfg.train_steps, float(loss.detach()))
    net.eval()
    # in-sample check against the rules it starts from (a fixed draw from the training records)
    ge = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 29)
    with torch.no_grad():
        ev = [s.draw(max(1, 65536 // len(sets)), ge) for s in sets]
        x, z, r = (torch.cat(a) for a in zip(*ev))
        scores = {name: float(nn.functional.smooth_l1_loss(pred, z)) for name, pred in
                  (("nowcaster", net(x)), ("zero", torch.zeros_like(z)), ("last_rate", r[:, -1]),
                   ("mean_rate", r.mean(1)))}
        ss = float(((z - z.mean()) ** 2).sum())
        r2 = 1.0 - float(((net(x) - z) ** 2).sum()) / ss if ss > 0 else None
    info = {"train_s": time.perf_counter() - t_start, "examples_available": int(sum(len(s) for s in sets)),
            "examples_seen": int(per * len(sets) * cfg.train_steps), "curve": curve,
            "in_sample_huber": scores, "in_sample_r2": r2,
            "n_weights_sampled": int(sets[0].S), "windows_ahead": windows_ahead,
            "flops_per_weight": net.flops_per_weight()}
    return {"net": net.state_dict(), "config": asdict(cfg), "held_out_seed": int(held_out_seed),
            "trained_on_seeds": sorted(int(s) for s in seeds), "horizons": sorted(int(y) for y in horizons),
            "param_names": list(names), "param_shapes": {n: list(s) for n, s in shapes.items()},
            "records": [r.path for r in recs], "info": info}


def save_nowcaster(path: str | os.PathLike, obj: Mapping) -> None:
    """Write a trained nowcaster atomically (torch.save under a temporary name, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp"
    torch.save(dict(obj), tmp)
    os.replace(tmp, path)


def train_for_seed(cfg: Mapping, baseline_dirs: Sequence[str | os.PathLike], held_out_seed: int,
                   out_path: str | os.PathLike) -> dict:
    """The workflow's ``train_nowcaster`` job: read the trajectory records of ``baseline_dirs`` (the
    baselines of the other seeds), train for ``held_out_seed`` at the study's horizons
    (:func:`~predictive_training.config.nowcaster_horizons`), write the model to ``out_path`` and
    its training log (seeds, examples, in-sample losses, ``train_s``: the offline training time,
    reported apart from any run's cost) to ``out_path`` with suffix ``.json``."""
    records = [read_trajectory(Path(d) / TRAJECTORY) for d in baseline_dirs]
    obj = train_leave_one_out(records, held_out_seed, nowcaster_horizons(dict(cfg)),
                              NowcasterConfig.from_study(cfg["hybrid"], held_out_seed))
    save_nowcaster(out_path, obj)
    write_json(Path(out_path).with_suffix(".json"), {k: v for k, v in obj.items() if k != "net"})
    log.info("nowcaster for seed %d trained on seeds %s in %.1f s (in-sample Huber %s)", held_out_seed,
             obj["trained_on_seeds"], obj["info"]["train_s"], obj["info"]["in_sample_huber"])
    return obj


# ----------------------------------------------------------------------------------------------
# online: the Predictor
# ----------------------------------------------------------------------------------------------


class NowcasterPredictor(BasePredictor):
    """The trained nowcaster applied online (see the module docstring). Flat loss at the last
    observed value; uncertainty 0."""

    name = "nowcaster"

    def __init__(self, net: NowcasterNet, cfg: NowcasterConfig, params: Mapping[str, torch.Tensor]):
        self.net, self.cfg = net.eval().requires_grad_(False), cfg
        self.names = list(params)
        self.shapes = {n: p.shape for n, p in params.items()}
        ends = np.cumsum([p.numel() for p in params.values()]).tolist()
        self.slices = {n: slice(e - params[n].numel(), e) for n, e in zip(self.names, ends)}
        self.N = int(ends[-1])
        self.device = next(iter(params.values())).device
        self.net.to(self.device)
        self.is_matrix = torch.cat([torch.full((p.numel(),), p.dim() >= 2, dtype=torch.bool, device=self.device)
                                    for p in params.values()])
        self.ring = torch.zeros(cfg.history, self.N, device=self.device)  # rates of the last K windows
        self.acc = torch.zeros(self.N, device=self.device)  # the open window's summed updates
        self.acc_lr, self.in_window, self.windows = 0.0, 0, 0
        self.step_frac = 0.0
        self.last_loss = float("nan")
        self.n_rollouts = 0

    @classmethod
    def from_context(cls, context: PredictorContext, options: Mapping) -> "NowcasterPredictor":
        """The nowcaster trained for this seed on the other seeds (``context.files["nowcaster"]``, the
        workflow's train_nowcaster rule); its settings are the ones it was trained with."""
        if cls.name not in context.files:
            raise ValueError(f"predictor {cls.name!r} needs its model trained on the other seeds (the workflow's "
                             f"train_{cls.name} rule); none was given for seed {context.seed}")
        return cls.load(context.files[cls.name], context.params, context.seed)

    @classmethod
    def check_options(cls, options: Mapping) -> None:
        return None  # hybrid.nowcaster, checked by the schema

    @classmethod
    def steady_observations(cls, options: Mapping) -> int:
        return int(options["stride"]) * int(options["history"])  # it holds its history windows (ready)

    @classmethod
    def observe_period(cls, options: Mapping) -> int:
        return int(options["stride"])  # it closes a window of stride observed steps on one call in stride

    @classmethod
    def stand_in_files(cls, cfg: Mapping, shapes: Mapping[str, tuple[int, ...]], seed: int, folder) -> dict:
        """An untrained nowcaster network of ``hybrid.nowcaster``'s shape for a model of ``shapes``,
        saved as the one of ``seed`` (trained on no seed): the calibration times it."""
        path = Path(folder) / f"{cls.name}_stand_in_seed{seed}.pt"
        ncfg = NowcasterConfig.from_study(cfg["hybrid"], seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            net = NowcasterNet(ncfg.history + N_TENSOR_FEATURES, ncfg.hidden)
        save_nowcaster(path, {"net": net.state_dict(), "config": dataclasses.asdict(ncfg),
                              "held_out_seed": int(seed), "trained_on_seeds": [], "horizons": [],
                              "param_names": list(shapes), "param_shapes": {n: list(v) for n, v in shapes.items()},
                              "records": [], "info": {"stand_in": registry.BUILTIN[cls.name].stand_in}})
        return {cls.name: str(path)}

    @classmethod
    def load(cls, path: str | os.PathLike, params: Mapping[str, torch.Tensor], seed: int) -> "NowcasterPredictor":
        """The nowcaster trained for ``seed`` (ValueError if the file was trained for another seed, if
        its training data included ``seed``, or if it was trained on a model with other parameters)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the workflow's train_nowcaster rule makes it")
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if int(obj["held_out_seed"]) != int(seed) or int(seed) in [int(s) for s in obj["trained_on_seeds"]]:
            raise ValueError(f"{path}: trained for seed {obj['held_out_seed']} on seeds {obj['trained_on_seeds']}; "
                             f"it cannot be applied to seed {seed} (leave-one-seed-out)")
        shapes = {n: list(p.shape) for n, p in params.items()}
        if obj["param_names"] != list(params) or obj["param_shapes"] != shapes:
            raise ValueError(f"{path}: trained on a model with other parameters than this run's")
        cfg = NowcasterConfig(**obj["config"])
        net = NowcasterNet(cfg.history + N_TENSOR_FEATURES, cfg.hidden)
        net.load_state_dict(obj["net"])
        return cls(net, cfg, params)

    def observe(self, obs: Observation) -> None:
        self.last_loss = float(obs.loss)
        self.acc.add_(torch.cat([obs.update[n].detach().reshape(-1).to(self.acc) for n in self.names]))
        self.acc_lr += float(obs.lr)
        self.in_window += 1
        self.step_frac = (int(obs.step) + 1) / int(obs.total_steps)
        if self.in_window < self.cfg.stride:
            return
        if self.acc_lr > 0 and math.isfinite(self.acc_lr):
            self.ring[self.windows % self.cfg.history].copy_(self.acc / self.acc_lr)
            self.windows += 1
        self.acc.zero_()
        self.acc_lr, self.in_window = 0.0, 0

    def ready(self) -> bool:
        return self.windows >= self.cfg.history

    @torch.no_grad()
    def rollout(self, horizon: int, lrs: Sequence[float], seed: int) -> PredictedPhase:
        lr = rollout_lrs(horizon, lrs)
        if not self.ready():
            raise ValueError(f"the nowcaster needs {self.cfg.history} windows of {self.cfg.stride} observed steps")
        K = self.cfg.history
        hist = self.ring[[(self.windows - K + k) % K for k in range(K)]]  # [K, N] oldest first
        sigma = torch.empty(self.N, device=self.device)
        for n in self.names:
            s = self.slices[n]
            sigma[s] = torch.sqrt((hist[:, s] ** 2).mean())
        z = torch.empty(self.N, device=self.device)
        ahead = torch.full((1,), horizon / self.cfg.stride, device=self.device)
        frac = torch.full((1,), self.step_frac, device=self.device)
        for a in range(0, self.N, _CHUNK):
            b = min(a + _CHUNK, self.N)
            x = _features(hist[:, a:b].T, sigma[a:b], self.is_matrix[a:b], ahead.expand(b - a),
                          frac.expand(b - a), self.cfg.clip)
            z[a:b] = self.net(x)
        flat = z * sigma * float(lr.sum())
        delta = {n: flat[self.slices[n]].view(self.shapes[n]).clone() for n in self.names}
        self.n_rollouts += 1
        return PredictedPhase(delta, np.full(int(horizon), self.last_loss), 0.0,
                              diagnostics={"z_rms": float(torch.sqrt((z ** 2).mean()))})

    def state_numbers(self) -> int:
        """Numbers of persistent state: ``K`` windows of rates and the open window, ``(K + 1) x N``."""
        return self.ring.numel() + self.acc.numel()

    def work(self) -> dict:
        return {"rollouts": self.n_rollouts,
                "rollout_flops": float(self.n_rollouts * self.N * self.net.flops_per_weight())}

    def state_dict(self) -> dict:
        return {"ring": self.ring.clone(), "acc": self.acc.clone(), "acc_lr": self.acc_lr, "in_window": self.in_window,
                "windows": self.windows, "step_frac": self.step_frac, "last_loss": self.last_loss,
                "n_rollouts": self.n_rollouts}

    def load_state_dict(self, state: Mapping) -> None:
        self.ring.copy_(state["ring"])
        self.acc.copy_(state["acc"])
        self.acc_lr, self.in_window = float(state["acc_lr"]), int(state["in_window"])
        self.windows, self.step_frac = int(state["windows"]), float(state["step_frac"])
        self.last_loss, self.n_rollouts = float(state["last_loss"]), int(state["n_rollouts"])
