"""Unit costs of training work, measured serially on the study's own config, model and device.

The ``calibrate`` rule (``results/<study>/calibration.json``) holds every core of the machine, so
nothing runs beside it, and times each unit of work (``training/work.py``) with the trainer's own
code, ``config.threads`` torch threads as training uses:

- ``full_step``: ``Trainer.full_step`` of the baseline (no recorders), median of ``calls``;
- ``forward_batch``: one forward-only training batch as the held-aside losses run it, median;
- per predicted arm kind among the study's arms (any predictor of the registry,
  :mod:`predictive_training.registry`, with an optional ``horizon``; the ``<p>`` of its units is
  the registry's ``unit`` name, :func:`unit_of_kind`): ``observe/<p>`` (the trainer's
  observation of a real step, the guard's check and ``Predictor.observe``; for a learning
  predictor the MEAN over the calls that run no optimisation, because its periodic work lands on
  some calls only; for the nowcaster the mean over whole windows of ``stride`` calls, because it
  closes a window on one call in ``stride``; else the median), ``predictor_train/<p>`` (a learning
  predictor: the extra seconds of the calls that optimise, per optimisation step: total over those
  calls minus their observe share, divided by their optimisation steps), ``rollout/<p>/<L>``
  (median) at every length the kind's arms use (:func:`rollout_lengths`: each arm's own horizon,
  and the Full gaps of skill-gated arms), timed once the predictor has observed enough real steps
  to be in its steady state (its class's ``steady_observations``: a full DMD window, the
  nowcaster's ``history`` windows); a kind the calibration cannot cost is an error, never skipped;
- for a verifying predictor (``verified``) the rollout is the trainer's verified rollout with its
  held-aside loss replaced by a stand-in that costs nothing (the checks' forward batches are
  ``forward_batch``): ``verify_check/<p>`` (one check's own work: the difference between a
  rollout whose checks all pass and one that stops at its first check, per check, at a length of
  at least 5 checks) and ``rollout/<p>/<L>`` (a rollout that stops at its first check, less its
  two checks);
- for skill-gated hybrid arms: the reference's ``observe/reference_<r>`` and
  ``rollout/reference_<r>/<L>``, and ``skill_check`` (the gate's bookkeeping of one gap), medians;
- ``pre_predict_snapshot``, ``apply_delta``, ``guard_restore`` (medians), ``search_trial`` (the
  line search's seconds per candidate, its loss replaced by a constant: the forward batches are
  ``forward_batch``).

:func:`calibrate` makes this whole measurement ``repeats`` times (5 by default, a few seconds each
at the default scale) and keeps, per unit, the median over the repeats of its ratio to the same
repeat's ``full_step`` (:func:`combine_repeats`). One measurement is not enough on a shared
virtual machine: single calibrations of the same counted work drift apart by more than the cost
ratios the study compares (the README's Benchmarks section has the measured spread).

Observations are made from one real step's gradients and a few update directions, reused: a
unit's cost depends on shapes, not on values. For the same reason the leave-one-seed-out kinds
(``nowcaster``, ``rssm_pretrained``), whose runs load a model trained on the other seeds by the
workflow's training jobs, are calibrated with a stand-in of the same architecture and size (an
untrained network of the configured shape, :func:`stand_in_models`; ``calibration.json`` says so
under ``predictors``): the calibration runs before those jobs and does not depend on them.

FLOPs per unit are counted with ``torch.utils.flop_counter.FlopCounterMode`` (matrix products
only; the attention products that the CPU kernel hides from the counter are added as ``4 n_layer
context d_model`` per token and pass, backward = 2 x forward): an estimate, labelled so.

:func:`measure_units` is shared with ``plan`` (``training/plan.py``), which runs it at paper
scale with fewer calls.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import logging
import math
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from .. import registry
from ..config import arm_horizon, arm_plan, predictor_options, skill_gated
from ..dynamics.protocol import verifies
from ..io import write_json
from ..records.costs import FORMAT
from .hybrid import HybridTrainer
from .loop import Phase, StepInfo, Trainer, lr_at, pick_device
from .work import (APPLY_DELTA, FORWARD_BATCH, FULL_STEP, GUARD_RESTORE, PRE_PREDICT_SNAPSHOT, SEARCH_TRIAL,
                   SKILL_CHECK, predictor_train_steps)

log = logging.getLogger(__name__)

__all__ = ["RandomTokens", "measure_units", "combine_repeats", "calibrate", "rollout_lengths", "stand_in_models",
           "measured_kinds", "unit_of_kind", "STAND_INS", "FLOPS_NOTE"]

#: What the calibration runs in place of a model that the workflow trains on the other seeds (the
#: registry's ``stand_in`` of its leave-one-seed-out predictors).
STAND_INS = {name: spec.stand_in for name, spec in registry.BUILTIN.items() if spec.loso}


def unit_of_kind(kind: str) -> str:
    """The ``<p>`` of a predicted arm kind's work units: its predictor's registry ``unit`` name."""
    return registry.lookup(kind).unit
_NEVER = 10**9  # a step count no calibration reaches: no periodic evaluation, no budget end

FLOPS_NOTE = ("FLOPs per unit: matrix products counted by torch.utils.flop_counter.FlopCounterMode, plus the "
              "attention score and value products (4 x n_layer x context x d_model per token and forward pass, "
              "x3 with the backward pass) where the counter does not see them; elementwise work is not counted. "
              "An estimate.")


class RandomTokens:
    """Stand-in for a prepared data folder: random token ids (unit costs do not depend on the text)."""

    def __init__(self, vocab_size: int, n_tokens: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        dtype = np.uint16 if vocab_size < 2**16 else np.uint32
        self.train = rng.integers(0, vocab_size, n_tokens).astype(dtype)
        self.val = rng.integers(0, vocab_size, n_tokens).astype(dtype)
        self.vocab_size = int(vocab_size)
        self.cloze: list = []
        self.meta = {"source": "random tokens (costs only)"}


def _calibration_config(cfg: dict) -> dict:
    """The study config with a budget no calibration reaches (no evaluation, no end of budget)."""
    c = copy.deepcopy(cfg)
    c["train"]["steps"] = _NEVER
    c["train"]["eval_every"] = _NEVER
    c["train"]["checkpoint_every"] = 0
    return c


def _summary(times: list[float], statistic: str = "median") -> dict:
    q = np.quantile(times, [0.25, 0.5, 0.75]) if times else [math.nan] * 3
    mean = float(np.mean(times)) if times else math.nan
    return {"s": float(q[1]) if statistic == "median" else mean, "statistic": statistic,
            "median_s": float(q[1]), "mean_s": mean, "q25_s": float(q[0]), "q75_s": float(q[2]), "n": len(times)}


class _Clock:
    def __init__(self, device: torch.device):
        self.sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def time(self, fn: Callable[[], object]) -> float:
        self.sync()
        t0 = time.perf_counter()
        fn()
        self.sync()
        return time.perf_counter() - t0

    def times(self, fn: Callable[[], object], calls: int, warmup: int) -> list[float]:
        for _ in range(warmup):
            fn()
        return [self.time(fn) for _ in range(calls)]


def _flops(fn: Callable[[], object]) -> tuple[float, bool]:
    """FLOPs that FlopCounterMode counts in one call, and whether it saw an attention kernel."""
    with FlopCounterMode(display=False) as fc:
        fn()
    ops = {str(k) for k in fc.get_flop_counts().get("Global", {})}
    return float(fc.get_total_flops()), any("attention" in o for o in ops)


def _attention_flops(cfg: dict, batch: int) -> float:
    """Attention score and value products of one forward pass (not seen by the counter on CPU)."""
    m = cfg["model"]
    return 4.0 * m["n_layer"] * m["context"] * m["d_model"] * batch * m["context"]


def _heldout_forward(tr: Trainer, step: int) -> float:
    """One forward-only training batch, as the hybrid trainer's held-aside loss runs it."""
    with torch.no_grad():
        tr.model.eval()
        x, y = tr.batches.get(step)
        val = float(tr.forward_loss(x, y))
        tr.model.train()
    return val


def _arm_of_kind(cfg: dict, kind: str) -> str | None:
    """The arm whose trainer measures ``kind``'s units: a skill-gated arm of the kind if there is one
    (its trainer has the gate's reference, whose units are measured too), else the first."""
    arms = [a for a, v in cfg["arms"].items() if v.get("kind") == kind]
    return next((a for a in arms if skill_gated(cfg, a)), arms[0] if arms else None)


def measure_units(cfg: dict, data, *, calls: int = 30, warmup: int = 3, train_calls: int = 8, seed: int = 0,
                  kinds: tuple[str, ...] | None = None, gpt: bool = True, count_flops: bool = True,
                  say: Callable[[str], None] = log.info,
                  inspect: Callable[[str, Trainer], None] | None = None) -> dict[str, dict]:
    """Seconds (and FLOPs) per unit of work for ``cfg``'s model on ``cfg``'s device.

    ``kinds``: predicted arm kinds to measure (default: those among ``cfg['arms']``); ``gpt``:
    measure ``full_step`` and ``forward_batch`` (plan measures them separately at reduced batches);
    ``inspect(what, trainer)``: called with ``("gpt", the conventional trainer)`` and ``(kind, the
    hybrid trainer)`` after their units are measured (plan reads memory and state there).
    Returns ``{unit: {"s", "statistic", "median_s", "mean_s", "q25_s", "q75_s", "n", "flops"}}``.
    """
    c = _calibration_config(cfg)
    device = pick_device(c["device"])
    clock = _Clock(device)
    units: dict[str, dict] = {}
    batch = c["train"]["batch_size"]
    if gpt:
        conv = Trainer(c, data, "baseline", seed)
        t = clock.times(lambda: conv.full_step(Phase.FULL), calls, warmup)
        units[FULL_STEP] = _summary(t)
        s = [conv.step]
        t = clock.times(lambda: _heldout_forward(conv, s.__setitem__(0, s[0] + 1) or s[0]), calls, warmup)
        units[FORWARD_BATCH] = _summary(t)
        if count_flops:
            f, seen = _flops(lambda: conv.full_step(Phase.FULL))
            units[FULL_STEP]["flops"] = f + (0.0 if seen else 3 * _attention_flops(c, batch))
            f, seen = _flops(lambda: _heldout_forward(conv, 0))
            units[FORWARD_BATCH]["flops"] = f + (0.0 if seen else _attention_flops(c, batch))
        say(f"full step {1e3 * units[FULL_STEP]['s']:.2f} ms, forward batch {1e3 * units[FORWARD_BATCH]['s']:.2f} ms")
        if inspect is not None:
            inspect("gpt", conv)
        del conv
    wanted = kinds if kinds is not None else measured_kinds(c)
    searched = False
    for kind in wanted:
        arm = _arm_of_kind(c, kind)
        if arm is None:
            raise ValueError(f"no arm of kind {kind!r} in config key 'arms'")
        with tempfile.TemporaryDirectory(prefix="calibrate_") as tmp:  # stand-ins of trained models
            files = stand_in_models(c, kind, data.vocab_size, seed, tmp) if registry.lookup(kind).loso else None
            tr = HybridTrainer(c, data, arm, seed, files=files)
        kind_units, delta = _predictor_units(tr, c, arm, clock, calls=calls, warmup=warmup, train_calls=train_calls,
                                             count_flops=count_flops, say=say, lengths=rollout_lengths(cfg, kind),
                                             horizon=arm_horizon(c, arm))
        units.update(kind_units)
        if not searched:
            units.update(_trainer_units(tr, delta, clock, calls=calls, warmup=warmup, count_flops=count_flops))
            searched = True
        if inspect is not None:
            inspect(kind, tr)
        del tr
    return units


def measured_kinds(cfg: dict) -> tuple[str, ...]:
    """The predicted arm kinds among ``cfg['arms']`` (any arm dict whose ``kind`` is not conventional
    or matched): the kinds a calibration of ``cfg`` measures, built-ins in the registry's order, then
    outside predictors in the order of the arms."""
    present = list(dict.fromkeys(a.get("kind") for a in cfg["arms"].values()))
    present = [k for k in present if k not in ("conventional", "matched")]
    order = registry.arm_kinds()
    return tuple([k for k in order if k in present] + [k for k in present if k not in order])


def stand_in_models(cfg: dict, kind: str, vocab_size: int, seed: int, folder: str | Path) -> dict[str, str]:
    """Files in ``folder`` that stand in for the model a leave-one-seed-out predictor's run of ``seed``
    loads (``HybridTrainer(files=...)``): the same architecture and size, untrained, in the format and
    with the checks of the trained ones (made for ``seed``, trained on no seed; the class's
    ``stand_in_files``). Unit costs depend on shapes, not on values (:data:`STAND_INS`); nothing here is
    a trained model."""
    from ..model import GPT, GPTConfig

    spec = registry.lookup(kind)
    if not spec.loso:
        raise ValueError(f"arm kind {kind!r} loads no trained model (stand-ins: {sorted(STAND_INS)})")
    with torch.device("meta"):  # the parameters' names and shapes, no memory
        model = GPT(GPTConfig(vocab_size=vocab_size, **cfg["model"]))
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters() if p.requires_grad}
    return registry.resolve(spec).stand_in_files(cfg, shapes, int(seed), Path(folder))


def _updates(tr: HybridTrainer, k: int = 2) -> tuple[StepInfo, list[dict[str, torch.Tensor]]]:
    """One real step (its gradients stay in ``p.grad``) and ``k`` update dicts: its update and
    ``k - 1`` random ones of the same norm per tensor (distinct directions for the predictor)."""
    before = {n: p.detach().clone() for n, p in tr.params.items()}
    info = tr.full_step(Phase.FULL)
    real = {n: p.detach() - before[n] for n, p in tr.params.items()}
    del before
    g = torch.Generator(device="cpu").manual_seed(0)
    out = [real]
    for _ in range(k - 1):
        rnd = {}
        for n, u in real.items():
            r = torch.randn(u.shape, generator=g).to(u.device, u.dtype)
            rnd[n] = r * (u.norm() / r.norm().clamp(min=1e-12))
        out.append(rnd)
    return info, out


def _hook(inner, hook: str, options: dict, default: int = 1) -> int:
    """A class-level hook of the predictor's class (``steady_observations``, ``observe_period``;
    ``dynamics/base.py``), or ``default`` for a class without it."""
    f = getattr(type(inner), hook, None)
    return int(f(options)) if callable(f) else default


def _predictor_units(tr: HybridTrainer, c: dict, arm: str, clock: _Clock, *, calls: int, warmup: int,
                     train_calls: int, count_flops: bool, say: Callable[[str], None], lengths: list[int],
                     horizon: int) -> tuple[dict[str, dict], dict[str, torch.Tensor]]:
    """The units of the predictor of ``tr`` (and of its skill gate), and one of its ``horizon``-step
    rollouts' deltas (what the trainer units apply)."""
    inner = tr.predictor.inner
    name = tr.predictor.name
    if name != unit_of_kind(tr.kind):
        raise RuntimeError(f"arm kind {tr.kind!r} runs predictor {name!r}, not {unit_of_kind(tr.kind)!r}: "
                           "the registry is out of date")
    options = predictor_options(c, tr.spec.name, arm)
    info0, updates = _updates(tr)
    learns = getattr(getattr(inner, "model", None), "n_train_steps", getattr(inner, "train_steps", None)) is not None
    period = 1 if learns else _hook(inner, "observe_period", options)
    calls_timed = -(-calls // period) * period  # whole periods, so that the mean holds each call's share

    def observe(i: int) -> None:
        info = StepInfo(step=tr.step + i, phase="full", loss=info0.loss, lr=info0.lr, grad_norm=info0.grad_norm,
                        backward=True, wall_s=0.0, tokens=0, delta_norm=0.0)
        reason = tr.guard.check_loss(info.loss) or tr.guard.check_grad(info.grad_norm)
        if reason is None:
            tr.guard.record(info.loss, info.grad_norm)
        inner.observe(tr.observation(info, updates[i % len(updates)]))

    plain, training, trained = [], [], []
    i = 0
    cap = warmup + calls + (train_calls + 4) * 200 if learns else warmup + calls_timed
    while i < cap:
        before = predictor_train_steps(inner)
        dt = clock.time(lambda: observe(i))
        k = predictor_train_steps(inner) - before
        i += 1
        if i <= warmup:
            continue
        if k:
            training.append(dt)
            trained.append(k)
        else:
            plain.append(dt)
        if len(plain) >= calls_timed and (not learns or len(training) >= train_calls):
            break
    if learns and len(training) < train_calls:
        raise RuntimeError(f"predictor {name!r} ran {len(training)} optimisation calls in {i} observed steps; "
                           f"calibration needs {train_calls}")
    # periodic work that lands on some calls only (a learning predictor's, the nowcaster's window): the
    # mean; else the median
    units = {f"observe/{name}": _summary(plain, "mean" if learns or period > 1 else "median")}
    obs_s = units[f"observe/{name}"]["s"]
    if learns:
        per = [(dt - obs_s) / k for dt, k in zip(training, trained)]
        units[f"predictor_train/{name}"] = _summary(per, "mean")
        units[f"predictor_train/{name}"]["s"] = max(0.0, (sum(training) - obs_s * len(training)) / sum(trained))
    if count_flops:  # plain calls, and for a learning predictor calls up to and including one that trains
        fl, fk = [], []
        for j in range(cap):
            before = predictor_train_steps(inner)
            f, _ = _flops(lambda: observe(i + j))
            fl.append(f)
            fk.append(predictor_train_steps(inner) - before)
            if (not learns and j + 1 >= 3) or (learns and fk[-1] and j + 1 >= 3):
                break
        f_plain = [f for f, k in zip(fl, fk) if not k]
        units[f"observe/{name}"]["flops"] = float(np.mean(f_plain)) if f_plain else 0.0
        if learns:
            extra = [(f - units[f"observe/{name}"]["flops"], k) for f, k in zip(fl, fk) if k]
            units[f"predictor_train/{name}"]["flops"] = (sum(e for e, _ in extra) / sum(k for _, k in extra)
                                                         if extra else 0.0)
    while i < _hook(inner, "steady_observations", options):  # the rollouts are timed in the steady state
        observe(i)
        i += 1
    if not learns and not inner.ready():
        raise RuntimeError(f"predictor {name!r} is not ready after {i} observed steps: its rollouts cannot be timed")
    Y = int(horizon)
    if verifies(inner):
        units.update(_verified_units(tr, name, lengths, clock, calls=calls, warmup=warmup, count_flops=count_flops))
    else:
        units.update(_rollout_units(inner, name, lengths, tr, clock, calls=calls, warmup=warmup,
                                    count_flops=count_flops))
    say(f"{name}: observe {1e3 * obs_s:.2f} ms"
        + (f", train step {1e3 * units[f'predictor_train/{name}']['s']:.1f} ms" if learns else "")
        + f", rollout {1e3 * units[f'rollout/{name}/{Y}']['s']:.2f} ms")
    lrs = [lr_at(tr.step + j, tr.train_cfg) for j in range(Y)]
    delta = inner.rollout(Y, lrs, 1).delta  # for the trainer units
    if tr.reference is not None:  # the skill gate: its reference and its bookkeeping per Full gap
        units.update(_skill_units(tr, info0, updates, delta, lengths, clock, calls=calls, warmup=warmup,
                                  count_flops=count_flops))
    return units, delta


def rollout_lengths(cfg: dict, kind: str) -> list[int]:
    """The rollout lengths the arms of ``kind`` use: each arm's horizon (``arms.<name>.horizon``,
    else ``hybrid.horizon``: its Predict phases) and, for skill-gated ``hybrid`` arms, the shortest
    and longest Full gap of their plans (the gate's forecasts). Other lengths are interpolated from
    these (``records/costs.py``). ``hybrid.horizon`` alone when no arm is of ``kind``."""
    out = set()
    for arm, a in cfg["arms"].items():
        if a.get("kind") != kind:
            continue
        out.add(arm_horizon(cfg, arm))
        if skill_gated(cfg, arm):
            plan = arm_plan(cfg, arm)
            gaps = [plan.full_len(k) for k in range(plan.cycles + 1)]
            out.update(g for g in (min(gaps), max(gaps)) if g >= 1)
    return sorted(out) or [int(cfg["hybrid"]["horizon"])]


def _rollout_units(pred, name: str, lengths: list[int], tr: HybridTrainer, clock: _Clock, *, calls: int,
                   warmup: int, count_flops: bool) -> dict[str, dict]:
    units = {}
    for L in lengths:
        lrs = [lr_at(tr.step + j, tr.train_cfg) for j in range(L)]
        units[f"rollout/{name}/{L}"] = _summary(clock.times(lambda: pred.rollout(L, lrs, 1), calls, warmup))
        if count_flops:
            units[f"rollout/{name}/{L}"]["flops"] = _flops(lambda: pred.rollout(L, lrs, 1))[0]
    return units


def _verified_units(tr: HybridTrainer, name: str, lengths: list[int], clock: _Clock, *, calls: int, warmup: int,
                    count_flops: bool) -> dict[str, dict]:
    """``verify_check/<p>`` and ``rollout/<p>/<L>`` of a verifying predictor, through the trainer's
    verified rollout (``HybridTrainer.verified_rollout``) with its held-aside loss replaced by a
    stand-in that runs no forward pass (those are ``forward_batch``): a constant loss stops the
    rollout at its first check (2 checks: the origin's and one), a falling one lets every check pass
    (``1 + ceil(L / k)`` checks). One check's own work is the difference per extra check at a length
    of at least 5 checks; a rollout's is the stopping rollout less its 2 checks."""
    k = int(tr.hcfg["verified"]["check_every"])
    n_all = lambda L: 1 + -(-L // k)  # noqa: E731  (checks when every check passes)
    loss = {"stop": lambda steps: 0.0}

    def run(L: int, how: str) -> None:
        lrs = [lr_at(tr.step + j, tr.train_cfg) for j in range(L)]
        if how == "pass":
            falling = itertools.count()
            stand_in = lambda steps: -float(next(falling))  # noqa: E731
        else:
            stand_in = loss["stop"]
        pred = tr.verified_rollout(L, lrs, 1, heldout_loss=stand_in)
        want = n_all(L) if how == "pass" else 2
        if pred.diagnostics.get("checks") != want:
            raise RuntimeError(f"verified rollout of {L} steps ran {pred.diagnostics.get('checks')} checks, "
                               f"the calibration expected {want}")

    def paired(L: int) -> tuple[list[float], list[float]]:
        for _ in range(warmup):
            run(L, "stop")
            run(L, "pass")
        stop, full = [], []
        for _ in range(calls):
            stop.append(clock.time(lambda: run(L, "stop")))
            full.append(clock.time(lambda: run(L, "pass")))
        return stop, full

    Lc = max(max(lengths), 5 * k)  # at least 5 checks, so that their difference is above the noise
    stop, full = paired(Lc)
    per = [max(0.0, (b - a) / (n_all(Lc) - 2)) for a, b in zip(stop, full)]
    units = {f"verify_check/{name}": _summary(per)}
    units[f"verify_check/{name}"]["s"] = max(0.0, (float(np.median(full)) - float(np.median(stop))) / (n_all(Lc) - 2))
    check_s = units[f"verify_check/{name}"]["s"]
    for L in lengths:
        st = stop if L == Lc else clock.times(lambda: run(L, "stop"), calls, warmup)
        units[f"rollout/{name}/{L}"] = _summary([max(0.0, t - 2 * check_s) for t in st])
    if count_flops:  # parameter-sized copies and additions: elementwise, not counted (FLOPS_NOTE)
        for u in units.values():
            u["flops"] = 0.0
    return units


def _skill_units(tr: HybridTrainer, info0: StepInfo, updates: list[dict], delta: dict[str, torch.Tensor],
                 lengths: list[int], clock: _Clock, *, calls: int, warmup: int, count_flops: bool) -> dict[str, dict]:
    """``observe/reference_<r>`` (the reference's observe of a prepared observation),
    ``rollout/reference_<r>/<L>`` and ``skill_check`` (the gate's begin and end of one gap, the two
    forecasts given)."""
    ref, name = tr.reference.inner, tr.reference.unit_name
    obs = [tr.observation(info0, u) for u in updates]
    i = [0]

    def observe() -> None:
        ref.observe(obs[i[0] % len(obs)])
        i[0] += 1

    units = {f"observe/{name}": _summary(clock.times(observe, calls, warmup))}
    units.update(_rollout_units(ref, name, lengths, tr, clock, calls=calls, warmup=warmup, count_flops=count_flops))
    weights = {n: p.detach() for n, p in tr.params.items()}

    def check() -> None:
        tr.skill.begin(0, 0, 1, weights, delta, delta)
        tr.skill.end(1, weights)

    units[SKILL_CHECK] = _summary(clock.times(check, calls, warmup))
    tr.skill.last = None
    tr.skill.cycle = None
    if count_flops:
        units[f"observe/{name}"]["flops"] = 0.0
        units[SKILL_CHECK]["flops"] = 0.0
    return units


def _trainer_units(tr: HybridTrainer, delta: dict[str, torch.Tensor], clock: _Clock, *, calls: int, warmup: int,
                   count_flops: bool) -> dict[str, dict]:
    """Snapshot, apply, restore and line-search trial of the hybrid trainer (``delta``: a rollout's)."""
    if all(float(d.abs().max()) == 0 for d in delta.values()):  # the skip arm: give the search work to do
        g = torch.Generator(device="cpu").manual_seed(1)
        delta = {n: 1e-3 * torch.randn(p.shape, generator=g).to(p.device, p.dtype) for n, p in tr.params.items()}
    units = {}
    t = clock.times(tr.take_snapshot, calls, warmup)
    units[PRE_PREDICT_SNAPSHOT] = _summary(t)

    def apply(sign: float = 1.0) -> None:
        with torch.no_grad():
            for n, p in tr.params.items():
                p.add_(delta[n].to(device=p.device, dtype=p.dtype), alpha=sign)

    ts = []
    for _ in range(warmup + calls):
        ts.append(clock.time(apply))
        apply(-1.0)
    units[APPLY_DELTA] = _summary(ts[warmup:])

    # what the guard does on a divergence (HybridTrainer.restore_snapshot, from the snapshot just taken)
    units[GUARD_RESTORE] = _summary(clock.times(tr.restore_snapshot, calls, warmup))
    trials = []
    for _ in range(warmup + max(5, calls // 3)):
        n0 = tr.work[SEARCH_TRIAL]
        dt = clock.time(lambda: tr.corrector.correct(tr.params, delta, lambda: 1.0, 1.0))
        n = tr.work[SEARCH_TRIAL] - n0
        trials.append(dt / max(n, 1))
    units[SEARCH_TRIAL] = _summary(trials[warmup:])
    if count_flops:
        units[PRE_PREDICT_SNAPSHOT]["flops"] = 0.0
        units[APPLY_DELTA]["flops"] = 0.0
        units[GUARD_RESTORE]["flops"] = 0.0
        units[SEARCH_TRIAL]["flops"] = 0.0
    return units


def combine_repeats(repeats: list[dict[str, dict]]) -> dict[str, dict]:
    """One set of unit costs from several whole calibrations of the same config (``measure_units``
    results), robust to the machine's speed drifting between and during them.

    ``full_step`` is the median of the repeats' values; every other unit is the median over the
    repeats of its ratio to the same repeat's ``full_step``, times that median. A study's costs
    are sums of units, and what its verdicts read are ratios of costs (arm / baseline, arms on the
    frontier at equal cost): those depend on the units' ratios to one another, which a repeat
    measures within seconds, not on the machine's absolute speed at calibration time. The spread
    of each unit over the repeats is kept (``repeat_s``, ``repeat_rel_iqr``)."""
    if not repeats:
        raise ValueError("combine_repeats needs at least one calibration")
    if len(repeats) == 1:
        return repeats[0]
    full = [r[FULL_STEP]["s"] for r in repeats]
    f_med = float(np.median(full))
    out: dict[str, dict] = {}
    for unit in repeats[0]:
        vals = [r[unit]["s"] for r in repeats]
        if unit == FULL_STEP:
            s = f_med
        else:
            s = float(np.median([v / f for v, f in zip(vals, full)])) * f_med
        rec = dict(repeats[int(np.argsort(vals)[len(vals) // 2])][unit])  # the middle repeat's details
        rec.update(s=s, statistic=f"{rec['statistic']}, median over {len(repeats)} repeats"
                   + ("" if unit == FULL_STEP else " of the ratio to full_step"),
                   repeat_s=[float(v) for v in vals])
        q = np.quantile(vals, [0.25, 0.75])
        rec["repeat_rel_iqr"] = float((q[1] - q[0]) / np.median(vals)) if np.median(vals) > 0 else 0.0
        flops = [r[unit].get("flops") for r in repeats if r[unit].get("flops") is not None]
        if flops:
            rec["flops"] = float(np.median(flops))
        out[unit] = rec
    return out


def calibrate(cfg: dict, data_dir: str | Path | None, out_path: str | Path, *, calls: int = 12, warmup: int = 2,
              train_calls: int = 4, repeats: int = 5) -> dict:
    """Measure every unit the study's arms use ``repeats`` times (whole calibrations one after the
    other, combined by :func:`combine_repeats`) and write ``calibration.json`` (atomically)."""
    from ..data.prepare import TokenData

    if repeats < 1:
        raise ValueError(f"calibrate: repeats must be at least 1, got {repeats}")
    torch.set_num_threads(cfg["threads"])
    data = TokenData(data_dir) if data_dir is not None else RandomTokens(cfg["data"]["vocab_size"], 200_000)
    t0 = time.perf_counter()
    runs = []
    for r in range(repeats):
        runs.append(measure_units(cfg, data, calls=calls, warmup=warmup, train_calls=train_calls,
                                  count_flops=r == 0))
        log.info("calibration repeat %d/%d: full step %.2f ms", r + 1, repeats, 1e3 * runs[-1][FULL_STEP]["s"])
    for r in runs[1:]:  # FLOPs are counted once (they do not vary)
        for unit, rec in r.items():
            if "flops" in runs[0].get(unit, {}):
                rec["flops"] = runs[0][unit]["flops"]
    units = combine_repeats(runs)
    device = pick_device(cfg["device"])
    from ..model import GPT, GPTConfig

    n_params = GPT(GPTConfig(vocab_size=data.vocab_size, **cfg["model"])).n_params()
    out = {
        "format": FORMAT,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "n_params": n_params,
        "calls": calls,
        "repeats": repeats,
        "seconds": time.perf_counter() - t0,
        "config": {k: copy.deepcopy(cfg[k]) for k in ("model", "train", "hybrid", "threads", "device")},
        "flops_note": FLOPS_NOTE,
        # per predicted arm kind: the predictor (the <p> of its units), the rollout lengths timed, and
        # for the leave-one-seed-out kinds the stand-in that was timed in place of a trained model
        "predictors": {k: {"predictor": unit_of_kind(k), "rollout_lengths": rollout_lengths(cfg, k),
                           "model": registry.lookup(k).stand_in or "as the runs build it",
                           "provenance": registry.provenance(registry.lookup(k))} for k in measured_kinds(cfg)},
        "units": units,
    }
    write_json(out_path, out)
    log.info("calibration: %d units in %.1f s -> %s", len(units), out["seconds"], out_path)
    return out

