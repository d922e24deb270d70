"""The hybrid trainer: Warmup, then cycles of Full, Predict, Correct.

:class:`HybridTrainer` runs every predicted arm, whatever its predictor (any predictor of the
registry, :mod:`predictive_training.registry`; built by :func:`make_predictor`): the nominal
:class:`~predictive_training.phase_plan.PhasePlan`, one aggregate rollout per Predict phase (a
verifying predictor checks its own on held-aside batches and may end the phase early), the gate
(readiness; for skill-gated arms, measured skill on the last Full gap: :mod:`.gate`; rollout
uncertainty), the divergence guard (:mod:`.guard`), the per-layer correction, the predictor's state
bound (:func:`~predictive_training.dynamics.base.check_state_bound`, after every observation), and
resumable checkpoints through a :class:`~.position.Position`. Time is charged in one place
(:meth:`HybridTrainer._charged`: ``wall_s`` and its overhead buckets). The matched control is
:class:`~.loop.MatchedTrainer`. Design notes: ``docs/design.md``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from .. import registry
from ..config import arm_hybrid, arm_plan, arm_spec, predictor_options, skill_gated
from ..data.prepare import TokenData
from ..dynamics.base import PredictorContext, build_predictor, check_state_bound, state_size
from ..dynamics.corrector import LayerwiseLineSearch, group_parameters
from ..dynamics.footprint import STATE_BOUND
from ..dynamics.protocol import Observation, PredictedPhase, Predictor, verifies
from ..dynamics.simple import EmaDeltaPredictor, ZeroPredictor
from .gate import SkillGate
from .guard import DivergenceGuard
from .loop import Observer, Phase, StepInfo, Trainer, global_norm, lr_at
from .position import Correcting, Position
from .work import APPLY_DELTA, GUARD_RESTORE, PRE_PREDICT_SNAPSHOT, SKILL_CHECK, CountingCorrector, CountingPredictor

__all__ = [
    "HybridTrainer",
    "make_predictor",
    "VERIFY_OFFSET",
]

#: The held-aside batches of a verified extrapolation's checks are training windows of the batch
#: stream beyond the step budget: steps ``T + VERIFY_OFFSET + cycle * batches + i`` (no run of the
#: study trains on them; far from the Correct phase's own beyond-budget batches).
VERIFY_OFFSET = 1_000_000


def make_predictor(cfg: Mapping, name: str, model: torch.nn.Module, params: Mapping[str, torch.Tensor], seed: int,
                   files: Mapping[str, str] | None = None, arm: str | None = None) -> Predictor:
    """The predictor ``name`` (a registry name or arm kind, :mod:`predictive_training.registry`) for a
    run of ``seed``, built with the config's options for it (``arm``: that arm's, with its
    ``arms.<arm>.options``). ``files``: the trained models of a leave-one-seed-out predictor
    (``{"nowcaster": path}``), made for this ``seed``."""
    spec = registry.lookup(name)
    ctx = PredictorContext(model, params, cfg, int(seed), dict(files or {}))
    return build_predictor(spec, ctx, predictor_options(dict(cfg), spec.name, arm))


# ----------------------------------------------------------------------------------------------
# the trainers
# ----------------------------------------------------------------------------------------------


class HybridTrainer(Trainer):
    """Phase-scheduled training for the predicted arms (an arm whose kind is a registered predictor).

    ``predictor``: inject one (tests); default: :func:`make_predictor` for the arm's kind (with
    ``files``, the models of a leave-one-seed-out predictor such as ``nowcaster``).
    """

    def __init__(self, cfg: dict, data: TokenData, arm: str, seed: int, observers: list[Observer] = (),
                 predictor: Predictor | None = None, files: Mapping[str, str] | None = None):
        super().__init__(cfg, data, arm, seed, observers)
        arm_cfg = cfg["arms"][arm]
        self.kind = arm_cfg["kind"]
        if "prediction_ratio" not in arm_cfg:
            raise ValueError(f"config key 'arms.{arm}.prediction_ratio' is required for kind {self.kind!r}")
        h = self.hcfg = arm_hybrid(cfg, arm)  # the study's hybrid block, the arm's corrector merged in
        self.plan = arm_plan(cfg, arm)
        self.spec = arm_spec(cfg, arm)
        self.predictor = predictor or make_predictor(cfg, self.kind, self.model, self.params, seed, files, arm)
        self.n_params = sum(p.numel() for p in self.params.values())
        self.state_max = 0.0  # the most numbers growing with the model the predictor held after an observation
        self.n_verify_batches = int(h["verified"]["batches"])
        self._owed = 0  # steps of a Predict slot that a verified extrapolation left: run Full (docs/design.md)
        # a verified extrapolation's Predict phases: checks' forward passes, early and empty ends
        self.verify_stats = {"phases": 0, "forward_passes": 0, "steps_replaced": 0, "early_ends": 0,
                             "empty_ends": 0}
        hc = h["corrector"]
        self.corrector = LayerwiseLineSearch(group_parameters(self.params, hc.get("groups", "block")), hc["scales"],
                                             hc["trials"], hc["evidence_z"])
        self.n_search_batches = int(hc["batches"])
        self.n_probe_batches = int(hc["probe_batches"])
        g = h["guard"]
        self.guard = DivergenceGuard(g["window"], g["spike_sigma"], g["grad_explosion_factor"])
        self.fallback_steps = int(g["fallback_steps"])
        self.max_uncertainty = float(h["gate"]["max_uncertainty"])
        # the gate from measured skill (skill-gated arms only, config.skill_gated: the RSSM's by default;
        # the controls keep the nominal schedule)
        gc = h["gate"]
        self.skill: SkillGate | None = None
        self.reference: Predictor | None = None
        if skill_gated(cfg, arm):
            self.skill = SkillGate(gc["statistic"], gc["reference"], gc["margin"])
            ref = (EmaDeltaPredictor(1.0 - float(gc["ema_alpha"])) if gc["reference"] == "ema_of_deltas"
                   else ZeroPredictor(self.params))
            self.reference = CountingPredictor(ref, self.work, prefix="reference_")
        self.gate_block_reasons: dict[str, int] = {}
        self._phase: Phase | None = None
        self._position: Position | None = None  # where the phase machine stands (checkpoints)
        self._resume_at: Position | None = None  # the position to continue from after restore()
        self._snapshot: dict | None = None
        self._fallback_left = 0
        self._interrupted = False
        self.cycle = 0
        self.n_rollouts = 0
        self.n_gate_blocks = 0
        self.n_guard_events = 0
        self.n_restores = 0
        self.n_corrections = 0
        self.predict_steps_reverted = 0
        self.guard_log: list[dict] = []  # every guard event: step, reason, phase, action
        # Exp 5's probe after the search and after the Correct steps: measurement, not training work
        # (like validation: outside wall_s and forward_passes, counted here)
        self.probe_forward_passes = 0
        self.probe_s = 0.0
        # seconds inside the training clock spent on each hybrid overhead (a breakdown of wall_s)
        self.overhead_s = {"guard_and_observe": 0.0, "rollout": 0.0, "snapshot_and_apply": 0.0,
                           "heldout_loss": 0.0, "line_search": 0.0, "skill_check": 0.0}

    # --- counted work (training/work.py): the predictor and the line search count themselves -------

    @property
    def predictor(self) -> Predictor:
        return self._predictor

    @predictor.setter
    def predictor(self, p: Predictor) -> None:
        self._predictor = p if isinstance(p, CountingPredictor) else CountingPredictor(p, self.work)

    @property
    def corrector(self) -> LayerwiseLineSearch:
        return self._corrector

    @corrector.setter
    def corrector(self, c) -> None:
        self._corrector = c if isinstance(c, CountingCorrector) else CountingCorrector(c, self.work)

    def work_counts(self) -> dict[str, int]:
        out = super().work_counts()
        if self.n_restores:
            out[GUARD_RESTORE] = self.n_restores
        return out

    # --- the loop: warmup, then cycles of Full, Predict, Correct ------------------------------------

    def run(self) -> dict:
        if self._begin():
            self.emit({"event": "plan", "kind": self.kind, "prediction_ratio": self.plan.ratio,
                       "horizon": self.plan.horizon, "correct_steps": self.plan.correct,
                       "cycles": self.plan.cycles, "full_steps_mean": self.plan.full_mean,
                       "predictor": self.predictor.name})
        while self.step < self._total():
            self._interrupted = False
            pos, self._resume_at = self._resume_at or self._next_unit(), None
            if pos.unit == "cycle":
                self._cycle(pos)
                self.cycle += 1
            else:
                self._run_steps(pos, Phase.WARMUP if pos.unit == "warmup" else Phase.FULL)
        self._position = None
        summary = self.summary()
        for obs in self.observers:
            obs.on_end(self, summary)
        return summary

    def _next_unit(self) -> Position:
        """What follows the unit that ended (or that the guard cut short)."""
        T, W = self._total(), self.train_cfg["warmup_steps"]
        if self.step < W:
            return Position("warmup", W - self.step)
        if self._fallback_left > 0:
            n, self._fallback_left = self._fallback_left, 0
            return Position("fallback", n)
        if self.plan.ratio == 0:
            return Position("plain", T - self.step)
        if self.cycle >= self.plan.cycles:  # after the plan's last cycle: Full to the end
            self._owed = 0
            return Position.in_cycle("full_only", T - self.step)
        # the steps a verified extrapolation's early end left of the last Predict slot run Full first,
        # so every later phase starts at its nominal step
        n, self._owed = self.plan.full_len(self.cycle) + self._owed, 0
        return Position.in_cycle("full", n)

    def _cycle(self, pos: Position) -> None:
        """Cycle ``self.cycle`` from ``pos``: its Full gap, then Predict, then Correct (the held-aside
        loss after Predict, the guard on it and the line search, then the real Correct steps). When no
        prediction is applied (no room before the budget's end, the gate blocked it, or a verified
        extrapolation kept nothing) the Predict and Correct slots run Full."""
        if pos.stage == "full":
            self._begin_skill(pos)
            self._run_steps(pos, Phase.FULL)
            if self._interrupted or self.step >= self._total():
                return
            self._end_skill()
            start = self.step
            pred = self._predict()
            if pred is None:
                slots = min(self.plan.horizon + self.plan.correct, self._total() - self.step)
                pos = Position.in_cycle("full_only", slots)
            else:
                pos = self._begin_correct(pred, start)
                if pos is None:  # the guard fired on the held-aside loss after the Predict phase
                    return
        if pos.stage == "correct":
            self._correct(pos)
        else:
            self._run_steps(pos, Phase.FULL)

    # --- the phases -------------------------------------------------------------------------------

    def _predict(self) -> PredictedPhase | None:
        """The Predict phase: one rollout, the gate, the predicted delta applied over Y steps. Returns
        the applied prediction, or None when none was applied: no room for Predict and Correct before
        the budget's end, the gate blocked it, or a verified extrapolation kept nothing."""
        Y, C = self.plan.horizon, self.plan.correct
        if self._total() - self.step < Y + C:  # no room for Predict + Correct: run Full to the end
            return None
        self._position = Position.in_cycle("predict")
        pred = self._rollout_and_gate()
        if pred is None:
            return None
        if self._replaced(pred) == 0:  # a verified extrapolation whose first check already failed
            self._empty_prediction(pred)
            return None
        self._owed = Y - self._replaced(pred)
        self._apply(pred)
        return pred

    def _replaced(self, pred: PredictedPhase) -> int:
        """Steps the prediction replaces: ``Y``, or fewer after a verified extrapolation's early end."""
        return self.plan.horizon if pred.steps is None else int(pred.steps)

    def _predict_once(self, horizon: int, lrs: Sequence[float], seed: int) -> PredictedPhase:
        """The predictor's one prediction for a Predict phase: its rollout, or for a verifying
        predictor its verified rollout on held-aside batches."""
        if verifies(self.predictor):
            return self.verified_rollout(horizon, lrs, seed)
        return self.predictor.rollout(horizon, lrs, seed=seed)

    def verify_steps(self) -> list[int]:
        """The batch-stream steps of this cycle's held-aside batches for verified extrapolation's
        checks: ``hybrid.verified.batches`` windows beyond the step budget (:data:`VERIFY_OFFSET`)."""
        base = self._total() + VERIFY_OFFSET + self.cycle * self.n_verify_batches
        return list(range(base, base + self.n_verify_batches))

    def verified_rollout(self, horizon: int, lrs: Sequence[float], seed: int,
                         heldout_loss: Callable[[Sequence[int]], float] | None = None) -> PredictedPhase:
        """Verified extrapolation (``dynamics/verified.py``): the predictor steps from the current
        weights and asks for the held-aside loss of each candidate; every check is
        ``hybrid.verified.batches`` forward passes, counted in ``forward_passes`` (training work,
        inside ``wall_s``). The weights are back at the origin afterwards. ``heldout_loss(steps)``
        replaces the held-aside loss of the batches at ``steps`` (the calibration times the rollout
        with a stand-in that runs no forward pass); default: the trainer's own."""
        steps = self.verify_steps()
        origin = {n: p.detach().clone() for n, p in self.params.items()}
        f0 = self.forward_passes
        measure = heldout_loss or self._heldout_loss

        def loss_at(delta: Mapping[str, torch.Tensor]) -> float:
            with torch.no_grad():
                for n, p in self.params.items():
                    p.copy_(origin[n])
                    if n in delta:
                        p.add_(delta[n].to(device=p.device, dtype=p.dtype))
            return measure(steps)

        try:
            pred = self.predictor.verified_rollout(horizon, lrs, seed, loss_at)
        finally:
            with torch.no_grad():
                for n, p in self.params.items():
                    p.copy_(origin[n])
        s = self.verify_stats
        s["phases"] += 1
        s["forward_passes"] += self.forward_passes - f0
        pred.diagnostics = {**pred.diagnostics, "heldaside_steps": steps, "forward_passes": self.forward_passes - f0}
        return pred

    def _empty_prediction(self, pred: PredictedPhase) -> None:
        """A verified extrapolation that kept no increment: nothing is applied, the slot runs Full."""
        self.verify_stats["empty_ends"] += 1
        self.emit({"event": "prediction", "cycle": self.cycle, "horizon": self.plan.horizon,
                   "predictor": self.predictor.name, "steps_replaced": 0, "predicted_delta_norm": 0.0,
                   "diagnostics": pred.diagnostics, "note": "the first check did not lower the held-aside "
                   "loss: nothing applied; the Predict and Correct slots run Full"})

    def _rollout_and_gate(self) -> PredictedPhase | None:
        """One aggregate Y-step rollout; None when the gate blocks it (a ``gate`` event either way):
        the predictor is not ready, its measured skill on the last Full gap does not beat the
        reference (hybrid arms; no rollout then), or the rollout's uncertainty is not finite or
        above ``hybrid.gate.max_uncertainty``."""
        k, Y = self.cycle, self.plan.horizon
        with self._charged("rollout"):
            start = self.step
            lrs = [lr_at(start + i, self.train_cfg) for i in range(Y)]
            ready = self.predictor.ready()
            skilled, why = self.skill.decision() if self.skill is not None else (True, None)
            pred = None
            if ready and skilled:
                pred = self._predict_once(Y, lrs, self.seed * 1_000_003 + start)
                self.n_rollouts += 1
        unc = pred.uncertainty if pred is not None else float("nan")
        if not ready:
            block = "predictor_not_ready"
        elif not skilled:
            block = "skill_" + why
        elif not math.isfinite(unc):
            block = "uncertainty_not_finite"
        elif unc > self.max_uncertainty:
            block = "uncertainty_above_threshold"
        else:
            block = None
        event = {"event": "gate", "cycle": k, "uncertainty": _json(unc), "threshold": self.max_uncertainty,
                 "decision": "full" if block else "predict", "reason": block}
        if self.skill is not None:
            event["skill"] = _json_tree(self.skill.to_event())
        self.emit(event)
        if block:
            self.n_gate_blocks += 1
            self.gate_block_reasons[block] = self.gate_block_reasons.get(block, 0) + 1
            return None
        return pred

    def _begin_skill(self, pos: Position) -> None:
        """At the start of a cycle's Full gap (not when resuming inside it): the predictor's and the
        reference's forecasts of the gap's delta, at the gap's length, and the weights now."""
        if self.skill is None or self.skill.cycle == self.cycle or pos.left < 1:
            return
        with self._charged("skill_check"):
            F, start = pos.left, self.step
            lrs = [lr_at(start + i, self.train_cfg) for i in range(F)]
            seed = self.seed * 1_000_003 + start + 999_983  # not a Predict phase's rollout seed
            pred = self.predictor.rollout(F, lrs, seed=seed).delta if self.predictor.ready() else None
            ref = (self.reference.rollout(F, lrs, seed=seed).delta if self.reference.ready()
                   else {n: torch.zeros_like(p) for n, p in self.params.items()})
            self.skill.begin(self.cycle, start, F, {n: p.detach() for n, p in self.params.items()}, pred, ref)
            self.work[SKILL_CHECK] += 1  # begin and end of one gap; the two rollouts count themselves

    def _end_skill(self) -> None:
        """At the end of the Full gap: score the two forecasts against the real delta."""
        if self.skill is None:
            return
        with self._charged("skill_check"):
            self.skill.end(self.step, {n: p.detach() for n, p in self.params.items()})

    def _apply(self, pred: PredictedPhase) -> None:
        """The predicted delta added to the weights at once, then the Y Predict steps (no passes; fewer
        after a verified extrapolation's early end)."""
        k, Y = self.cycle, self.plan.horizon
        n_steps = self._replaced(pred)
        if pred.steps is not None:
            self.verify_stats["steps_replaced"] += n_steps
            self.verify_stats["early_ends"] += int(n_steps < Y)
        with self._charged():
            with self._charged("snapshot_and_apply", wall=False):
                _check_delta(pred.delta, self.params)
                self.take_snapshot()
                with torch.no_grad():
                    for n, p in self.params.items():
                        p.add_(pred.delta[n].to(device=p.device, dtype=p.dtype))
                self.work[APPLY_DELTA] += 1
                applied = global_norm(pred.delta)
            path = np.asarray(pred.loss_path, dtype=np.float64)
            self.emit({"event": "prediction", "cycle": k, "horizon": Y, "predictor": self.predictor.name,
                       "predicted_loss_start": _json(path[0]), "predicted_loss_end": _json(path[-1]),
                       "predicted_loss_path": [_json(v) for v in path],
                       "predicted_loss_q05_end": _json(pred.loss_q05[-1]) if pred.loss_q05 is not None else None,
                       "predicted_loss_q95_end": _json(pred.loss_q95[-1]) if pred.loss_q95 is not None else None,
                       "predicted_delta_norm": _json(applied), "uncertainty": _json(pred.uncertainty),
                       "steps_replaced": n_steps, "diagnostics": pred.diagnostics,
                       "loss_recent_mean": _json(float(np.mean(self.guard.losses))) if self.guard.losses else None})
            self._enter(Phase.PREDICT)
        for i in range(n_steps):
            with self._charged():  # the Predict step's bookkeeping (its row is recorded as every step's)
                lr = lr_at(self.step, self.train_cfg)
                self.predict_steps += 1
                info = StepInfo(step=self.step, phase=Phase.PREDICT.value, loss=None, lr=lr, grad_norm=None,
                                backward=False, wall_s=0.0, tokens=self.tokens,
                                delta_norm=applied if i == 0 else 0.0)
            self._finish_step(info, None, pred.delta if i == 0 else None)

    def held_aside_steps(self, start: int, skipped_steps: int | None = None) -> tuple[list[int], list[int]]:
        """The batches (batch-stream steps) held aside after the Predict phase that began at ``start``
        and skipped ``skipped_steps`` steps (default ``Y``; fewer after a verified extrapolation's
        early end).

        ``probe``: the LAST ``hybrid.corrector.probe_batches`` skipped Predict batches. Exp 5 scores
        the correction on them, and the baseline's training loss on the same batch at the same step
        (measured, like the probe, before any training on it, at most ``probe_batches`` steps before
        the end of the Predict phase) is the reference for the prediction's shortfall. ``search``:
        the batches the line search decides on, disjoint from ``probe``: the first skipped Predict
        batches, topped up, when the Predict phase skipped too few, with batches of the stream
        beyond the step budget (steps ``T + cycle * batches + i``): fresh random training windows
        that no run of the study ever trains on, the same for every arm at a given cycle.
        """
        Y, T = self.plan.horizon if skipped_steps is None else int(skipped_steps), self._total()
        n_p, n_s = min(self.n_probe_batches, Y), self.n_search_batches
        probe = list(range(start + Y - n_p, start + Y))
        skipped = min(n_s, Y - n_p)
        search = list(range(start, start + skipped))
        search += [T + self.cycle * n_s + i for i in range(n_s - skipped)]
        return probe, search

    def _begin_correct(self, pred: PredictedPhase, start: int) -> Position | None:
        """The start of the Correct phase after the Predict phase that began at ``start``: the held-aside
        loss (``prediction_outcome``), the guard on it, the per-layer line search, and the probe loss
        right after it (no real step in between); returns the position of the Correct phase's real
        steps (None if the guard fired)."""
        k, C = self.cycle, self.plan.correct
        probe, search = self.held_aside_steps(start, self._replaced(pred))
        with self._charged():
            with self._charged("heldout_loss", wall=False):
                after_predict = self._heldout_loss(probe)  # training work: the guard checks it
            path = np.asarray(pred.loss_path, dtype=np.float64)
            self.emit({"event": "prediction_outcome", "cycle": k, "predicted_loss_end": _json(path[-1]),
                       "actual_loss": _json(after_predict), "actual_is": "held-aside loss after the Predict phase",
                       "heldout_steps": probe,
                       "abs_error": _json(abs(path[-1] - after_predict)) if math.isfinite(after_predict) else None})
            reason = self.guard.check_loss(after_predict)
            if reason is not None:
                self.predict_steps_reverted += self.plan.horizon
                self._diverged("predict_" + reason, after_predict, where=Phase.PREDICT.value)
                return None
            with self._charged("line_search", wall=False):
                corr = self.corrector.correct(self.params, pred.delta, lambda: self._batch_losses(search))
        after_search = self._probe_loss(probe)  # measurement only (Exp 5)
        # from here on the cycle needs only this small record, so Correct steps are checkpointable
        return Position.in_cycle("correct", C, Correcting(probe, search, after_predict, after_search,
                                                          corr.to_event()))

    def _correct(self, pos: Position) -> None:
        """The Correct phase's real steps (``pos.left`` still to run), then the probe loss after them
        and the ``correction`` event: the probe loss right after Predict, right after the search and
        after the Correct steps (``docs/design.md``, Exp 5)."""
        k, C, rec = self.cycle, self.plan.correct, pos.correcting
        self._run_steps(pos, Phase.CORRECT)
        a, b = rec.loss_after_predict, rec.loss_after_search
        event = {"event": "correction", "cycle": k, **rec.correction, "correct_steps": C,
                 "probe_steps": rec.probe, "search_steps": rec.search,
                 "loss_after_predict": _json(a), "loss_after_search": _json(b),
                 # the correction's own before/after: the search, no real step in between
                 "loss_before": _json(a), "loss_after": _json(b),
                 "relative_reduction": _json((a - b) / a) if a > 0 and math.isfinite(a - b) else None}
        if self._interrupted:
            self.emit({**event, "loss_after_correct": None, "diverged": True})
            return
        after_correct = self._probe_loss(rec.probe)  # measurement only (Exp 5)
        self.n_corrections += 1
        self.emit({**event, "loss_after_correct": _json(after_correct), "diverged": False})

    # --- real steps: count down, observe, guard ------------------------------------------------------

    def _run_steps(self, pos: Position, phase: Phase) -> None:
        """Up to ``pos.left`` real steps; stops early at the budget's end or when the guard fires.
        Counts the steps down in ``pos`` and offers a checkpoint after each step."""
        self._position = pos
        for _ in range(pos.left):
            if self.step >= self._total() or self._interrupted:
                return
            self._enter(phase)
            self.full_step(phase)
            pos.count_step()
            self._at_boundary()

    def checkpointable(self) -> bool:
        # not after a guard restore inside the unit (the unit ends first), not inside Predict
        return not self._interrupted and self._position is not None and self._position.checkpointable

    def _enter(self, phase: Phase) -> None:
        if phase != self._phase:
            self.emit({"event": "phase", "from": self._phase.value if self._phase else None, "to": phase.value,
                       "cycle": self.cycle})
            self._phase = phase

    def _total(self) -> int:
        return self.train_cfg["steps"]

    @property
    def guard_armed(self) -> bool:
        """The guard checks only while a prediction can be undone: from a Predict phase (which takes
        the snapshot) until a restore. Before the first Predict phase the ordinary rise of gradient
        norms in warmup would fire it and cost Full steps for nothing; after a restore, firing again
        would restore the same snapshot and discard the fallback's real steps (a cascade of restores
        to one snapshot)."""
        return self._snapshot is not None

    @contextlib.contextmanager
    def _charged(self, bucket: str | None = None, wall: bool = True):
        """The one place where the hybrid trainer charges time: the block's seconds go to the training
        clock ``wall_s`` (unless ``wall`` is False: a part of a block that is charged already) and to
        the overhead bucket ``bucket`` of ``overhead_s``, a breakdown of ``wall_s``. Real steps are
        charged by :class:`~.loop.Trainer`; measurements (validation, Exp 5's probe, the state bound,
        checkpoints) stay outside ``wall_s``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            if bucket is not None:
                self.overhead_s[bucket] += dt
            if wall:
                self.wall_s += dt

    def _finish_step(self, info: StepInfo, grads, update) -> StepInfo:
        if not info.backward:
            return super()._finish_step(info, grads, update)
        with self._charged("guard_and_observe"):
            reason = None
            if self.guard_armed:
                reason = self.guard.check_loss(info.loss) or self.guard.check_grad(info.grad_norm)
            if reason is None:
                if math.isfinite(info.loss) and math.isfinite(info.grad_norm):  # unarmed: keep the history finite
                    self.guard.record(info.loss, info.grad_norm)
                    obs = self.observation(info, update)
                    self.predictor.observe(obs)
                    if self.reference is not None:
                        self.reference.observe(obs)
            else:
                info.extra["guard"] = reason
                self._diverged(reason, info.loss, where=info.phase)
        # the state bound: a safety check, not the method's work (outside the training clock)
        total, fixed = check_state_bound(self.predictor.inner, self.n_params, f"after observing step {info.step}")
        self.state_max = max(self.state_max, total - fixed)
        for event in getattr(self.predictor, "drain_events", lambda: [])():  # its learning curve
            self.emit(event)
        out = super()._finish_step(info, grads, update)
        if reason is not None and self.recent_losses and not math.isfinite(self.recent_losses[-1]):
            self.recent_losses.pop()  # keep the final-train-loss window finite
        return out

    def observation(self, info: StepInfo, update: dict[str, torch.Tensor]) -> Observation:
        """What a predictor observes of the real step ``info`` that applied ``update``: its loss,
        learning rate and gradients before clipping (``p.grad`` holds the CLIPPED gradient;
        ``Observation.of_step`` undoes the clip factor)."""
        return Observation.of_step(info.step, self._total(), info.loss, info.grad_norm, info.lr,
                                   {n: p.grad for n, p in self.params.items()}, self.train_cfg["grad_clip"], update)

    def _diverged(self, reason: str, loss: float | None, where: str) -> None:
        """Restore the pre-Predict snapshot, schedule the Full fallback, disarm, log. Only called
        when the guard is armed (a Predict phase took its snapshot, and no restore since)."""
        if self._snapshot is None:
            raise RuntimeError("the divergence guard fired before it was armed (no Predict phase yet)")
        self.n_guard_events += 1
        event = {"event": "guard", "reason": reason, "phase": where, "cycle": self.cycle,
                 "loss": _json(loss), "loss_threshold": _json(self.guard.loss_threshold())}
        self.restore_snapshot()
        self.n_restores += 1
        event.update(action="restore", restored_to_step=self._snapshot["step"],
                     fallback_steps=self.fallback_steps)
        self.guard_log.append({"step": self.step, "reason": reason, "phase": where, "action": "restore",
                               "fallback_steps": self.fallback_steps})
        # The prediction is undone: disarmed until the next Predict phase. Restoring the same snapshot
        # again would throw away the fallback's real steps (a cascade of restores to one snapshot).
        self._snapshot = None
        self._fallback_left = self.fallback_steps
        self._interrupted = True
        self.emit(event)

    def take_snapshot(self) -> None:
        """Keep the weights and AdamW's state aside before a Predict phase applies its delta (the
        divergence guard restores them; counted work ``pre_predict_snapshot``)."""
        self.work[PRE_PREDICT_SNAPSHOT] += 1
        self._snapshot = {
            "step": self.step,
            "weights": {n: p.detach().clone() for n, p in self.params.items()},
            "optim": {n: {k: _clone(v) for k, v in self.optimizer.state[p].items()}
                      for n, p in self.params.items() if p in self.optimizer.state},
        }

    def restore_snapshot(self) -> None:
        """Put the weights and AdamW's state of the last :meth:`take_snapshot` back (what the guard does
        on a divergence; counted work ``guard_restore``). The snapshot is kept."""
        with torch.no_grad():
            for n, p in self.params.items():
                p.copy_(self._snapshot["weights"][n])
        for n, p in self.params.items():
            st = self.optimizer.state[p]
            st.clear()
            st.update({k: _clone(v) for k, v in self._snapshot["optim"].get(n, {}).items()})

    # --- held-aside loss --------------------------------------------------------------------------

    @torch.no_grad()
    def _batch_losses(self, steps: Sequence[int], counted: bool = True) -> list[float]:
        """Loss (nats) of the training batch of each of ``steps`` (batch-stream steps held aside),
        forward only; ``counted``: in ``forward_passes`` (training work) or not (measurement)."""
        self.model.eval()
        vals = []
        for s in steps:
            x, y = self.batches.get(s)
            if counted:
                vals.append(float(self.forward_loss(x, y)))
            elif self.autocast is not None:
                with self.autocast:
                    vals.append(float(self.model.loss(x, y)))
            else:
                vals.append(float(self.model.loss(x, y)))
        self.model.train()
        return vals

    def _heldout_loss(self, steps: Sequence[int]) -> float:
        """Mean of :meth:`_batch_losses` (training work: inside ``wall_s`` and ``forward_passes``)."""
        return float(np.mean(self._batch_losses(steps)))

    def _probe_loss(self, steps: Sequence[int]) -> float:
        """Mean probe loss for Exp 5 alone: a measurement the method does not need, so, like
        validation, outside ``wall_s`` and ``forward_passes`` (``probe_s``, ``probe_forward_passes``)."""
        t0 = time.perf_counter()
        loss = float(np.mean(self._batch_losses(steps, counted=False)))
        self.probe_forward_passes += len(steps)
        self.probe_s += time.perf_counter() - t0
        return loss


    def summary(self) -> dict:
        s = super().summary()
        T, W = self._total(), self.train_cfg["warmup_steps"]
        s.update({
            "kind": self.kind,
            "prediction_ratio_achieved_after_warmup": self.predict_steps / (T - W),
            "prediction_ratio_nominal": self.plan.predict_steps / T,
            "plan": {"horizon": self.plan.horizon, "correct_steps": self.plan.correct, "cycles": self.plan.cycles,
                     "full_steps_mean": self.plan.full_mean,
                     "nominal_backward_passes": self.plan.backward_passes},
            "cycles": self.cycle,
            "rollouts": self.n_rollouts,
            "gate_blocks": self.n_gate_blocks,
            "gate_block_reasons": dict(self.gate_block_reasons),
            "predictor": self.predictor.summary() if hasattr(self.predictor, "summary") else {"name": self.predictor.name},
            "guard_events": self.n_guard_events,
            "restores": self.n_restores,
            "corrections": self.n_corrections,
            "predict_steps_reverted": self.predict_steps_reverted,
            "overhead_s": dict(self.overhead_s),
            "probe_forward_passes": self.probe_forward_passes,
            "probe_s": self.probe_s,
            # backward passes against the nominal plan, and what changed them (docs/design.md)
            "backward_passes_nominal": self.plan.backward_passes,
            "extra_backward_passes": self.backward_passes - self.plan.backward_passes,
            "extra_backward_causes": {"gate_blocks": self.n_gate_blocks, "guard_events": list(self.guard_log)},
            # what the predictor itself holds and did (cost hooks; docs/design.md)
            "predictor_state_numbers": _state_numbers(self.predictor.inner),
            "predictor_work": self.predictor.inner.work() if hasattr(self.predictor.inner, "work") else None,
            # the registry entry and the state against its bound (dynamics/base.py, checked after every observation)
            "predictor_provenance": registry.provenance(self.spec),
            "predictor_state": dict(zip(("numbers", "fixed_numbers"), state_size(self.predictor.inner)),
                                    max_growing_numbers=self.state_max, n_params=self.n_params,
                                    bound_numbers=STATE_BOUND * self.n_params),
            "skill_gate": self.skill is not None,
        })
        if verifies(self.predictor):
            s["verified"] = dict(self.verify_stats)
        return s

    # --- checkpoints ------------------------------------------------------------------------------

    _COUNTERS = ("cycle", "n_rollouts", "n_gate_blocks", "n_guard_events", "n_restores", "n_corrections",
                 "predict_steps_reverted", "_fallback_left", "probe_forward_passes", "_owed")
    _FLOATS = ("state_max",)

    def state_dict(self) -> dict:
        state = super().state_dict()
        if not hasattr(self.predictor, "state_dict"):
            raise TypeError(f"predictor {self.predictor.name!r} has no state_dict: this run cannot be checkpointed")
        state["hybrid"] = {
            **{k: getattr(self, k) for k in self._COUNTERS + self._FLOATS},
            "phase": self._phase.value if self._phase else None,
            "position": self._position.to_dict() if self._position is not None else None,
            "snapshot": self._snapshot,  # tensors are serialised at once by torch.save
            "guard": {"losses": list(self.guard.losses), "grad_norms": list(self.guard.grad_norms)},
            "overhead_s": dict(self.overhead_s),
            "probe_s": self.probe_s,
            "guard_log": [dict(e) for e in self.guard_log],
            "verify_stats": dict(self.verify_stats),
            "predictor": self.predictor.state_dict(),
            "corrector": self.corrector.state_dict(),
            "gate_block_reasons": dict(self.gate_block_reasons),
            "skill": self.skill.state_dict() if self.skill is not None else None,
            "reference": self.reference.state_dict() if self.reference is not None else None,
        }
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        h = state["hybrid"]
        for k in self._COUNTERS:
            setattr(self, k, int(h[k]))
        for k in self._FLOATS:
            setattr(self, k, float(h.get(k, 0.0)))
        self._phase = Phase(h["phase"]) if h["phase"] else None
        self._resume_at = Position.from_dict(h["position"]) if h["position"] is not None else None
        self._snapshot = snap = h["snapshot"]
        if snap is not None:  # the checkpoint was loaded onto the CPU: back to the parameters' device
            for n, p in self.params.items():
                snap["weights"][n] = snap["weights"][n].to(p.device)
            for n, st in snap["optim"].items():
                # AdamW keeps its step counter on the CPU (unless capturable/fused), the moments beside p
                dev = self.params[n].device
                snap["optim"][n] = {k: v.to(dev) if torch.is_tensor(v) and k != "step" else v for k, v in st.items()}
        self.guard.losses.clear()
        self.guard.losses.extend(h["guard"]["losses"])
        self.guard.grad_norms.clear()
        self.guard.grad_norms.extend(h["guard"]["grad_norms"])
        self.overhead_s = dict(h["overhead_s"])
        self.probe_s = float(h["probe_s"])
        self.guard_log = [dict(e) for e in h["guard_log"]]
        self.verify_stats = dict(h["verify_stats"])
        self.predictor.load_state_dict(h["predictor"])
        self.corrector.load_state_dict(h["corrector"])
        self.gate_block_reasons = dict(h["gate_block_reasons"])
        if self.skill is not None:
            self.skill.load_state_dict(h["skill"], device=next(iter(self.params.values())).device)
            self.reference.load_state_dict(h["reference"])


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def _check_delta(delta: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor]) -> None:
    """A predicted delta must name exactly the model's parameters, with their shapes."""
    if set(delta) != set(params):
        missing = sorted(set(params) - set(delta))[:5]
        extra = sorted(set(delta) - set(params))[:5]
        raise ValueError(f"predicted delta must be keyed by the model's parameter names; "
                         f"missing {missing}, unknown {extra}")
    for n, p in params.items():
        if tuple(delta[n].shape) != tuple(p.shape):
            raise ValueError(f"predicted delta[{n!r}] has shape {tuple(delta[n].shape)}, parameter has {tuple(p.shape)}")


def _state_numbers(predictor) -> int | None:
    """Numbers the predictor keeps between steps (``state_numbers()`` as it reports them; bounded by
    8 x N, ``dynamics/footprint.py``); None when it reports them as a breakdown (``predictor_state`` has the total)."""
    f = getattr(predictor, "state_numbers", None)
    v = f() if callable(f) else None
    return int(v) if isinstance(v, (int, float)) else None


def _clone(v):
    return v.detach().clone() if torch.is_tensor(v) else copy.deepcopy(v)


def _json_tree(x):
    """``x`` with every float made JSON-safe by :func:`_json` (dicts and lists walked)."""
    if isinstance(x, dict):
        return {k: _json_tree(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_tree(v) for v in x]
    return _json(x) if isinstance(x, float) else x


def _json(x) -> float | None:
    """A float for JSON: None for None, NaN and inf (strict JSON has neither)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
