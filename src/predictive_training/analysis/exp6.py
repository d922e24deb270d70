"""Experiment 6, the plan's pivot: loss prediction for early stopping in a hyperparameter search.

The sweep (``hpo.grid``, one run per configuration, ``hpo.seed``) records every configuration's
validation curve. Every policy is then judged on those recorded curves, so that each sees identical
curves and its result is exact and repeatable: for each random order of the configurations an Optuna
study is created (``optuna.create_study``), the order is fixed with ``enqueue_trial``, and the
objective replays the configuration's recorded curve through ``trial.report`` and
``trial.should_prune``. The pruners are Optuna's own (``MedianPruner``, ``SuccessiveHalvingPruner``,
``HyperbandPruner``, ``NopPruner`` for no stopping) and :class:`LawPruner`, an
``optuna.pruners.BasePruner`` that stops a trial when the final loss that a learning-curve law
(:mod:`.lc_predictors`) predicts from its curve so far exceeds the best completed trial's final loss
by more than a margin (the law's error on the best trial at the same point corrected; see the class). "The first k configurations fully" (the equal-compute baseline) is the prefix
of the no-stopping study of the same order: with ``NopPruner`` a study of ``k`` trials is exactly the
first ``k`` trials of the study of all of them.

The same :func:`run_study` runs the live studies (:func:`live_study`): there the objective trains the
configuration for real (the caller injects the trainer; analysis never imports it), in a SQLite
storage that ``optuna-dashboard`` opens, and :func:`agreement` compares its decisions with the replay
of the same order under the same study name (Hyperband assigns brackets by a hash of the study name
and trial number).

Per study: compute (steps trained over the exhaustive ``n x T``), regret (the chosen configuration's
final loss minus the best final loss of the set, in nats and as a share of the best), whether the
best was chosen. Also here: the configuration-set bootstrap (:func:`replay_resamples`), the laws'
predictions of the final loss at fixed shares of the budget (:func:`prediction_table`), Exp 2 across
the sweep (:func:`exp2_table`) and the seed noise of the top configurations (:func:`seed_noise`).
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing as mp
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from scipy import stats as _st

from ..io import read_jsonl
from ..records.jsonl import METRICS
from .lc_predictors import LAWS, PRIOR_WEIGHT, predict_final

__all__ = ["Curve", "CurvePredictor", "LawPruner", "StudyResult", "agreement", "curves_from_runs", "exp2_table",
           "live_study", "make_pruner", "min_points", "orders", "prefix_memo", "prediction_table", "read_curves", "replay", "replay_order",
           "replay_resamples", "run_study", "seed_noise", "write_curves"]

#: A function that runs configuration ``config`` and calls ``report(step, value)`` at every evaluation
#: (``step``: steps trained; ``value``: validation loss), then returns the final loss. ``report`` raises
#: ``optuna.TrialPruned`` to stop the run.
RunFn = Callable[[str, Callable[[int, float], None]], float]
#: ``predictor(config, steps, values) -> predicted final loss``. ``opts`` (where a function takes it) are the
#: laws' options ``decay`` and ``prior`` (``hpo.predictors``; :mod:`.lc_predictors`).
PredictFn = Callable[[str, Sequence[int], Sequence[float]], float]


# ----------------------------------------------------------------------------------- the curves
@dataclass
class Curve:
    """One configuration's recorded run: ``steps`` trained at each evaluation (1 .. ``total``),
    its validation losses ``values`` (NaN where a diverged run wrote null), ``lr`` of every step
    ``0 .. total-1``, the hyperparameters ``params`` and the run's ``seed``."""

    config: str
    params: dict
    seed: int
    steps: np.ndarray
    values: np.ndarray
    lr: np.ndarray
    total: int
    extra: dict = field(default_factory=dict)

    @property
    def final(self) -> float:
        """The validation loss after the whole budget (NaN if the run diverged)."""
        return float(self.values[-1]) if self.steps[-1] == self.total else math.nan

    def to_json(self) -> dict:
        return {"config": self.config, "params": self.params, "seed": self.seed, "total": self.total,
                "steps": self.steps.tolist(), "values": [None if not math.isfinite(v) else float(v) for v in self.values],
                "lr": self.lr.tolist(), "final": None if not math.isfinite(self.final) else self.final, **self.extra}


def curves_from_runs(runs: Mapping[str, str | Path], params: Mapping[str, dict], seed: int) -> dict[str, Curve]:
    """The curves of the run folders ``runs`` (configuration -> folder of ``metrics.jsonl`` and
    ``summary.json``): every row with a ``val_loss`` is an evaluation after ``step + 1`` steps."""
    import json

    out = {}
    for cid, folder in runs.items():
        rows = read_jsonl(Path(folder) / METRICS)
        summary = json.loads((Path(folder) / "summary.json").read_text())
        total = int(summary["steps"])
        lr = np.array([float(r["lr"]) for r in rows], dtype=float)
        if lr.size != total:
            raise ValueError(f"{folder}: {lr.size} metric rows for a budget of {total} steps")
        ev = [r for r in rows if "val_loss" in r]
        steps = np.array([int(r["step"]) + 1 for r in ev], dtype=int)
        values = np.array([math.nan if r["val_loss"] is None else float(r["val_loss"]) for r in ev], dtype=float)
        out[cid] = Curve(cid, dict(params[cid]), int(seed), steps, values, lr, total,
                         {"wall_s": summary.get("wall_s"), "cpu_s": summary.get("cpu_s"), "job_s": summary.get("job_s"),
                          # when the job started (seconds since the epoch): the summary's time less the job's
                          "started_at": (Path(folder) / "summary.json").stat().st_mtime - float(summary.get("job_s") or 0),
                          "initial_val_loss": summary.get("initial_val_loss"), "ln_vocab": summary.get("ln_vocab"),
                          "final_val_loss_se": summary.get("final_val_loss_se")})
    return out


def write_curves(curves: Mapping[str, Curve], extra: Mapping[str, Mapping[str, Curve]] | None = None) -> dict:
    """The JSON form of ``hpo/curves.json``: the sweep's curves and (``extra``) other seeds' runs."""
    return {"curves": [c.to_json() for c in curves.values()],
            "other_seeds": {str(k): [c.to_json() for c in v.values()] for k, v in (extra or {}).items()}}


def _curve(d: dict) -> Curve:
    keys = ("config", "params", "seed", "total", "steps", "values", "lr", "final")
    return Curve(d["config"], d["params"], int(d["seed"]), np.asarray(d["steps"], dtype=int),
                 np.array([math.nan if v is None else v for v in d["values"]], dtype=float),
                 np.asarray(d["lr"], dtype=float), int(d["total"]), {k: v for k, v in d.items() if k not in keys})


def read_curves(doc: dict) -> tuple[dict[str, Curve], dict[str, dict[str, Curve]]]:
    """``(curves, other_seeds)`` from the JSON form of :func:`write_curves`."""
    curves = {d["config"]: _curve(d) for d in doc["curves"]}
    other = {k: {d["config"]: _curve(d) for d in v} for k, v in doc.get("other_seeds", {}).items()}
    return curves, other


def orders(ids: Sequence[str], n: int, seed: int) -> list[list[str]]:
    """``n`` random orders (permutations) of ``ids``, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    ids = list(ids)
    return [[ids[i] for i in rng.permutation(len(ids))] for _ in range(n)]


# ----------------------------------------------------------------------------------- pruners
class CurvePredictor:
    """``predictor(config, steps, values)``: a law's predicted final loss for a curve so far, memoised
    (a fit depends only on the curve, so the replay fits each prefix of each curve once).

    ``schedules`` maps a configuration to the learning rate of each of its ``total`` steps. A label
    ``config#k`` (a duplicate in a resampled configuration set) uses ``config``'s schedule."""

    def __init__(self, law: str, schedules: Mapping[str, Sequence[float]], total: int, decay: float = 0.999,
                 prior: float = PRIOR_WEIGHT):
        if law not in LAWS:
            raise ValueError(f"law must be one of {sorted(LAWS)}, got {law!r}")
        self.law, self.total, self.decay, self.prior = law, int(total), float(decay), float(prior)
        self.schedules = {k: np.asarray(v, dtype=float) for k, v in schedules.items()}
        self.memo: dict[tuple, float] = {}
        self.used: dict[tuple, str] = {}

    def __call__(self, config: str, steps: Sequence[int], values: Sequence[float]) -> float:
        base = config.partition("#")[0]
        key = (base, tuple(int(s) for s in steps), np.asarray(values, dtype=float).tobytes())
        if key not in self.memo:
            pred = predict_final(self.law, steps, values, self.total, self.schedules.get(base), self.decay, self.prior)
            self.memo[key], self.used[key] = pred.value, pred.used
        return self.memo[key]


class LawPruner(optuna.pruners.BasePruner):
    """The margin rule: stop trial ``t`` after ``s`` steps when

        P_t(s) - P_b(s) > margin x L_b,

    where ``b`` is the completed trial with the lowest final loss ``L_b`` and ``P_x(s)`` is the law's
    prediction of ``x``'s final loss from ``x``'s evaluations up to step ``s`` (the same law, the same
    evaluation steps). Equivalently: the trial's prediction, corrected by the law's error on the best
    trial at the same point (``L_b - P_b(s)``), exceeds the best final loss by more than the margin. A
    bias that every curve shares (the final drop of the cosine decay, which no law fitted on an early
    curve can see) cancels; compared with ``L_b`` itself, it would count as a gap and stop every trial.
    Never before the trial has reported ``min_points`` evaluations, never before a trial has
    completed, never at the budget's last step."""

    def __init__(self, predictor: PredictFn, margin: float, min_points: int, total: int):
        if margin < 0 or min_points < 1:
            raise ValueError(f"margin must be >= 0 and min_points >= 1, got {margin}, {min_points}")
        self.predictor, self.margin, self.min_points, self.total = predictor, float(margin), int(min_points), int(total)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        values = trial.intermediate_values
        if len(values) < self.min_points:
            return False
        last = max(values)
        if last >= self.total:
            return False
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            return False
        best = min(done, key=lambda t: (t.value, t.number))
        steps = sorted(values)
        mine = self.predictor(trial.params["config"], steps, [values[s] for s in steps])
        b_steps = sorted(s for s in best.intermediate_values if s <= last)
        theirs = self.predictor(best.params["config"], b_steps, [best.intermediate_values[s] for s in b_steps])
        return mine - theirs > self.margin * best.value


def make_pruner(spec: Mapping, total: int, predictors: Mapping[str, PredictFn] | None = None) -> optuna.pruners.BasePruner:
    """The Optuna pruner of a policy spec (:func:`predictive_training.config.hpo_policies`)."""
    family = spec["family"]
    if family == "none":
        return optuna.pruners.NopPruner()
    if family == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec["n_startup_trials"], n_warmup_steps=spec["n_warmup_steps"])
    if family == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=spec["min_resource"],
                                                      reduction_factor=spec["reduction_factor"])
    if family == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=spec["min_resource"], max_resource=int(total),
                                              reduction_factor=spec["reduction_factor"])
    if family in LAWS:
        if not predictors or spec["law"] not in predictors:
            raise ValueError(f"policy family {family!r} needs a predictor for law {spec['law']!r}")
        return LawPruner(predictors[spec["law"]], spec["margin"], spec["min_points"], total)
    raise ValueError(f"unknown policy family {family!r}")


# ----------------------------------------------------------------------------------- one study
@dataclass
class StudyResult:
    """The trials of one study, in order: ``config``, ``state`` (complete | pruned), ``steps`` (steps
    trained), ``value`` (the final loss of a complete trial, else None), ``diverged``."""

    study_name: str
    policy: str
    trials: list[dict]

    def decisions(self) -> list[tuple[str, str, int]]:
        """``(config, state, steps)`` per trial: what a live and a replayed study must agree on."""
        return [(t["config"], t["state"], t["steps"]) for t in self.trials]


def quiet_optuna() -> None:
    """Silence Optuna's per-trial log lines and experimental warnings (batch replays)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def run_study(order: Sequence[str], spec: Mapping, run: RunFn, total: int, study_name: str, policy: str = "",
              predictors: Mapping[str, PredictFn] | None = None, storage: str | None = None) -> StudyResult:
    """One Optuna study over ``order`` (enqueued in that order) with the policy ``spec``'s pruner.

    The objective suggests ``config`` (categorical over the order's labels, fixed by the enqueued
    trial), calls ``run(config, report)``; ``report`` records the steps trained, stops a run whose
    value is not finite (a diverged run: pruned, never chosen) and otherwise calls ``trial.report``
    and ``trial.should_prune``. ``storage`` (e.g. ``sqlite:///file.db``) keeps the study."""
    labels = list(order)
    sampler = optuna.samplers.RandomSampler(seed=0)  # never consulted: every trial is enqueued
    study = optuna.create_study(direction="minimize", pruner=make_pruner(spec, total, predictors), sampler=sampler,
                                study_name=study_name, storage=storage, load_if_exists=False)
    for label in labels:
        study.enqueue_trial({"config": label})

    def objective(trial: optuna.Trial) -> float:
        config = trial.suggest_categorical("config", labels)
        seen = {"steps": 0, "diverged": False}

        def report(step: int, value: float) -> None:
            seen["steps"] = int(step)
            if not math.isfinite(value):
                seen["diverged"] = True
                raise optuna.TrialPruned(f"diverged at step {step}")
            trial.report(float(value), int(step))
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step}")

        try:
            return float(run(config, report))
        finally:
            trial.set_user_attr("steps", seen["steps"])
            trial.set_user_attr("diverged", seen["diverged"])

    study.optimize(objective, n_trials=len(labels), catch=())
    trials = []
    for t in study.get_trials(deepcopy=False):
        trials.append({"number": t.number, "config": t.params["config"], "state": t.state.name.lower(),
                       "steps": int(t.user_attrs.get("steps", 0)), "diverged": bool(t.user_attrs.get("diverged", False)),
                       "value": t.value if t.state == TrialState.COMPLETE else None})
    return StudyResult(study_name, policy, trials)


def replay_run(curves: Mapping[str, Curve]) -> RunFn:
    """The replay's ``run``: report a configuration's recorded evaluations (a label ``config#k``
    replays ``config``) and return its final loss."""
    def run(config: str, report: Callable[[int, float], None]) -> float:
        c = curves[config.partition("#")[0]]
        for s, v in zip(c.steps, c.values):
            report(int(s), float(v))
        return c.final

    return run


# ----------------------------------------------------------------------------------- outcomes
def outcome(result: StudyResult, finals: Mapping[str, float], total: int) -> dict:
    """Compute, regret and choice of one study. ``finals``: label -> final loss of every configuration
    of the set (the best of the set is its finite minimum)."""
    best = min(v for v in finals.values() if math.isfinite(v))
    done = [t for t in result.trials if t["state"] == "complete" and t["value"] is not None and math.isfinite(t["value"])]
    steps = sum(t["steps"] for t in result.trials)
    if done:
        chosen = min(done, key=lambda t: t["value"])["config"]
        regret = float(finals[chosen] - best)
    else:  # no complete trial (none of the study's pruners does this): the worst of the set, flagged
        chosen, regret = None, float(max(v for v in finals.values() if math.isfinite(v)) - best)
    return {"compute": steps / (len(finals) * int(total)), "regret": regret, "regret_rel": regret / best,
            "chose_best": bool(chosen is not None and finals[chosen] == best), "chosen": chosen,
            "n_complete": len(done), "n_pruned": sum(t["state"] == "pruned" for t in result.trials),
            "best_final": best}


def first_k_rows(result: StudyResult, finals: Mapping[str, float], total: int) -> list[dict]:
    """The "first k configurations fully" policies from the no-stopping study of the same order:
    its first ``k`` trials, for every ``k``."""
    rows = []
    for k in range(1, len(result.trials) + 1):
        sub = StudyResult(result.study_name, f"first_k{k}", result.trials[:k])
        o = outcome(sub, finals, total)
        o["compute"] = k / len(finals)
        rows.append({"policy": f"first_k{k}", "family": "first_k", "level": k, **o})
    return rows


# ----------------------------------------------------------------------------------- replays
_WORKER: dict = {}


def _init_worker(curves, schedules, total, opts, specs, memo):
    quiet_optuna()
    preds = {}
    for law in LAWS:
        p = CurvePredictor(law, schedules, total, **opts)
        p.memo.update(memo.get(law, {}))
        preds[law] = p
    _WORKER.update(curves=curves, total=total, specs=specs, predictors=preds)


def _task(task: tuple) -> list[dict]:
    """One (set, order) with every policy of ``task``: the rows of the replay table."""
    set_id, order_id, labels, finals, policies = task
    w = _WORKER
    run = replay_run(w["curves"])
    rows = []
    for name in policies:
        spec = w["specs"][name]
        res = run_study(labels, spec, run, w["total"], f"exp6-{name}-s{set_id}-o{order_id}", name, w["predictors"])
        base = {"set": set_id, "order": order_id}
        rows.append({**base, "policy": name, "family": spec["family"], "level": spec["level"],
                     **outcome(res, finals, w["total"])})
        if spec["family"] == "none":
            rows += [{**base, **r} for r in first_k_rows(res, finals, w["total"])]
    return rows


def prefix_memo(curves: Mapping[str, Curve], opts: Mapping | None = None, first: int = 1) -> dict:
    """Every law's prediction for every prefix of at least ``first`` evaluations of every curve (what
    the law pruners will ask): computed once, handed to every worker of a replay."""
    memo: dict[str, dict] = {}
    schedules = {k: c.lr for k, c in curves.items()}
    total = next(iter(curves.values())).total
    for law in LAWS:
        p = CurvePredictor(law, schedules, total, **(opts or {}))
        for cid, c in curves.items():
            for n in range(first, c.steps.size + 1):
                if np.all(np.isfinite(c.values[:n])):
                    p(cid, c.steps[:n], c.values[:n])
        memo[law] = p.memo
    return memo


def min_points(specs: Mapping[str, Mapping]) -> int:
    """The fewest evaluations after which a law pruner of ``specs`` may ask for a prediction."""
    return min([int(sp["min_points"]) for sp in specs.values() if "min_points" in sp] or [1])


def _run_tasks(curves, tasks, specs, opts, workers, memo=None) -> pd.DataFrame:
    total = next(iter(curves.values())).total
    schedules = {k: c.lr for k, c in curves.items()}
    opts = dict(opts or {})
    memo = memo if memo is not None else prefix_memo(curves, opts, min_points(specs))
    init = (curves, schedules, total, opts, specs, memo)
    if workers > 1 and len(tasks) > 1:
        ctx = mp.get_context("fork")
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=init) as ex:
            parts = list(ex.map(_task, tasks, chunksize=max(1, len(tasks) // (8 * workers))))
    else:
        _init_worker(*init)
        parts = [_task(t) for t in tasks]
    return pd.DataFrame([r for part in parts for r in part])


def replay(curves: Mapping[str, Curve], specs: Mapping[str, Mapping], n_orders: int, seed: int,
           opts: Mapping | None = None, workers: int = 1, memo: dict | None = None) -> pd.DataFrame:
    """Every policy of ``specs`` on ``n_orders`` random orders of the sweep's configurations (set -1):
    one row per (order, policy), plus the ``first_k<k>`` rows. Columns: set, order, policy, family,
    level, compute, regret, regret_rel, chose_best, chosen, n_complete, n_pruned, best_final."""
    quiet_optuna()
    ids = list(curves)
    finals = {k: c.final for k, c in curves.items()}
    tasks = [(-1, i, o, finals, list(specs)) for i, o in enumerate(orders(ids, n_orders, seed))]
    return _run_tasks(curves, tasks, specs, opts, workers, memo)


def replay_order(curves: Mapping[str, Curve], spec: Mapping, order: Sequence[str], study_name: str,
                 opts: Mapping | None = None) -> StudyResult:
    """One policy on one order (the live study's comparison), in this process."""
    quiet_optuna()
    total = next(iter(curves.values())).total
    schedules = {k: c.lr for k, c in curves.items()}
    preds = {law: CurvePredictor(law, schedules, total, **(opts or {})) for law in LAWS}
    return run_study(order, spec, replay_run(curves), total, study_name, study_name, preds)


def replay_resamples(curves: Mapping[str, Curve], specs: Mapping[str, Mapping], n_resamples: int, n_orders: int,
                     seed: int, opts: Mapping | None = None, workers: int = 1, memo: dict | None = None) -> pd.DataFrame:
    """The configuration-set bootstrap: ``n_resamples`` sets of as many configurations as the sweep,
    drawn with replacement (a duplicate is a separate trial ``config#k`` with the same curve), each
    replayed on ``n_orders`` random orders with the policies of ``specs``. Rows as :func:`replay`,
    ``set`` = the resample's index; regret is against the best of the resampled set."""
    quiet_optuna()
    ids = list(curves)
    rng = np.random.default_rng([seed, 1])  # independent of the orders' stream
    tasks = []
    for b in range(n_resamples):
        pick = [ids[i] for i in rng.integers(0, len(ids), len(ids))]
        labels = [f"{cid}#{k}" for k, cid in enumerate(pick)]
        finals = {lab: curves[lab.partition("#")[0]].final for lab in labels}
        if not any(math.isfinite(v) for v in finals.values()):
            continue
        for j, o in enumerate(orders(labels, n_orders, int(rng.integers(0, 2**31)))):
            tasks.append((b, j, o, finals, list(specs)))
    return _run_tasks(curves, tasks, specs, opts, workers, memo)


# ----------------------------------------------------------------------------------- live studies
def live_study(order: Sequence[str], spec: Mapping, policy: str, train: RunFn, schedules: Mapping[str, Sequence[float]],
               total: int, storage: str, study_name: str, opts: Mapping | None = None) -> StudyResult:
    """A live Optuna study: the trials of ``order`` are trained for real by ``train`` (the caller's
    trainer; ``report`` stops a pruned run) with the pruner of ``spec``, in ``storage``."""
    preds = {law: CurvePredictor(law, schedules, total, **(opts or {})) for law in LAWS}
    return run_study(order, spec, train, total, study_name, policy, preds, storage=storage)


def agreement(live: Mapping, replayed: StudyResult, curves: Mapping[str, Curve]) -> dict:
    """Whether a live study (its JSON record: ``trials`` and ``reported`` values) and the replay of
    the same order agree trial by trial (configuration, state, steps trained), and how far the live
    validation losses lie from the recorded ones (0 on the CPU, where a run is deterministic)."""
    live_dec = [(t["config"], t["state"], int(t["steps"])) for t in live["trials"]]
    rep_dec = replayed.decisions()
    diff = 0.0
    for cid, pts in live.get("reported", {}).items():
        c = curves[cid]
        rec = dict(zip(c.steps.tolist(), c.values.tolist()))
        for s, v in pts:
            diff = max(diff, abs(float(v) - rec[int(s)]))
    return {"policy": live["policy"], "study_name": live["study_name"], "agree": live_dec == rep_dec,
            "live": [list(d) for d in live_dec], "replay": [list(d) for d in rep_dec],
            "max_abs_value_diff": diff, "steps_trained": sum(d[2] for d in live_dec)}


# ----------------------------------------------------------------------------------- the laws
def prediction_table(curves: Mapping[str, Curve], laws: Sequence[str], fractions: Sequence[float],
                     opts: Mapping | None = None) -> pd.DataFrame:
    """Each law's prediction of every configuration's final loss from its evaluations up to each
    share of the budget: law, fraction, config, n_points, predicted, actual, error (nats),
    rel_error (of the actual), used (the law that produced it after fallbacks)."""
    rows = []
    for law in laws:
        for f in fractions:
            for cid, c in curves.items():
                n = int(np.sum(c.steps <= f * c.total))
                if n == 0 or not math.isfinite(c.final) or not np.all(np.isfinite(c.values[:n])):
                    continue
                p = predict_final(law, c.steps[:n], c.values[:n], c.total, c.lr, **(opts or {}))
                rows.append({"law": law, "fraction": float(f), "config": cid, "n_points": n, "predicted": p.value,
                             "actual": c.final, "error": p.value - c.final, "rel_error": (p.value - c.final) / c.final,
                             "used": p.used})
    return pd.DataFrame(rows)


def exp2_table(curves: Mapping[str, Curve], laws: Sequence[str], holdout: float, opts: Mapping | None = None) -> pd.DataFrame:
    """Exp 2 across the sweep: each law fitted on the evaluations of the first ``1 - holdout`` of each
    curve's steps, scored on the held-out ones (R^2 about their mean, MAE over their range): law,
    config, n_fit, n_held, r2, mae, mae_over_range, used."""
    from .lc_predictors import fit_law, predict_curve

    rows = []
    for law in laws:
        for cid, c in curves.items():
            if not np.all(np.isfinite(c.values)):
                continue
            fit_mask = c.steps <= (1.0 - holdout) * c.total
            s_fit, y_fit = c.steps[fit_mask], c.values[fit_mask]
            s_held, y_held = c.steps[~fit_mask], c.values[~fit_mask]
            if s_fit.size == 0 or s_held.size < 2:
                continue
            used, pred = law, None
            while used != "last":
                fit = fit_law(used, s_fit, y_fit, c.lr, **(opts or {}))
                if fit is not None:
                    pred = predict_curve(used, fit[0], s_held, c.lr, (opts or {}).get("decay", 0.999))
                    if np.all(np.isfinite(pred)):
                        break
                used = {"schedule": "power", "power": "last"}[used]
            if used == "last":
                pred = np.full(s_held.shape, y_fit[-1])
            ss_res = float(np.sum((y_held - pred) ** 2))
            ss_tot = float(np.sum((y_held - y_held.mean()) ** 2))
            rng = float(y_held.max() - y_held.min())
            mae = float(np.mean(np.abs(y_held - pred)))
            rows.append({"law": law, "config": cid, "n_fit": int(s_fit.size), "n_held": int(s_held.size),
                         "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan, "mae": mae,
                         "mae_over_range": mae / rng if rng > 0 else math.nan, "used": used})
    return pd.DataFrame(rows)


def seed_noise(curves: Mapping[str, Curve], other: Mapping[str, Curve]) -> dict:
    """The top configurations run again at a second seed: per configuration the two final losses, and
    the seed noise of a regret: the mean absolute difference between seeds (nats and a share of the
    sweep's best), the regret at the second seed of the configuration the first seed ranks best among
    them, and Spearman's rank correlation of the two seeds' finals."""
    common = [k for k in other if k in curves and math.isfinite(curves[k].final) and math.isfinite(other[k].final)]
    if not common:
        return {"n": 0}
    a = np.array([curves[k].final for k in common])
    b = np.array([other[k].final for k in common])
    best = min(c.final for c in curves.values() if math.isfinite(c.final))
    first_best = common[int(np.argmin(a))]
    rho = float(_st.spearmanr(a, b).statistic) if len(common) > 2 else math.nan
    return {"n": len(common), "configs": common, "seed": int(next(iter(other.values())).seed),
            "finals_first": a.tolist(), "finals_second": b.tolist(),
            "mean_abs_diff": float(np.mean(np.abs(a - b))), "mean_abs_diff_rel": float(np.mean(np.abs(a - b)) / best),
            "sd_diff": float(np.std(a - b, ddof=1)) if len(common) > 1 else math.nan,
            "second_seed_regret_of_first_best": float(other[first_best].final - b.min()),
            "second_seed_regret_of_first_best_rel": float((other[first_best].final - b.min()) / b.min()),
            "same_best": bool(first_best == common[int(np.argmin(b))]), "spearman": rho}
