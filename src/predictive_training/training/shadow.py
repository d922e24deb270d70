"""Shadow mode: predictors that ride along a conventional run and are scored on its real steps.

A conventional arm named in ``record.shadow.arms`` carries a :class:`ShadowObserver`. Its
predictors (``record.shadow.predictors``: any predictor of the registry, :mod:`predictive_training.registry`,
built as an arm of its kind builds it, :func:`~.hybrid.make_predictor`) observe every real step
exactly as a hybrid arm's predictor observes its Full steps (the same
:meth:`~predictive_training.dynamics.protocol.Observation.of_step`). At each origin ``o``
(:func:`shadow_origins`: the Predict starts of the nominal plan at ``record.shadow.plan_ratio``,
every ``plan_every``-th of them, plus every ``origin_every`` steps after warmup) every predictor
rolls out each horizon ``Y`` (``record.shadow.horizons``) from what it has seen, given the
learning rates the schedule will use; the real steps then run, and at ``o + Y`` the observer
writes one row per (origin, horizon, predictor) to ``shadow.jsonl`` (format:
:mod:`predictive_training.records.shadow`):

- the loss forecast against the realised training losses of the ``Y`` steps;
- the ``Y``-step weight delta against the real one (weights at ``o + Y`` minus weights at ``o``):
  cosine, relative L2 error, norm ratio, Pearson r, per-tensor cosines, per-layer accuracy;
- **progress captured**: the held-out loss (fixed validation windows, ``eval_batches`` of them)
  at the origin, with the predicted delta added to the origin's weights, and after the real
  steps; ``gain = L(origin) - L(...)`` per batch, the ratio of the means and its standard error
  (delta method over the paired batches); for the cells in ``record.shadow.search`` also after
  the corrector's per-layer-group line search (:class:`~predictive_training.dynamics.corrector.
  LayerwiseLineSearch`, every scale of ``record.shadow.scales`` tried, on ``search_batches``
  other validation windows), scored on the evaluation windows.

Loss-forecast origins (:func:`forecast_origins`, every ``record.shadow.forecast_every`` steps)
are cheaper: each predictor only forecasts the loss over the longest horizon (or the steps left),
written as rows of kind ``forecast`` (Experiment 2 pools them with the full origins).

The **span oracle** ``span<m>`` (``record.shadow.span_oracle``) is scored the same way: the real
delta projected, in hindsight, on the span of the last ``m`` per-step updates before the origin
(:func:`~predictive_training.dynamics.simple.span_projection`): the best approximation, in cosine
and L2, of any predictor that combines those updates linearly (no ceiling for progress captured:
the loss is curved along them).

Shadows never change the run: they read the trainer's weights, gradients and updates and write
only into their own copies; every held-out loss is computed on a separate copy of the model in
eval mode (the trained model is never touched); nothing draws from a global random generator
(batches and rollouts are seeded; the RSSM builds itself under ``fork_rng``). The observer is
``untimed``: its time is excluded from the run's ``wall_s`` and reported as ``shadow_s`` (with
its parts in ``shadow_parts_s``) in ``summary.json``. Resumable: the predictors, the recent
updates and every pending origin are in the checkpoint.

A verifying predictor (``verified``) checks its extrapolation on its own held-aside windows
(``hybrid.verified.batches`` validation windows from VERIFY_BASE, one set per origin, disjoint from
the evaluation and search windows): the same number of forward passes per check as in its arm;
the row records them (``verify_forward_passes``) and the steps it kept (``steps_replaced``).

The leave-one-seed-out predictors (``nowcaster``, ``rssm_pretrained``: trained on the other
seeds' baselines) cannot ride along a baseline whose own run is part of their training data for
the other seeds; the baseline's observer leaves them out and :func:`~.run.run_replay` scores them
on a replay of the baseline (an observer with only them, ``predictors=...``, no span oracle).
When ``rssm_pretrained`` is configured, the baseline's shadow RSSM exports its training data at the
end of the run (``rssm_stream.npz``, :mod:`predictive_training.records.rssm_stream`).

Adding a predictor: register it (``docs/predictors.md``) and name it in ``record.shadow.predictors``.
Every shadow predictor's state is checked against its bound after every observation, as in an arm
(:func:`~predictive_training.dynamics.base.check_state_bound`).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from ..config import LEAVE_ONE_SEED_OUT, loso_needed
from ..dynamics.base import check_state_bound, state_size
from ..dynamics.corrector import LayerwiseLineSearch, group_parameters, layer_groups
from ..dynamics.protocol import Observation, Predictor, verifies
from ..dynamics.rssm_pretrain import export_stream
from ..dynamics.scores import delta_metrics
from ..dynamics.simple import span_projection
from ..phase_plan import PhasePlan
from ..records.rssm_stream import RSSM_STREAM, write_stream
from ..records.shadow import SHADOW
from .hybrid import make_predictor
from .loop import lr_at
from .observers import _JsonlRecorder

log = logging.getLogger(__name__)

__all__ = ["ShadowObserver", "shadow_origins", "forecast_origins", "search_cells", "span_name"]

#: Validation-window indices of the shadow's held-out batches (``Trainer.val_batches``; the
#: periodic evaluation uses indices from 0): evaluation windows from EVAL_BASE, search from SEARCH_BASE.
EVAL_BASE = 1_000_000
SEARCH_BASE = 2_000_000
VERIFY_BASE = 3_000_000  # verified extrapolation's checks: hybrid.verified.batches windows per origin


def span_name(m: int) -> str:
    """The predictor name of the span oracle over the last ``m`` updates (``span10``)."""
    return f"span{int(m)}"


def shadow_origins(cfg: Mapping) -> list[int]:
    """The origins of shadow mode (sorted): the Predict starts of the nominal plan at
    ``record.shadow.plan_ratio`` (every ``plan_every``-th, from the first; none when that plan does
    not fit the step budget), and every ``origin_every`` steps from the end of warmup; only origins
    with room for the shortest horizon."""
    s, tc, h = cfg["record"]["shadow"], cfg["train"], cfg["hybrid"]
    T, W = int(tc["steps"]), int(tc["warmup_steps"])
    origins: set[int] = set()
    if s["plan_ratio"] is not None:
        try:
            plan = PhasePlan(float(s["plan_ratio"]), int(h["horizon"]), int(h["correct_steps"]), T, W)
        except ValueError:  # the plan does not fit this budget: no plan origins (the observer logs it)
            plan = None
        ph = plan.phases() if plan is not None else []
        starts = [t for t in range(len(ph)) if ph[t] == "predict" and (t == 0 or ph[t - 1] != "predict")]
        origins.update(starts[:: int(s["plan_every"])])
    if s["origin_every"]:
        origins.update(range(W, T, int(s["origin_every"])))
    y_min = min(s["horizons"])
    return sorted(o for o in origins if max(W, 1) <= o and o + y_min <= T)  # after at least one real step


def forecast_origins(cfg: Mapping) -> list[int]:
    """The loss-forecast origins: every ``record.shadow.forecast_every`` steps from the end of
    warmup, with room for the shortest horizon, that are not (full) :func:`shadow_origins`. Each
    forecasts ``min(longest horizon, steps left)`` steps."""
    s, tc = cfg["record"]["shadow"], cfg["train"]
    if not s["forecast_every"]:
        return []
    T, W, y_min = int(tc["steps"]), int(tc["warmup_steps"]), min(s["horizons"])
    full = set(shadow_origins(cfg))
    return [o for o in range(max(W, 1), T, int(s["forecast_every"])) if o + y_min <= T and o not in full]


def search_cells(cfg: Mapping) -> set[tuple[str, int]]:
    """The (predictor, horizon) cells whose progress is also measured after the scale search."""
    s = cfg["record"]["shadow"]
    names = list(s["predictors"]) + [span_name(m) for m in s["span_oracle"]]
    if s["search"] == "all":
        return {(n, int(y)) for n in names if n != "zero" for y in s["horizons"]}
    return {(c["predictor"], int(c["horizon"])) for c in s["search"]}


def _ratio_se(gain_pred: np.ndarray, gain_real: np.ndarray) -> tuple[float | None, float | None]:
    """``mean(gain_pred) / mean(gain_real)`` over paired batches and its delta-method standard
    error ``sqrt((var a - 2 r cov(a, b) + r^2 var b) / n) / |mean b|``; None where undefined."""
    a, b = np.asarray(gain_pred, dtype=np.float64), np.asarray(gain_real, dtype=np.float64)
    mb = float(b.mean())
    if mb == 0 or not math.isfinite(mb):
        return None, None
    r = float(a.mean()) / mb
    if a.size < 2:
        return r, None
    c = np.cov(a, b, ddof=1)
    var = (c[0, 0] - 2 * r * c[0, 1] + r * r * c[1, 1]) / a.size
    return r, float(math.sqrt(max(var, 0.0)) / abs(mb))


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class ShadowObserver(_JsonlRecorder):
    """Shadow mode on a conventional run (see the module docstring); writes ``shadow.jsonl``."""

    filename = SHADOW
    wants_tensors = True
    untimed = True  # not training work: excluded from wall_s, reported as shadow_s

    def __init__(self, folder: Path, cfg: Mapping, seed: int, predictors: Sequence[str] | None = None,
                 span_oracle: bool = True, files: Mapping[str, str] | None = None):
        """``predictors``: the ones to carry (default: ``record.shadow.predictors`` without the
        leave-one-seed-out ones, which a replay scores); ``span_oracle``: score the span oracles;
        ``files``: the leave-one-seed-out models of this seed."""
        super().__init__(folder)
        self.cfg, self.seed, self.files = cfg, int(seed), dict(files or {})
        s = cfg["record"]["shadow"]
        self.names_pred = (list(predictors) if predictors is not None
                           else [p for p in s["predictors"] if p not in LEAVE_ONE_SEED_OUT])
        self.spans = sorted(int(m) for m in s["span_oracle"]) if span_oracle else []
        # the baseline's shadow RSSM exports its training data for the pretrained RSSMs of the other seeds
        self.export_rssm = "rssm_pretrained" in loso_needed(dict(cfg)) and "rssm" in self.names_pred
        self.n_verify = int(cfg["hybrid"]["verified"]["batches"])
        self.horizons = sorted(int(y) for y in s["horizons"])
        self.n_eval, self.n_search = int(s["eval_batches"]), int(s["search_batches"])
        self.scales = [float(x) for x in s["scales"]]
        self.cells = search_cells(cfg)
        # the search's variants (record.shadow.search_variants): other groupings, search windows,
        # evidence rules and scale ranges, each also applied to the real update of the same steps
        self.variants = [dict(v) for v in (s.get("search_variants") or [])]
        self.threshold = float(cfg["thresholds"]["exp3_cosine"])
        self.origins = shadow_origins(cfg)
        self.forecasts = forecast_origins(cfg)
        if not self.origins:
            log.warning("shadow mode: no origin in this run (the plan at record.shadow.plan_ratio=%s does not fit "
                        "train.steps, or no origin leaves room for a horizon); only loss-forecast rows are written",
                        s["plan_ratio"])
        self.time = {k: 0.0 for k in ("rollout", "heldout", "search", "span", "scores", "forecast", "verify")}
        self.shadow_s = 0.0
        self.n_rows = 0
        self.listeners: list = []  # callables given every row written (a live view)

    # --- setup ------------------------------------------------------------------------------------

    def _setup(self, trainer) -> None:
        self.trainer = trainer
        self.T = int(trainer.train_cfg["steps"])
        self.grad_clip = float(trainer.train_cfg["grad_clip"])
        self.names = list(trainer.params)
        self.shapes = {n: p.shape for n, p in trainer.params.items()}
        ends = np.cumsum([p.numel() for p in trainer.params.values()]).tolist()
        self.slices = {n: slice(e - trainer.params[n].numel(), e) for n, e in zip(self.names, ends)}
        self.N = int(ends[-1])
        self.device = next(iter(trainer.params.values())).device
        self.n_params = int(self.N)
        self.predictors = {n: make_predictor(self.cfg, n, trainer.model, trainer.params, self.seed, self.files)
                           for n in self.names_pred}
        # a separate copy of the model for every held-out loss: the trained model is never touched
        self.probe = copy.deepcopy(trainer.model).eval().requires_grad_(False)
        self.probe_params = dict(self.probe.named_parameters())
        self.groups = layer_groups(self.names)
        vb = trainer.val_batches
        self.eval_batches = [vb.get(EVAL_BASE + i) for i in range(self.n_eval)]
        self.search_batches = [vb.get(SEARCH_BASE + i) for i in range(self.n_search)]
        for v in self.variants:
            v["group_dict"] = group_parameters(self.names, v["groups"])
            v["batches"] = [vb.get(SEARCH_BASE + i) for i in range(int(v["search_batches"]))]
        self.verify_batches = [vb.get(VERIFY_BASE + i) for i in range(self.n_verify)]
        y_max = max(self.horizons)
        self.buf_len = (max(self.spans) + y_max) if self.spans else 0
        self.buf = torch.zeros(self.buf_len, self.N, device=self.device) if self.buf_len else None
        self.buf_steps = [-1] * self.buf_len  # the step whose update each row holds (row = step % buf_len)
        self.recent_losses: deque[float] = deque(maxlen=y_max)
        self.pending: dict[int, dict] = {}
        self.pending_fc: dict[int, dict] = {}
        self.origin_set, self.forecast_set = set(self.origins), set(self.forecasts)

    def on_start(self, trainer):
        super().on_start(trainer)
        self._setup(trainer)

    # --- flat views -------------------------------------------------------------------------------

    def _flat(self, tensors: Mapping[str, torch.Tensor], out: torch.Tensor | None = None) -> torch.Tensor:
        parts = [tensors[n].detach().reshape(-1).to(self.device, torch.float32) for n in self.names]
        return torch.cat(parts) if out is None else torch.cat(parts, out=out)

    def _dict(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        return {n: flat[self.slices[n]].view(self.shapes[n]) for n in self.names}

    # --- held-out losses on the probe copy ----------------------------------------------------------

    @torch.no_grad()
    def _load(self, flat: torch.Tensor) -> None:
        for n, p in self.probe_params.items():
            p.copy_(flat[self.slices[n]].view(p.shape).to(p.dtype))

    @torch.no_grad()
    def _losses(self, batches) -> np.ndarray:
        """Per-batch mean loss (nats) of the probe as it stands."""
        ac = self.trainer.autocast
        out = np.empty(len(batches))
        for i, (x, y) in enumerate(batches):
            if ac is not None:
                with ac:
                    out[i] = float(self.probe.loss(x, y))
            else:
                out[i] = float(self.probe.loss(x, y))
        return out

    def _heldout(self, flat: torch.Tensor) -> np.ndarray:
        t0 = time.perf_counter()
        self._load(flat)
        out = self._losses(self.eval_batches)
        self.time["heldout"] += time.perf_counter() - t0
        return out

    def _search(self, theta: torch.Tensor, delta: torch.Tensor, variant: Mapping | None = None) -> dict:
        """The corrector's per-layer-group line search on ``delta`` from ``theta`` (every scale),
        chosen on the search windows; the chosen weights scored on the evaluation windows. A
        ``variant`` (record.shadow.search_variants) brings its own groups, windows, evidence rule
        and scales; none: the study's search (one mean loss over the windows, no evidence rule)."""
        t0 = time.perf_counter()
        self._load(theta + delta)
        if variant is None:
            ls = LayerwiseLineSearch(self.groups, self.scales, trials=None)
            batches = self.search_batches
            loss_fn = lambda: float(np.mean(self._losses(batches)))  # noqa: E731
        else:
            ls = LayerwiseLineSearch(variant["group_dict"], variant["scales"], trials=None,
                                     evidence_z=float(variant["evidence_z"]))
            batches = variant["batches"]
            loss_fn = lambda: list(self._losses(batches))  # noqa: E731 (per window: the evidence rule's pairs)
        corr = ls.correct(self.probe_params, self._dict(delta), loss_fn)
        heldout = self._losses(self.eval_batches)  # the probe holds the chosen scales
        self.time["search"] += time.perf_counter() - t0
        return {"scales": {g: v["scale"] for g, v in corr.per_layer.items()},
                "search_loss_before": _num(corr.loss_before), "search_loss_after": _num(corr.loss_after_search),
                "forward_passes": corr.forward_passes, "heldout": heldout}

    def _variants(self, theta: torch.Tensor, delta: torch.Tensor) -> dict | None:
        """Every search variant on ``delta`` from ``theta`` (None without variants)."""
        if not self.variants:
            return None
        return {v["name"]: self._search(theta, delta, v) for v in self.variants}

    # --- the step -----------------------------------------------------------------------------------

    def on_step(self, trainer, info, grads, update):
        if not info.backward or update is None:
            return
        t0 = time.perf_counter()
        obs = Observation.of_step(info.step, self.T, info.loss, info.grad_norm, info.lr, grads,
                                  self.grad_clip, update)
        for name, p in self.predictors.items():
            t1 = time.perf_counter()
            p.observe(obs)
            self.time[f"observe_{name}"] = self.time.get(f"observe_{name}", 0.0) + time.perf_counter() - t1
            check_state_bound(p, self.n_params, f"in shadow mode after observing step {info.step}")
        t1 = time.perf_counter()
        if self.buf is not None:
            row = info.step % self.buf_len
            self._flat(update, out=self.buf[row])
            self.buf_steps[row] = info.step
        self.recent_losses.append(float(info.loss))
        self.time["span"] += time.perf_counter() - t1
        done = info.step + 1  # the weights hold the state after `done` steps
        for o in sorted(self.pending):
            if done - o in self.pending[o]["horizons"]:
                self._complete(o, done - o)
                if max(self.pending[o]["horizons"]) == done - o:
                    del self.pending[o]
        for o in [o for o, rec in self.pending_fc.items() if o + rec["y"] == done]:
            self._complete_forecast(o, self.pending_fc.pop(o))
        if done in self.origin_set:
            self._start(done)
        if done in self.forecast_set:
            self._start_forecast(done)
        self.shadow_s += time.perf_counter() - t0

    def _start_forecast(self, o: int) -> None:
        """A loss-forecast origin: every predictor's loss path over the longest horizon (no delta kept)."""
        t0 = time.perf_counter()
        y = min(max(self.horizons), self.T - o)
        lrs = [lr_at(o + i, self.trainer.train_cfg) for i in range(y)]
        rec = {"y": y, "preds": {}}
        for name, p in self.predictors.items():
            e = {"ready": bool(p.ready()), "error": None, "uncertainty": None, "loss_path": None}
            try:
                pred = p.rollout(y, lrs, seed=self.seed * 1_000_003 + o)
                e["uncertainty"] = _num(pred.uncertainty)
                e["loss_path"] = [_num(v) for v in np.asarray(pred.loss_path, dtype=np.float64)]
            except ValueError as exc:
                e["error"] = str(exc)
            rec["preds"][name] = e
        self.pending_fc[o] = rec
        self.time["forecast"] += time.perf_counter() - t0

    def _complete_forecast(self, o: int, rec: dict) -> None:
        y = rec["y"]
        realised = list(self.recent_losses)[-y:]
        for name, e in rec["preds"].items():
            row = {"origin": o, "horizon": y, "predictor": name, "kind": "forecast", "ready": e["ready"],
                   "error": e["error"], "uncertainty": e["uncertainty"], "loss_forecast": e["loss_path"],
                   "loss_forecast_end": e["loss_path"][-1] if e["loss_path"] else None,
                   "loss_realised": realised, "loss_realised_end": realised[-1]}
            self._write(row)

    def _buffer_rows(self, origin: int, m: int) -> torch.Tensor:
        """The last ``m`` updates before ``origin`` (oldest first), from the ring buffer (fewer when
        fewer were observed)."""
        steps = range(max(0, origin - m), origin)
        rows = [t % self.buf_len for t in steps]
        if [self.buf_steps[r] for r in rows] != list(steps):  # every real step is observed, in order
            raise RuntimeError(f"shadow: the updates before step {origin} are no longer in the buffer")
        return self.buf.index_select(0, torch.tensor(rows, device=self.device, dtype=torch.long))

    def _start(self, o: int) -> None:
        """Origin ``o``: the weights, the held-out loss, every predictor's rollouts and their
        held-out losses (the delta metrics wait for the real steps)."""
        tr = self.trainer
        hs = [y for y in self.horizons if o + y <= self.T]
        theta = self._flat(tr.params).clone()
        rec = {"theta": theta, "horizons": hs, "loss0": self._heldout(theta), "preds": {}, "gram": None}
        if self.spans:
            t0 = time.perf_counter()
            u = self._buffer_rows(o, max(self.spans))
            rec["gram"] = (u @ u.T).cpu()
            self.time["span"] += time.perf_counter() - t0
        lrs = [lr_at(o + i, tr.train_cfg) for i in range(max(hs))]
        for name, p in self.predictors.items():
            for y in hs:
                rec["preds"][(name, y)] = self._predict(name, p, o, y, lrs[:y], theta, rec["loss0"])
        self.pending[o] = rec

    def _predict(self, name: str, p: Predictor, o: int, y: int, lrs: Sequence[float], theta: torch.Tensor,
                 loss0: np.ndarray) -> dict:
        out = {"ready": bool(p.ready()), "error": None, "delta": None, "heldout": None, "search": None}
        t0 = time.perf_counter()
        try:
            if verifies(p):
                pred = self._verified(p, y, lrs, self.seed * 1_000_003 + o, theta)
                out["verify_forward_passes"] = pred.diagnostics["forward_passes"]
            else:
                pred = p.rollout(y, lrs, seed=self.seed * 1_000_003 + o)
        except ValueError as exc:  # e.g. nothing observed yet: the row says why
            out["error"] = str(exc)
            self.time["rollout"] += time.perf_counter() - t0
            return out
        if set(pred.delta) != set(self.names):
            raise ValueError(f"shadow predictor {name!r}: its delta must be keyed by the model's parameter names")
        delta = self._flat(pred.delta)
        self.time["rollout"] += time.perf_counter() - t0
        out.update(delta=delta, uncertainty=_num(pred.uncertainty),
                   loss_path=[_num(v) for v in np.asarray(pred.loss_path, dtype=np.float64)],
                   steps_replaced=y if pred.steps is None else int(pred.steps), diagnostics=pred.diagnostics)
        if float(torch.linalg.vector_norm(delta)) == 0.0:
            out["heldout"] = loss0.copy()  # no change: the origin's losses, no forward pass needed
        else:
            out["heldout"] = self._heldout(theta + delta)
        if (name, y) in self.cells:
            out["search"] = self._search(theta, delta)
            out["variants"] = self._variants(theta, delta)
        return out

    def _verified(self, p, y: int, lrs: Sequence[float], seed: int, theta: torch.Tensor):
        """A verified rollout from the origin's weights ``theta``, its checks on the verify windows of
        the probe copy (``hybrid.verified.batches`` forward passes each, as in the arm)."""
        t0 = time.perf_counter()
        calls = [0]

        def loss_at(delta: Mapping[str, torch.Tensor]) -> float:
            calls[0] += 1
            self._load(theta + self._flat(delta) if delta else theta)
            return float(np.mean(self._losses(self.verify_batches)))

        pred = p.verified_rollout(y, lrs, seed, loss_at)
        pred.diagnostics = {**pred.diagnostics, "forward_passes": calls[0] * len(self.verify_batches)}
        self.time["verify"] += time.perf_counter() - t0
        return pred

    def _complete(self, o: int, y: int) -> None:
        """``o + y`` steps done: score every prediction of horizon ``y`` from origin ``o`` and the
        span oracles, and write their rows."""
        rec = self.pending[o]
        theta_now = self._flat(self.trainer.params)
        real = theta_now - rec["theta"]
        loss_real = self._heldout(theta_now)
        realised = list(self.recent_losses)[-y:]
        base = {"origin": o, "horizon": y, "eval_batches": self.n_eval,
                "heldout_origin": float(rec["loss0"].mean()), "heldout_real": float(loss_real.mean()),
                "gain_real": float((rec["loss0"] - loss_real).mean()),
                "gain_real_se": float((rec["loss0"] - loss_real).std(ddof=1) / math.sqrt(self.n_eval))
                if self.n_eval > 1 else None,
                "delta_norm_real": float(torch.linalg.vector_norm(real)),
                "loss_realised": realised, "loss_realised_end": realised[-1]}
        if self.variants and any(h == y for _, h in self.cells):
            # the conventional run's own counterpart: the same searches on the real update of these steps
            base["variants_real"] = {k: self._gain_summary(rec["loss0"] - v["heldout"], rec, loss_real, v)
                                     for k, v in self._variants(rec["theta"], real).items()}
        for name in self.names_pred:
            self._write(self._row(base, name, "predictor", rec["preds"].pop((name, y)), real, rec, loss_real))
        u_all = self._buffer_rows(o, max(self.spans)) if self.spans else None  # one copy; the smaller spans are its tail
        for m in self.spans:
            t0 = time.perf_counter()
            n_before = min(m, o)
            u = u_all[u_all.shape[0] - n_before:]
            g0 = rec["gram"].shape[0] - n_before
            g = rec["gram"][g0:, g0:]
            proj, coef = span_projection(u, real, gram=g)
            self.time["span"] += time.perf_counter() - t0
            heldout = self._heldout(rec["theta"] + proj)
            in_cells = (span_name(m), y) in self.cells
            search = self._search(rec["theta"], proj) if in_cells else None
            entry = {"ready": True, "error": None, "delta": proj, "heldout": heldout, "search": search,
                     "uncertainty": None, "loss_path": None,
                     "variants": self._variants(rec["theta"], proj) if in_cells else None}
            row = self._row(base, span_name(m), "span_oracle", entry, real, rec, loss_real)
            row["span_m"], row["span_updates"] = m, int(n_before)
            self._write(row)

    def _row(self, base: dict, name: str, kind: str, entry: dict, real: torch.Tensor, rec: dict,
             loss_real: np.ndarray) -> dict:
        t0 = time.perf_counter()
        row = {**base, "predictor": name, "kind": kind, "ready": entry["ready"], "error": entry["error"]}
        delta = entry["delta"]
        if delta is None:  # no rollout: the row says so and carries no scores
            self.time["scores"] += time.perf_counter() - t0
            return row
        path = entry.get("loss_path")
        row["uncertainty"] = entry.get("uncertainty")
        if "steps_replaced" in entry:
            row["steps_replaced"] = entry["steps_replaced"]
        if entry.get("diagnostics"):
            row["diagnostics"] = entry["diagnostics"]
        if "verify_forward_passes" in entry:
            row["verify_forward_passes"] = entry["verify_forward_passes"]
        row["loss_forecast"] = path
        row["loss_forecast_end"] = path[-1] if path else None
        dm = delta_metrics(self._dict(delta), self._dict(real), threshold=self.threshold)
        n_pred = float(torch.linalg.vector_norm(delta))
        row.update(delta_norm_pred=n_pred,
                   norm_ratio=n_pred / base["delta_norm_real"] if base["delta_norm_real"] > 0 else None,
                   cosine=_num(dm["cosine"]), rel_l2=_num(dm["rel_l2"]), pearson_r=_num(dm["pearson_r"]),
                   per_layer_accuracy=_num(dm["per_layer_accuracy"]),
                   per_tensor_cosine={k: _num(v) for k, v in dm["per_tensor_cosine"].items()})
        gain_real = rec["loss0"] - loss_real
        gain = rec["loss0"] - entry["heldout"]
        ratio, se = _ratio_se(gain, gain_real)
        row.update(heldout_pred=float(entry["heldout"].mean()), gain_pred=float(gain.mean()),
                   progress=_num(ratio), progress_se=_num(se))
        s = entry["search"]
        if s is not None:
            g = rec["loss0"] - s["heldout"]
            r, se = _ratio_se(g, gain_real)
            row["search"] = {"scales": s["scales"], "heldout_pred": float(s["heldout"].mean()),
                             "gain_pred": float(g.mean()), "progress": _num(r), "progress_se": _num(se),
                             "search_loss_before": s["search_loss_before"],
                             "search_loss_after": s["search_loss_after"], "search_batches": self.n_search,
                             "scales_tried": list(self.scales), "forward_passes": s["forward_passes"]}
        else:
            row["search"] = None
        if entry.get("variants"):
            row["search_variants"] = {k: self._gain_summary(rec["loss0"] - v["heldout"], rec, loss_real, v)
                                      for k, v in entry["variants"].items()}
        self.time["scores"] += time.perf_counter() - t0
        return row

    def _gain_summary(self, gain: np.ndarray, rec: dict, loss_real: np.ndarray, search: dict) -> dict:
        """A variant's result: its held-out gain, progress captured (over the real steps' gain) and cost."""
        r, se = _ratio_se(gain, rec["loss0"] - loss_real)
        return {"gain_pred": float(gain.mean()), "progress": _num(r), "progress_se": _num(se),
                "scales": search["scales"], "forward_passes": search["forward_passes"]}

    def _write(self, row: dict) -> None:
        super()._write(row)
        self.n_rows += 1
        for listen in self.listeners:  # e.g. the TensorBoard view (record.tensorboard)
            listen(row)

    # --- the end, checkpoints -----------------------------------------------------------------------

    def on_end(self, trainer, summary):
        summary["shadow_s"] = self.shadow_s
        summary["shadow_parts_s"] = dict(self.time)
        summary["shadow"] = {"file": SHADOW, "rows": self.n_rows, "origins": len(self.origins),
                             "forecast_origins": len(self.forecasts),
                             "predictors": self.names_pred, "span_oracle": self.spans, "horizons": self.horizons,
                             "eval_batches": self.n_eval, "search_batches": self.n_search,
                             "eval_tokens": self.n_eval * trainer.train_cfg["batch_size"] * trainer.model_cfg.context,
                             "search_cells": sorted([list(c) for c in self.cells])}
        summary["shadow"]["state_numbers"] = {n: int(state_size(p)[0]) for n, p in self.predictors.items()}
        if self.export_rssm:
            arrays, meta = export_stream(self.predictors["rssm"].model, self.seed)
            write_stream(self.folder / RSSM_STREAM, arrays, meta)
            summary["shadow"]["rssm_stream"] = {"file": RSSM_STREAM, "steps": int(arrays["obs"].shape[0])}
        super().on_end(trainer, summary)

    def state_dict(self, trainer, checkpointer):
        st = super().state_dict(trainer, checkpointer)
        pending = {}
        for o, rec in self.pending.items():
            preds = {f"{n}@{y}": {k: v for k, v in e.items()} for (n, y), e in rec["preds"].items()}
            pending[o] = {**{k: v for k, v in rec.items() if k != "preds"}, "preds": preds}
        st.update(predictors={n: p.state_dict() for n, p in self.predictors.items()}, buf=self._needed_rows(trainer.step),
                  recent_losses=list(self.recent_losses), pending=pending, pending_fc=dict(self.pending_fc),
                  time=dict(self.time),
                  shadow_s=self.shadow_s, n_rows=self.n_rows)
        return st

    def _needed_rows(self, step: int) -> tuple[list[int], torch.Tensor | None]:
        """The buffered updates a resumed run will still project on: those of the last ``max(m)`` steps
        before every pending origin and before the next origin (a checkpoint holds only these)."""
        if self.buf is None:
            return [], None
        m = max(self.spans)
        later = [o for o in self.origins if o >= step]
        starts = [o - m for o in self.pending] + ([later[0] - m] if later else [])
        if not starts:
            return [], None
        steps = [t for t in range(max(0, min(starts)), step) if self.buf_steps[t % self.buf_len] == t]
        rows = self.buf.index_select(0, torch.tensor([t % self.buf_len for t in steps], dtype=torch.long,
                                                     device=self.device)).cpu() if steps else None
        return steps, rows

    def on_resume(self, trainer, state, checkpointer):
        super().on_resume(trainer, state, checkpointer)
        self._setup(trainer)
        for n, p in self.predictors.items():
            p.load_state_dict(state["predictors"][n])
        if self.buf is not None:
            steps, rows = state["buf"]
            for t, row in zip(steps, rows if rows is not None else []):
                self.buf[int(t) % self.buf_len].copy_(row.to(self.device))
                self.buf_steps[int(t) % self.buf_len] = int(t)
        self.recent_losses.extend(state["recent_losses"])
        for o, rec in state["pending"].items():
            preds = {}
            for key, e in rec["preds"].items():
                n, y = key.rsplit("@", 1)
                preds[(n, int(y))] = {k: (v.to(self.device) if torch.is_tensor(v) else v) for k, v in e.items()}
            self.pending[int(o)] = {**{k: (v.to(self.device) if torch.is_tensor(v) and k == "theta" else v)
                                       for k, v in rec.items() if k != "preds"}, "preds": preds}
        self.pending_fc = {int(o): rec for o, rec in state["pending_fc"].items()}
        self.time, self.shadow_s, self.n_rows = dict(state["time"]), float(state["shadow_s"]), int(state["n_rows"])
