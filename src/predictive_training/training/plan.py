"""``plan``: what a study needs (time, memory, disk), measured at its scale before it is submitted.

``python -m predictive_training plan --configfile config/paper.yaml`` measures, on the device this
machine has (``device: auto``: CUDA when present), at the config's model size:

- the unit costs of training work (``training/calibrate.py``: a Full step and a forward-only batch
  at the config's batch, and per predicted arm kind of the arms its predictor's observe,
  optimisation step, rollout at every horizon its arms use and a verified rollout's check (the
  nowcaster and the pretrained RSSM as untrained stand-ins of their size), the pre-Predict
  snapshot, applying a delta, a guard restore and a line-search trial), a few calls each; and
  the measurement recorders' seconds per step (gradient sketch, tensor norms);
- the peak memory of a training process (resident on the host, and allocated on the GPU) for the
  model alone and with each predictor, each in a fresh subprocess so that each peak is its own;
- the bytes each run writes: final run folder by part, checkpoint size and the peak disk use
  during the run (checkpoints, spilled record chunks),

and prints per-job and whole-study estimates: runtime from the nominal schedule of each arm
(:func:`nominal_work`), memory, disk, device hours, and the SLURM resources for the ``train`` and
``calibrate`` rules.

What does not fit on this machine is measured smaller and computed, and every number says which:
the GPT step at reduced batches (two batch sizes, time and memory extrapolated linearly in the
batch), a predictor at reduced model widths (two widths with the config's depth and vocabulary,
time, state and memory extrapolated linearly in the parameter count N, which is exact for state
sizes at a fixed number of tensors). Budgets checked: every predictor's state at most
8 N float32 numbers (:mod:`..dynamics.footprint`), a finished run folder at most 10 GB, peak disk
during a run at most 20 GB.
"""

from __future__ import annotations

import concurrent.futures
import copy
import json
import math
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from .. import registry
from ..config import arm_horizon, arm_hybrid, arm_spec, budget_steps, is_predicted, predictor_options, skill_gated
from ..dynamics.corrector import group_parameters
from ..dynamics.footprint import STATE_BOUND, held_numbers, state_numbers
from ..dynamics.rssm import RSSMConfig, online_train_runs
from ..model import GPT, GPTConfig
from ..phase_plan import PhasePlan
from .calibrate import RandomTokens, measure_units, measured_kinds, unit_of_kind
from .loop import Phase, StepInfo, pick_device
from .searched import search_points
from .work import APPLY_DELTA, FORWARD_BATCH, FULL_STEP, PRE_PREDICT_SNAPSHOT, SEARCH_TRIAL, SKILL_CHECK

__all__ = ["nominal_work", "run_disk", "plan", "format_plan", "settle", "RUN_FOLDER_BUDGET", "PEAK_DISK_BUDGET",
           "rssm_train_runs"]

GB = 1e9
RUN_FOLDER_BUDGET = 10 * GB   # a finished run folder (a paper-scale run must fit a node's disk)
PEAK_DISK_BUDGET = 20 * GB    # a run folder during the run, checkpoints included
_DTYPE_BYTES = {"fp32": 4, "bf16": 2}


# ----------------------------------------------------------------------------------------------
# what a run does and writes, from the config (no measurement)
# ----------------------------------------------------------------------------------------------


def _model_shapes(cfg: dict, vocab: int | None = None) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        m = GPT(GPTConfig(vocab_size=vocab or cfg["data"]["vocab_size"], **cfg["model"]))
    return {n: tuple(p.shape) for n, p in m.named_parameters()}


def _search_evaluations(cfg: dict, h: dict) -> int:
    """Evaluations of one line search (each a ``search_trial`` over ``corrector.batches`` batches):
    the scale-1 loss and one per candidate and group."""
    scales = sorted(set(float(s) for s in h["corrector"]["scales"]) - {1.0})
    trials = len(scales) if h["corrector"]["trials"] is None else min(int(h["corrector"]["trials"]), len(scales))
    return 1 + trials * len(group_parameters(list(_model_shapes(cfg)), h["corrector"].get("groups", "block")))


def _search_work(cfg: dict, arm: str, h: dict, n: int) -> dict:
    """The counted work of ``n`` searches of a conventional arm's own update (training/searched.py)."""
    search = _search_evaluations(cfg, h)
    return {FORWARD_BATCH: n * int(h["corrector"]["batches"]) * search, SEARCH_TRIAL: n * search}


def nominal_work(cfg: dict, arm: str) -> dict[str, float]:
    """The work units (``training/work.py``) an arm's run counts when neither the gate nor the
    guard fires (every predictor ready at every Predict phase): the nominal phase plan at the arm's
    horizon (``arms.<name>.horizon``, else ``hybrid.horizon``), one rollout, snapshot and applied
    delta per cycle, the held-aside batches and line-search trials per cycle as
    ``training/hybrid.py`` runs them (none for a predictor whose deltas are zero: the registry's
    ``moves_weights``), the skill gate's forecasts of every Full gap for skill-gated arms, and for a
    learning predictor the optimisation steps its class's ``nominal_train_steps`` gives (the RSSM:
    one run of ``train_iters`` steps every ``update_every`` observed steps).

    A verifying arm's figure (a predictor with ``verified_rollout``) assumes that no verified
    rollout ends early (every check lowers the held-aside loss, the most checks it can run): its
    class's ``nominal_checks`` per Predict phase (verified extrapolation: ``1 + ceil(Y /
    check_every)``, the origin's and one per ``check_every`` increments), each
    ``hybrid.verified.batches`` forward batches. An early end runs fewer checks and Predict steps
    and more Full steps (the slot's steps left run Full): its run counts at most these checks and
    forward batches and at least these Full steps."""
    arm_cfg, tc, h = cfg["arms"][arm], cfg["train"], arm_hybrid(cfg, arm)
    kind, T = arm_cfg["kind"], int(tc["steps"])
    if kind == "conventional":  # a frontier arm trains its own budget (arms.<name>.budget)
        if "search_every" in arm_cfg:  # and, if it says so, searches its own update (training/searched.py)
            return {FULL_STEP: budget_steps(cfg, arm), **_search_work(cfg, arm, h, len(search_points(
                T, int(tc["warmup_steps"]), int(arm_cfg["search_every"]))))}
        return {FULL_STEP: budget_steps(cfg, arm)}
    p = PhasePlan(float(arm_cfg["prediction_ratio"]), arm_horizon(cfg, arm), int(h["correct_steps"]), T,
                  int(tc["warmup_steps"]))
    if kind == "matched":
        return {FULL_STEP: p.backward_passes}
    spec = arm_spec(cfg, arm)
    cls = registry.resolve(spec)
    options = predictor_options(cfg, spec.name, arm)
    pred = spec.unit
    n, Y, full = p.cycles, p.horizon, p.backward_passes
    n_probe = min(int(h["corrector"]["probe_batches"]), Y)  # the held-aside loss after Predict (the guard's)
    n_search = int(h["corrector"]["batches"])  # every evaluation of the line search runs these batches
    # the search's evaluations: the scale-1 loss and one per candidate; a zero delta (skip) costs none
    search = _search_evaluations(cfg, h) if spec.moves_weights else 0
    work = {FULL_STEP: full, FORWARD_BATCH: n * (n_probe + n_search * search), f"observe/{pred}": full,
            f"rollout/{pred}/{Y}": n, PRE_PREDICT_SNAPSHOT: n, APPLY_DELTA: n, SEARCH_TRIAL: n * search}
    if skill_gated(cfg, arm):  # the skill gate: both forecasts of every gap
        ref = "reference_" + ("ema" if h["gate"]["reference"] == "ema_of_deltas" else "skip")
        work[f"observe/{ref}"] = full
        work[SKILL_CHECK] = n
        for k in range(n):
            F = p.full_len(k)
            for who in (pred, ref):
                work[f"rollout/{who}/{F}"] = work.get(f"rollout/{who}/{F}", 0) + 1
    if callable(getattr(cls, "verified_rollout", None)):  # every check passes (no early end): the most a phase runs
        checks = int(cls.nominal_checks(options, Y)) if hasattr(cls, "nominal_checks") else 1 + Y
        work[f"verify_check/{pred}"] = n * checks
        work[FORWARD_BATCH] += n * checks * int(h["verified"]["batches"])
    if hasattr(cls, "nominal_train_steps"):  # a learning predictor optimises on its own grid of observed steps
        work[f"predictor_train/{pred}"] = int(cls.nominal_train_steps(options, full))
    return {k: v for k, v in work.items() if v}


def rssm_train_runs(r: RSSMConfig, observed: int) -> int:
    """Online optimisation runs of an RSSM after ``observed`` observed real steps
    (:func:`~predictive_training.dynamics.rssm.online_train_runs`)."""
    return online_train_runs(r, observed)


def _snapshot_steps(cfg: dict) -> int:
    T, every = int(cfg["train"]["steps"]), int(cfg["record"]["snapshot_every"])
    return len({0, T} | set(range(every, T + 1, every)))


def run_disk(cfg: dict, arm: str, predictor_state_bytes: float = 0.0) -> dict:
    """Bytes of one run: the finished folder by part, one checkpoint, and the peak during the run.

    Snapshots: ``record.snapshot_arms`` and ``snapshot_dtype``; gradient records (``record.gradients``:
    float32 sketches of ``sketch_dim``, or float16 exact rows of N) and tensor norms kept for every
    real step, also spilled to ``checkpoints/records`` chunks during the run; the logs at the sizes
    they have in the default study. A checkpoint holds the model and AdamW (3 N float32), for the
    predicting arms the guard's pre-Predict copy of both (3 N) and the predictor's state. During a
    run at most two checkpoints exist (the newest and the one being written), and the record
    chunks reach the size of the final records before the run folder is published.
    """
    shapes = _model_shapes(cfg)
    N = sum(math.prod(s) for s in shapes.values())
    n_t = len(shapes)
    rec = cfg["record"]
    kind = cfg["arms"][arm]["kind"]
    work = nominal_work(cfg, arm)
    T = int(cfg["train"]["steps"]) if is_predicted(cfg, arm) else work[FULL_STEP]
    real = work[FULL_STEP]
    header = 200 + 120 * n_t  # safetensors JSON header (names, shapes, offsets)
    parts = {}
    if arm in rec["snapshot_arms"]:
        parts["snapshots"] = _snapshot_steps({**cfg, "train": {**cfg["train"], "steps": T}}) * (
            N * _DTYPE_BYTES[rec["snapshot_dtype"]] + header)
    if rec["gradients"] != "off":
        rows = math.ceil(real / int(rec["grad_every"]))
        row = 2 * (int(rec["sketch_dim"]) * 4 if rec["gradients"] == "sketch" else N * 2 + 4) + 8
        parts["gradient_records"] = rows * row + header
    parts["tensor_norms"] = real * (2 * n_t * 4 + 8) + header
    n_evals = T // int(cfg["train"]["eval_every"]) + 1
    cycles = work.get(APPLY_DELTA, 0)
    Y = arm_horizon(cfg, arm) if is_predicted(cfg, arm) else int(cfg["hybrid"]["horizon"])
    parts["logs"] = T * 260 + n_evals * 400 + cycles * (3000 + 40 * Y) + 20_000
    final = sum(parts.values())
    state = 12 * N + (12 * N + predictor_state_bytes if is_predicted(cfg, arm) else 0) + 1_000_000
    records = parts.get("gradient_records", 0) + parts["tensor_norms"]
    every = int(cfg["train"]["checkpoint_every"])
    n_ckpt = 0 if every == 0 else min(2, max(0, (T - 1) // every))
    peak = final + records + n_ckpt * state  # records twice: the final file beside its chunks
    return {"parts": parts, "final_bytes": final, "checkpoint_bytes": state, "checkpoints_at_once": n_ckpt,
            "peak_bytes": peak, "bytes_per_step": final / T, "n_params": N}


# ----------------------------------------------------------------------------------------------
# measurements, each in a fresh process (its own peak memory)
# ----------------------------------------------------------------------------------------------


def _rss_peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def _available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info()
        return int(free)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def _host_available() -> int:
    return _available_bytes(torch.device("cpu"))


def _child_setup(cfg: dict) -> torch.device:
    torch.set_num_threads(max(1, min(int(cfg["threads"]), os.cpu_count() or 1)))
    device = pick_device(cfg["device"])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    return device


def _cuda_peak(device: torch.device) -> int | None:
    return int(torch.cuda.max_memory_allocated()) if device.type == "cuda" else None


def _child_gpt(cfg: dict, batch: int, calls: int, warmup: int, count_flops: bool) -> dict:
    """Full step and forward batch at ``batch``, and the recorders' seconds per step."""
    device = _child_setup(cfg)
    c = copy.deepcopy(cfg)
    c["train"]["batch_size"] = batch
    ctx = c["model"]["context"]
    data = RandomTokens(c["data"]["vocab_size"], max(4 * batch * (ctx + 1), 4096))
    out: dict = {}

    def recorders(tr) -> None:
        out["record_s"] = _recording_seconds(c, tr, calls, warmup)

    units = measure_units(c, data, calls=calls, warmup=warmup, kinds=(), count_flops=count_flops,
                          inspect=lambda what, tr: recorders(tr) if what == "gpt" else None, say=lambda s: None)
    out.update(units=units, batch=batch, peak_rss=_rss_peak_bytes(), cuda_peak=_cuda_peak(device))
    return out


def _recording_seconds(cfg: dict, tr, calls: int, warmup: int) -> dict:
    """Seconds per recorded step of the gradient recorder and the tensor-norm recorder (measurement:
    outside the training clock, inside a job's runtime)."""
    from .observers import GradientRecorder, TensorNormRecorder

    rec = cfg["record"]
    grads = {n: p.grad for n, p in tr.params.items()}
    update = {n: torch.zeros_like(p) for n, p in tr.params.items()}
    info = StepInfo(step=0, phase="full", loss=1.0, lr=1e-3, grad_norm=1.0, backward=True, wall_s=0.0, tokens=0,
                    delta_norm=0.0)
    out = {}
    with tempfile.TemporaryDirectory(prefix="plan_rec_") as tmp:
        observers = [("tensor_norms", TensorNormRecorder(Path(tmp)))]
        if rec["gradients"] != "off":
            observers.append(("gradient_records", GradientRecorder(Path(tmp), rec["gradients"], 1, rec["sketch_dim"], 0)))
        for name, obs in observers:
            obs.on_start(tr)
            times = []
            for i in range(warmup + calls):
                t0 = time.perf_counter()
                obs.on_step(tr, info, grads, update)
                if tr.device.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
            out[name] = sorted(times[warmup:])[len(times[warmup:]) // 2]
    return out


def _child_predictor(cfg: dict, kind: str, d_model: int | None, calls: int, train_calls: int) -> dict:
    """A predictor's units, its state and held numbers, the trainer units, and the process peak."""
    device = _child_setup(cfg)
    c = copy.deepcopy(cfg)
    c["train"]["batch_size"] = 1  # predictor costs do not depend on the batch
    if d_model is not None:
        c["model"]["d_model"] = d_model
    data = RandomTokens(c["data"]["vocab_size"], 8 * (c["model"]["context"] + 1))
    out: dict = {}

    def inspect(what: str, tr) -> None:
        if what == kind:
            out["observed_to_steady_state"], out["state"], out["held"] = settle(tr)
            out["n_params"] = tr.model.n_params()

    units = measure_units(c, data, calls=calls, warmup=1, train_calls=train_calls, kinds=(kind,), gpt=False,
                          count_flops=False, inspect=inspect, say=lambda s: None)
    out.update(units=units, peak_rss=_rss_peak_bytes(), cuda_peak=_cuda_peak(device))
    return out


def settle(tr, block: int = 25, cap: int = 2000) -> tuple[int, dict, dict]:
    """Observe steps (synthetic updates of the model's shapes, the trainer's own observation of the
    last real step's gradients) until the predictor holds as many bytes after a block of ``block``
    calls as after the block before (its state has reached its steady size), then one more block,
    counting after every call. Returns the calls made and the largest persistent and held counts
    of that block (a state can breathe within a period, e.g. a buffer of the open basis window)."""
    inner = tr.predictor.inner
    g = torch.Generator(device="cpu").manual_seed(7)
    ups = [{n: 1e-3 * torch.randn(p.shape, generator=g).to(p.device, p.dtype) for n, p in tr.params.items()}
           for _ in range(2)]
    i = 0

    def step() -> None:
        nonlocal i
        info = StepInfo(step=tr.step + i, phase="full", loss=2.0, lr=1e-3, grad_norm=1.0, backward=True,
                        wall_s=0.0, tokens=0, delta_norm=0.0)
        inner.observe(tr.observation(info, ups[i % 2]))
        i += 1

    prev = None
    while i < cap:
        for _ in range(block):
            step()
        cur = (held_numbers(inner, exclude=tr.params.values())["bytes"], state_numbers(inner)["bytes"])
        if cur == prev:
            break
        prev = cur
    state, held = state_numbers(inner), held_numbers(inner, exclude=tr.params.values())
    for _ in range(block + 1):
        step()
        s, h = state_numbers(inner), held_numbers(inner, exclude=tr.params.values())
        state = s if s["bytes"] > state["bytes"] else state
        held = h if h["bytes"] > held["bytes"] else held
    return i, state, held


def _in_subprocess(fn: Callable, *args) -> dict:
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


# ----------------------------------------------------------------------------------------------
# the plan
# ----------------------------------------------------------------------------------------------


def _affine(x1: float, y1: float, x2: float, y2: float, x: float) -> float:
    if x2 == x1:
        return y2
    return y1 + (y2 - y1) * (x - x1) / (x2 - x1)


def _widths(cfg: dict) -> tuple[int, int]:
    """Two reduced model widths (multiples of n_head): about d/8 and d/4."""
    d, h = int(cfg["model"]["d_model"]), int(cfg["model"]["n_head"])
    w1 = max(h, (d // 8) // h * h)
    w2 = max(2 * w1, (d // 4) // h * h)
    return w1, w2


def _n_params(cfg: dict, d_model: int | None = None) -> int:
    c = copy.deepcopy(cfg)
    if d_model is not None:
        c["model"]["d_model"] = d_model
    return sum(math.prod(s) for s in _model_shapes(c).values())


def _measure_gpt(cfg: dict, calls: int, warmup: int, max_step_s: float, say,
                 batches: tuple[int, int] = (1, 4)) -> dict:
    """The GPT units at the config's batch: measured there when it fits, else at two reduced
    batches and extrapolated linearly in the batch (time, FLOPs and peak memory)."""
    B = int(cfg["train"]["batch_size"])
    avail = _available_bytes(pick_device(cfg["device"]))
    b1 = min(batches[0], B)
    say(f"  GPT step at batch {b1} ...")
    m1 = _in_subprocess(_child_gpt, cfg, b1, calls, warmup, True)
    base = {"peak_rss_batch1": m1["peak_rss"], "cuda_peak_batch1": m1["cuda_peak"]}
    if B == b1:
        return {**m1, **base, "how": "measured"}
    b2 = min(batches[1], B)  # far enough from b1 that the difference is above the timing noise
    say(f"  GPT step at batch {b2} ...")
    m2 = _in_subprocess(_child_gpt, cfg, b2, calls, warmup, False)
    peak_key = "cuda_peak" if m2["cuda_peak"] is not None else "peak_rss"
    pred_mem = _affine(b1, m1[peak_key], b2, m2[peak_key], B)
    pred_step = _affine(b1, m1["units"][FULL_STEP]["s"], b2, m2["units"][FULL_STEP]["s"], B)
    if B > b2 and pred_mem < 0.7 * avail and pred_step * (warmup + calls + 2) < max_step_s * (calls + 2):
        say(f"  GPT step at the config's batch {B} ...")
        m = _in_subprocess(_child_gpt, cfg, B, calls, warmup, False)
        m["units"][FULL_STEP]["flops"] = m1["units"][FULL_STEP]["flops"] * B / b1
        m["units"][FORWARD_BATCH]["flops"] = m1["units"][FORWARD_BATCH]["flops"] * B / b1
        return {**m, **base, "how": "measured"}
    units = {}
    for u in (FULL_STEP, FORWARD_BATCH):
        units[u] = {"s": _affine(b1, m1["units"][u]["s"], b2, m2["units"][u]["s"], B),
                    "flops": m1["units"][u]["flops"] * B / b1, "statistic": "extrapolated"}
    why = "memory" if pred_mem >= 0.7 * avail else "time"
    return {"units": units, "batch": B,
            "peak_rss": _affine(b1, m1["peak_rss"], b2, m2["peak_rss"], B),
            "cuda_peak": None if m1["cuda_peak"] is None else _affine(b1, m1["cuda_peak"], b2, m2["cuda_peak"], B),
            "record_s": m2["record_s"], **base,
            "how": f"computed: measured at batch {b1} and {b2} and extrapolated linearly to {B} ({why})"}


def _measure_predictor(cfg: dict, kind: str, calls: int, train_calls: int, say) -> dict:
    """A predictor's units and memory at the config's N: measured when the process is predicted
    to fit in 70% of the available memory, else at two reduced widths, extrapolated linearly in N."""
    N = _n_params(cfg)
    w1, w2 = _widths(cfg)
    say(f"  {unit_of_kind(kind)} at d_model {w1} and {w2} ...")
    m1 = _in_subprocess(_child_predictor, cfg, kind, w1, calls, train_calls)
    m2 = _in_subprocess(_child_predictor, cfg, kind, w2, calls, train_calls)
    n1, n2 = m1["n_params"], m2["n_params"]
    peak_key = "cuda_peak" if m2["cuda_peak"] is not None else "peak_rss"
    pred_peak = _affine(n1, m1[peak_key], n2, m2[peak_key], N)
    host_peak = _affine(n1, m1["peak_rss"], n2, m2["peak_rss"], N)
    fits = pred_peak < 0.7 * _available_bytes(pick_device(cfg["device"])) and host_peak < 0.7 * _host_available()
    if fits:
        say(f"  {unit_of_kind(kind)} at the config's d_model {cfg['model']['d_model']} ...")
        m = _in_subprocess(_child_predictor, cfg, kind, None, calls, train_calls)
        m["how"] = "measured"
        m["extrapolated_peak"] = pred_peak
        return m
    units = {}
    for u in m2["units"]:
        units[u] = {"s": max(0.0, _affine(n1, m1["units"][u]["s"], n2, m2["units"][u]["s"], N)),
                    "statistic": "extrapolated"}
    count = {}
    for which in ("state", "held"):
        count[which] = {k: _affine(n1, m1[which][k], n2, m2[which][k], N) for k in m2[which]}
    return {"units": units, "state": count["state"], "held": count["held"], "n_params": N,
            "peak_rss": host_peak, "cuda_peak": None if m2["cuda_peak"] is None else pred_peak,
            "how": f"computed: measured at d_model {w1} (N = {n1:,}) and {w2} (N = {n2:,}), extrapolated "
                   f"linearly in N (predicted peak {pred_peak / GB:.1f} GB does not fit 70% of this machine)"}


def plan(cfg: dict, *, calls: int = 3, warmup: int = 1, train_calls: int = 2, max_step_s: float = 60.0,
         tokens: int | None = None, batches: tuple[int, int] = (1, 4), say: Callable[[str], None] = print) -> dict:
    """Measure and estimate a study (see the module docstring); returns the plan as a dict."""
    device = pick_device(cfg["device"])
    N = _n_params(cfg)
    say(f"plan for study {cfg['study']!r}: {N:,} parameters, batch {cfg['train']['batch_size']}, "
        f"{cfg['train']['steps']:,} steps, device {device}")
    t0 = time.perf_counter()
    gpt = _measure_gpt(cfg, calls, warmup, max_step_s, say, batches)
    kinds = list(measured_kinds(cfg))
    preds = {k: _measure_predictor(cfg, k, calls, train_calls, say) for k in kinds}
    units = dict(gpt["units"])
    for k in kinds:
        units.update(preds[k]["units"])
    tok = tokens if tokens is not None else _data_tokens(cfg)
    data_bytes = 2 * tok if tok else None  # uint16 token ids, train + validation (Batches indexes them)
    evals = int(cfg["train"]["steps"]) // int(cfg["train"]["eval_every"]) + 2  # + the initial one and the last
    jobs = {}
    for arm, a in cfg["arms"].items():
        kind = a["kind"]
        work = nominal_work(cfg, arm)
        train_s = sum(units[u]["s"] * v for u, v in work.items())
        eval_s = evals * int(cfg["train"]["eval_batches"]) * units[FORWARD_BATCH]["s"]
        record_s = work[FULL_STEP] * sum(gpt.get("record_s", {}).values())
        flops = sum(units[u].get("flops", 0.0) * v for u, v in work.items())
        pred = preds.get(kind)
        p_state = pred["state"]["bytes"] if pred else 0.0
        disk = run_disk(cfg, arm, p_state)
        recorder_mem = disk["parts"].get("gradient_records", 0) + disk["parts"]["tensor_norms"]
        if pred is None:
            host = gpt["peak_rss"]
            dev = gpt["cuda_peak"]
        else:  # the predictor's process ran at batch 1: add the activations of the config's batch
            host = pred["peak_rss"] + max(0.0, gpt["peak_rss"] - gpt["peak_rss_batch1"])
            dev = None if gpt["cuda_peak"] is None else pred["cuda_peak"] + max(
                0.0, gpt["cuda_peak"] - gpt["cuda_peak_batch1"])
        host += 2 * recorder_mem + (data_bytes or 0)  # records in memory, stacked once at the end
        jobs[arm] = {"kind": kind, "work": work, "train_s": train_s, "eval_s": eval_s, "record_s": record_s,
                     "runtime_s": train_s + eval_s + record_s, "flops": flops, "host_peak_bytes": host,
                     "device_peak_bytes": dev, "disk": disk}
    seeds = len(cfg["seeds"])
    total_s = seeds * sum(j["runtime_s"] for j in jobs.values())
    total_disk = seeds * sum(j["disk"]["final_bytes"] for j in jobs.values())
    bound = {}
    for k, p in preds.items():
        n_ref = p["n_params"] if p["how"] == "measured" else N
        bound[unit_of_kind(k)] = {
            "state_fp32_per_N": p["state"]["fp32_equivalent"] / n_ref,
            "held_fp32_per_N": p["held"]["fp32_equivalent"] / n_ref,
            "within_8N": max(p["state"]["fp32_equivalent"], p["held"]["fp32_equivalent"]) <= STATE_BOUND * n_ref,
            "how": p["how"]}
    max_host = max(j["host_peak_bytes"] for j in jobs.values())
    max_run = max(j["runtime_s"] for j in jobs.values())
    slurm = {"train": {"mem_mb": int(math.ceil(1.25 * max_host / 1e6 / 1000) * 1000),
                       "runtime": int(math.ceil((1.5 * max_run + 600) / 60))},
             "calibrate": {"mem_mb": int(math.ceil(1.25 * max_host / 1e6 / 1000) * 1000), "runtime": 30}}
    out = {"study": cfg["study"], "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(0),
           "torch_threads": max(1, min(int(cfg["threads"]), os.cpu_count() or 1)), "n_params": N,
           "batch": int(cfg["train"]["batch_size"]), "steps": int(cfg["train"]["steps"]), "seeds": seeds,
           "gpt": {"how": gpt["how"], "peak_rss_bytes": gpt["peak_rss"], "cuda_peak_bytes": gpt["cuda_peak"],
                   "record_s_per_step": gpt.get("record_s")},
           "predictors": {unit_of_kind(k): {"how": p["how"], "state": p["state"], "held": p["held"],
                                                 "peak_rss_bytes": p["peak_rss"], "cuda_peak_bytes": p["cuda_peak"]}
                          for k, p in preds.items()},
           "state_bound": bound, "units": units, "data_tokens": tok, "jobs": jobs,
           "study_total": {"runtime_hours": total_s / 3600, "disk_bytes": total_disk,
                           "train_jobs": seeds * len(jobs)},
           "budgets": {"run_folder_bytes": RUN_FOLDER_BUDGET, "peak_disk_bytes": PEAK_DISK_BUDGET,
                       "run_folder_ok": all(j["disk"]["final_bytes"] <= RUN_FOLDER_BUDGET for j in jobs.values()),
                       "peak_disk_ok": all(j["disk"]["peak_bytes"] <= PEAK_DISK_BUDGET for j in jobs.values()),
                       "predictor_state_ok": all(b["within_8N"] for b in bound.values())},
           "slurm": slurm, "seconds": time.perf_counter() - t0}
    return out


def _data_tokens(cfg: dict) -> int | None:
    meta = Path("results") / cfg["study"] / "data" / "meta.json"
    if meta.exists():
        m = json.loads(meta.read_text())
        return int(m["tokens"]["train"]) + int(m["tokens"]["val"])
    return None


def _gb(x) -> str:
    return "-" if x is None else f"{x / GB:.2f} GB"


def _dur(s: float) -> str:
    return f"{s / 3600:.2f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"


def format_plan(p: dict) -> str:
    lines = [f"study {p['study']}: {p['n_params']:,} parameters, batch {p['batch']}, {p['steps']:,} steps, "
             f"{p['seeds']} seeds; device {p['device']}, {p['torch_threads']} torch thread(s)",
             f"GPT step: {p['gpt']['how']}", "", "unit costs (s; FLOPs an estimate):"]
    for u, v in p["units"].items():
        fl = v.get("flops")
        lines.append(f"  {u:<32} {v['s']:12.5f} s  ({v.get('statistic')})" + (f"  {fl:.3g} FLOPs" if fl else ""))
    if p["gpt"].get("record_s_per_step"):
        rs = ", ".join(f"{k} {v:.4f} s" for k, v in p["gpt"]["record_s_per_step"].items())
        lines.append(f"  recording per step (measurement, outside the training clock): {rs}")
    lines += ["", "predictor state (float32 numbers per model parameter N; bound 8):"]
    for name, b in p["state_bound"].items():
        lines.append(f"  {name:<15} persistent {b['state_fp32_per_N']:.2f} N, held {b['held_fp32_per_N']:.2f} N "
                     f"-> {'within' if b['within_8N'] else 'OVER'} 8 N ({b['how']})")
    lines += ["", "per job (one arm, one seed):",
              "  arm | kind | runtime | of it training | host peak | device peak | run folder | checkpoint | "
              "peak disk | bytes/step"]
    for arm, j in p["jobs"].items():
        d = j["disk"]
        lines.append(f"  {arm} | {j['kind']} | {_dur(j['runtime_s'])} | {_dur(j['train_s'])} | "
                     f"{_gb(j['host_peak_bytes'])} | {_gb(j['device_peak_bytes'])} | {_gb(d['final_bytes'])} | "
                     f"{_gb(d['checkpoint_bytes'])} | {_gb(d['peak_bytes'])} | {d['bytes_per_step'] / 1e3:.1f} kB")
    t, b = p["study_total"], p["budgets"]
    lines += ["", f"whole study: {t['train_jobs']} training jobs, {t['runtime_hours']:.1f} device hours on "
                  f"{p['device']}, {t['disk_bytes'] / GB:.1f} GB of run folders",
              f"budgets: run folder <= 10 GB {'met' if b['run_folder_ok'] else 'NOT met'}; peak disk <= 20 GB "
              f"{'met' if b['peak_disk_ok'] else 'NOT met'}; predictor state <= 8 N "
              f"{'met' if b['predictor_state_ok'] else 'NOT met'}",
              "", "SLURM resources (1.25 x the largest host peak; 1.5 x the longest runtime + 10 min):",
              "  --set-resources " + " ".join(f"{r}:{k}={v}" for r, res in p["slurm"].items() for k, v in res.items())]
    if p.get("data_tokens") is None:
        lines.append("  (host memory leaves out the token arrays: 2 bytes per token; pass --tokens to include them)")
    return "\n".join(lines)
