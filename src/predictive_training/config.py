"""Study configuration: load YAML, validate against the JSON schema, fill defaults.

The schema (``schemas/config.schema.yaml``) is the single source of truth for keys, types and
defaults; ``config/README.md`` documents them in prose. Validation runs before any job, in the
Snakefile and in every entry point, and its errors name the offending key.
"""

from __future__ import annotations

import copy
import functools
import math
import os
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .phase_plan import PhasePlan


class ConfigError(ValueError):
    """A study config that cannot be run; the message names the key or file."""


@functools.lru_cache(maxsize=1)
def _schema_cached() -> dict:
    text = resources.files("predictive_training").joinpath("schemas/config.schema.yaml").read_text()
    return yaml.safe_load(text)


def schema() -> dict:
    """The config JSON schema (a fresh copy: callers may modify it)."""
    return copy.deepcopy(_schema_cached())


def _fill_defaults(node: dict, sch: dict) -> None:
    """Fill defaults of ``sch['properties']`` into ``node`` recursively (objects included)."""
    for key, sub in sch.get("properties", {}).items():
        if key not in node and "default" in sub:
            node[key] = copy.deepcopy(sub["default"])
        if isinstance(node.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(node[key], sub)
    extra = sch.get("additionalProperties")
    if isinstance(extra, dict) and extra.get("type") == "object":
        for key, value in node.items():
            if key not in sch.get("properties", {}) and isinstance(value, dict):
                _fill_defaults(value, extra)


# JSON Schema counts 3.0 as an integer; a float step count or seed breaks range() and
# torch.manual_seed much later, so integer keys must hold Python ints (bools excluded).
_TYPE_CHECKER = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, x: isinstance(x, int) and not isinstance(x, bool)
)
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_TYPE_CHECKER)


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    where = _key_path(error)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        # YAML keys may be ints, None or bools beside strings: sort by text, not by value
        unknown = sorted(set(error.instance) - set(known), key=str) if isinstance(error.instance, dict) else []
        prefix = f"{where}." if where != "<top level>" else ""
        names = ", ".join(f"'{prefix}{k}'" for k in unknown)
        return f"unknown config key {names}; known keys here: {', '.join(known)}"
    return f"config key '{where}': {error.message}"


def validate(config: dict[str, Any] | None, base_dir: str | os.PathLike | None = None) -> dict:
    """Return a validated copy of ``config`` with every default filled in.

    ``base_dir`` resolves relative ``local:`` paths (default: the current directory).
    Raises ``ConfigError`` naming the first offending key.
    """
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError(f"config must be a mapping of keys, got {type(config).__name__}")
    value_problem = _inspect(config)
    cfg = copy.deepcopy(config)
    sch = schema()
    validator = _Validator(sch)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), _key_path(e)))
    if errors:
        raise ConfigError(_describe(errors[0]))
    if value_problem:
        raise ConfigError(value_problem)
    _fill_defaults(cfg, sch)
    _expand_sweep(cfg)
    _fill_defaults(cfg, sch)  # the arms the sweep added
    errors = sorted(validator.iter_errors(cfg), key=lambda e: _key_path(e))
    if errors:  # a default that does not validate is a schema bug, but say where
        raise ConfigError(_describe(errors[0]))
    _check_semantics(cfg, Path(base_dir) if base_dir else Path.cwd())
    return cfg


_MAX_DEPTH = 32  # the schema nests 4 levels; hybrid.rssm is free-form but flat in practice
_MAX_VALUES = 1_000_000  # values after expanding YAML aliases ("billion laughs" stays out)


def _inspect(config: Any) -> str | None:
    """Walk the raw input once, without recursion; return the first value problem, if any.

    Raises ``ConfigError`` at once for what the validation itself cannot handle: a container
    inside itself (a YAML anchor used within its own value), nesting deeper than ``_MAX_DEPTH``
    (``copy.deepcopy`` recurses), and non-string keys (YAML ``1:`` or ``null:``; jsonschema drops
    a ``None`` key from its error paths). Returns, to be raised after the schema's own errors,
    the first NaN or infinity (they pass every bound of the schema).
    Containers shared through YAML aliases are walked once, so aliases cannot blow the walk up,
    but their expanded size counts: more than ``_MAX_VALUES`` values is an error.
    """
    problem: str | None = None
    on_path: set[int] = set()
    size: dict[int, int] = {}  # expanded number of values under each container walked
    stack: list[tuple[bool, Any, tuple]] = [(False, config, ())]
    while stack:
        leaving, node, path = stack.pop()
        where = ".".join(str(p) for p in path)
        if leaving:
            on_path.discard(id(node))
            children = node.values() if isinstance(node, dict) else node
            size[id(node)] = 1 + sum(size.get(id(c), 1) if isinstance(c, (dict, list)) else 1 for c in children)
            if size[id(node)] > _MAX_VALUES:
                raise ConfigError(f"config key '{where}': expands to more than {_MAX_VALUES:,} values (YAML aliases?)")
        elif isinstance(node, (dict, list)):
            if id(node) in on_path:
                raise ConfigError(f"config key '{where}': holds itself (a YAML anchor used inside its own value)")
            if id(node) in size:
                continue
            if len(path) > _MAX_DEPTH:
                raise ConfigError(f"config key '{where}': nested deeper than {_MAX_DEPTH} levels")
            on_path.add(id(node))
            stack.append((True, node, path))
            items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            for key, value in reversed(items):  # reversed: pop in input order
                if isinstance(node, dict) and not isinstance(key, str):
                    sub = ".".join(str(p) for p in path + (key,))
                    raise ConfigError(f"config key '{sub}': keys must be strings, got {type(key).__name__} {key!r}")
                stack.append((False, value, path + (key,)))
        elif problem is None and isinstance(node, float) and not math.isfinite(node):
            problem = f"config key '{where}': {node} is not a finite number"
    return problem


def _check_semantics(cfg: dict, base_dir: Path) -> None:
    model, train, data = cfg["model"], cfg["train"], cfg["data"]
    # the pattern admits "." and ".." (results/.. is the project folder) and names no file system holds
    if cfg["study"] in (".", "..") or len(cfg["study"]) > 200:
        raise ConfigError(
            f"config key 'study': {cfg['study'][:40]!r}{'...' if len(cfg['study']) > 40 else ''} cannot name a "
            "results folder (not '.' or '..', at most 200 characters)"
        )
    if model["d_model"] % model["n_head"]:
        raise ConfigError(
            f"config key 'model.d_model': {model['d_model']} is not divisible by model.n_head={model['n_head']}"
        )
    if train["warmup_steps"] >= train["steps"]:
        raise ConfigError(
            f"config key 'train.warmup_steps': {train['warmup_steps']} must be below train.steps={train['steps']}"
        )
    source = data["source"]
    if source.startswith("local:"):
        path = local_path(source, base_dir)
        try:
            found = path.exists()
        except (OSError, ValueError) as exc:  # e.g. a name too long for the file system
            raise ConfigError(
                f"config key 'data.source': cannot access local path {str(path)[:200]!r}: {exc.strerror or exc}"
            ) from exc
        if not found:
            raise ConfigError(f"config key 'data.source': local file or folder not found: {path}")
    if "baseline" not in cfg["arms"]:
        raise ConfigError("config key 'arms': the 'baseline' arm is required (every comparison is against it)")
    unknown = [a for a in cfg["record"]["snapshot_arms"] if a not in cfg["arms"]]
    if unknown:
        raise ConfigError(f"config key 'record.snapshot_arms': {unknown[0]!r} is not an arm of this study "
                          f"(arms: {', '.join(cfg['arms'])})")
    hybrid = cfg["hybrid"]
    if hybrid["corrector"]["probe_batches"] > hybrid["horizon"]:
        raise ConfigError(
            f"config key 'hybrid.corrector.probe_batches': {hybrid['corrector']['probe_batches']} must be at most "
            f"hybrid.horizon={hybrid['horizon']} (the probe is the last skipped Predict batches)"
        )
    for name, arm in cfg["arms"].items():
        if "budget" in arm and arm["kind"] != "conventional":
            raise ConfigError(f"config key 'arms.{name}.budget': only a conventional arm has a budget (this arm is "
                              f"of kind {arm['kind']!r}; a matched arm's budget is its plan's backward passes)")
        if arm["kind"] == "conventional":
            if "horizon" in arm:
                raise ConfigError(f"config key 'arms.{name}.horizon': a conventional arm has no Predict phases")
            if budget_steps(cfg, name) <= train["warmup_steps"]:
                raise ConfigError(f"config key 'arms.{name}.budget': {arm['budget']} x train.steps={train['steps']} "
                                  f"is {budget_steps(cfg, name)} steps, not more than train.warmup_steps="
                                  f"{train['warmup_steps']} (the arm needs its own warmup and cosine decay)")
            continue
        try:  # the arm's phase plan must fit in the step budget
            PhasePlan(arm["prediction_ratio"], arm_horizon(cfg, name), hybrid["correct_steps"], train["steps"],
                      train["warmup_steps"])
        except ValueError as exc:
            key = "horizon" if "horizon" in arm else "prediction_ratio"
            raise ConfigError(f"config key 'arms.{name}.{key}': {exc}") from exc
    _check_shadow(cfg)
    _check_predictors(cfg)
    _check_frontier(cfg)
    _check_hpo(cfg)  # issue 26: only when the config has an hpo block


#: Predictors (arm kinds and shadow predictors) trained on the OTHER seeds' baseline runs: each seed
#: gets its own model (workflow rules train_nowcaster, train_rssm_pretrained); their shadow scores
#: come from a replay of the baseline (rule shadow_replay), since a seed's baseline cannot wait for
#: models that need the other seeds' baselines.
LEAVE_ONE_SEED_OUT = ("nowcaster", "rssm_pretrained")


def loso_shadow(cfg: dict) -> list[str]:
    """The leave-one-seed-out predictors among the baseline's shadow predictors (scored on a replay)."""
    s = cfg["record"]["shadow"]
    if "baseline" not in s["arms"]:
        return []
    return [p for p in s["predictors"] if p in LEAVE_ONE_SEED_OUT]


def loso_needed(cfg: dict) -> list[str]:
    """Every leave-one-seed-out predictor the study needs (as an arm kind or a shadow predictor)."""
    kinds = {a["kind"] for a in cfg["arms"].values()} | set(loso_shadow(cfg))
    return [p for p in LEAVE_ONE_SEED_OUT if p in kinds]


def arm_horizon(cfg: dict, arm: str) -> int:
    """``Y`` of a predicted arm: ``arms.<arm>.horizon``, else ``hybrid.horizon``."""
    return int(cfg["arms"][arm].get("horizon", cfg["hybrid"]["horizon"]))


def nowcaster_horizons(cfg: dict) -> list[int]:
    """The horizons the nowcaster is trained for: the horizon of every nowcaster arm, and the shadow
    horizons if the baseline's shadows include it."""
    ys = {arm_horizon(cfg, n) for n, a in cfg["arms"].items() if a["kind"] == "nowcaster"}
    if "nowcaster" in loso_shadow(cfg):
        ys.update(int(y) for y in cfg["record"]["shadow"]["horizons"])
    return sorted(ys)


def _check_predictors(cfg: dict) -> None:
    """The predictors of issue 17: the leave-one-seed-out ones need another seed and their data
    sources; the nowcaster's stride must divide the horizons it predicts."""
    needed = loso_needed(cfg)
    if needed and len(cfg["seeds"]) < 2:
        raise ConfigError(f"config key 'seeds': {needed} are trained on the OTHER seeds' baselines "
                          f"(leave-one-seed-out) and need at least 2 seeds, got {cfg['seeds']}")
    stride = int(cfg["hybrid"]["nowcaster"]["stride"])
    for y in nowcaster_horizons(cfg):
        if y % stride:
            arms = [n for n, a in cfg["arms"].items() if a["kind"] == "nowcaster" and arm_horizon(cfg, n) == y]
            key = f"the horizon of arm {arms[0]}" if arms else "record.shadow.horizons"
            raise ConfigError(f"config key 'hybrid.nowcaster.stride': {stride} does not divide {key} ({y}) "
                              "(the nowcaster predicts whole windows)")
    if "rssm_pretrained" in needed:
        s = cfg["record"]["shadow"]
        if "baseline" not in s["arms"] or "rssm" not in s["predictors"]:
            raise ConfigError("config key 'record.shadow': rssm_pretrained pretrains on the baselines' shadow RSSM "
                              f"data, so record.shadow.arms must include baseline (got {s['arms']}) and "
                              f"record.shadow.predictors must include rssm (got {s['predictors']})")


def _check_shadow(cfg: dict) -> None:
    """record.shadow: its arms are conventional arms of the study, Exp 3's horizon is one of its
    horizons, its search cells name shadow predictors and horizons."""
    s, train, hybrid = cfg["record"]["shadow"], cfg["train"], cfg["hybrid"]
    for name in s["arms"]:
        if name not in cfg["arms"]:
            raise ConfigError(f"config key 'record.shadow.arms': {name!r} is not an arm of this study "
                              f"({', '.join(cfg['arms'])})")
        if cfg["arms"][name]["kind"] != "conventional":
            raise ConfigError(f"config key 'record.shadow.arms': {name!r} is of kind {cfg['arms'][name]['kind']!r}; "
                              "shadow predictors ride along conventional arms only (every step must be real)")
    # (a plan at record.shadow.plan_ratio that does not fit the step budget gives no plan origins:
    # training/shadow.py says so in the job log and summary.json; the hybrid arms' own plans are checked above)
    if s["arms"] and cfg["dynamics"]["exp3_horizon"] not in s["horizons"]:
        raise ConfigError(f"config key 'dynamics.exp3_horizon': {cfg['dynamics']['exp3_horizon']} is not one of "
                          f"record.shadow.horizons={s['horizons']} (Exp 3 reads the shadow rows at that horizon)")
    if s["search"] != "all":
        names = set(s["predictors"]) | {f"span{m}" for m in s["span_oracle"]}
        for i, cell in enumerate(s["search"]):
            if cell["predictor"] not in names:
                raise ConfigError(f"config key 'record.shadow.search.{i}.predictor': {cell['predictor']!r} is not a "
                                  f"shadow predictor of record.shadow.predictors={s['predictors']} and "
                                  f"record.shadow.span_oracle={s['span_oracle']} (span<m>)")
            if cell["horizon"] not in s["horizons"]:
                raise ConfigError(f"config key 'record.shadow.search.{i}.horizon': {cell['horizon']} is not one of "
                                  f"record.shadow.horizons={s['horizons']}")


# ------------------------------------------------------------------ the frontier (issue 16)

#: Arm kinds that are points of the conventional frontier (every other kind is a predicted arm).
FRONTIER_KINDS = ("conventional", "matched")


def predicted_kinds() -> list[str]:
    """Every predicted arm kind the schema knows (any kind but ``conventional`` and ``matched``): a new
    predictor kind joins the sweep grid and the frontier analysis by its name in the schema's enum."""
    enum = _schema_cached()["properties"]["arms"]["additionalProperties"]["properties"]["kind"]["enum"]
    return [k for k in enum if k not in FRONTIER_KINDS]


def budget_steps(cfg: dict, arm: str) -> int:
    """Steps of a conventional arm: ``round(budget x train.steps)`` (half up; budget 1 by default)."""
    return int(math.floor(float(cfg["arms"][arm].get("budget", 1.0)) * int(cfg["train"]["steps"]) + 0.5))


def _pct(x: float) -> int:
    return int(math.floor(100 * float(x) + 0.5))


def sweep_cells(cfg: dict) -> tuple[dict[str, dict], list[dict]]:
    """The arms of ``sweep`` and the cells skipped because their plan does not fit.

    Returns ``(arms, skipped)``: ``arms`` maps ``conv_b<100 b>`` to ``{kind: conventional, budget: b}``
    (a budget of 1 is the baseline itself: no arm) and ``<kind>_r<100 r>_y<Y>`` to ``{kind, prediction_ratio,
    horizon}`` for every kind, ratio and horizon whose phase plan fits ``train.steps`` after warmup with
    ``hybrid.correct_steps`` Correct steps per cycle; ``skipped`` lists the other cells (``name``, ``kind``,
    ``prediction_ratio``, ``horizon``, ``reason``). Pure arithmetic, decided before any job runs.
    """
    sw = cfg.get("sweep") or {}
    train, hybrid = cfg["train"], cfg.get("hybrid") or {}
    arms: dict[str, dict] = {}
    skipped: list[dict] = []

    def add(name: str, arm: dict, key: str) -> None:
        if name in arms and arms[name] != arm:
            raise ConfigError(f"config key 'sweep.{key}': two values give the arm name {name!r} "
                              f"({arms[name]} and {arm}); use values that differ by at least 0.01")
        arms[name] = arm

    for b in sw.get("budgets", []):
        if float(b) < 1.0:
            add(f"conv_b{_pct(b):03d}", {"kind": "conventional", "budget": float(b)}, "budgets")
    correct = int(hybrid.get("correct_steps", 5))
    known = predicted_kinds()
    for i, kind in enumerate(sw.get("kinds", [])):
        if kind not in known:
            raise ConfigError(f"config key 'sweep.kinds.{i}': {kind!r} is not a predicted arm kind "
                              f"(known: {', '.join(known)})")
        for r in sw.get("ratios", []):
            for y in sw.get("horizons", []):
                name = f"{kind}_r{_pct(r):02d}_y{int(y)}"
                try:
                    PhasePlan(float(r), int(y), correct, int(train["steps"]), int(train["warmup_steps"]))
                except ValueError as exc:
                    skipped.append({"name": name, "kind": kind, "prediction_ratio": float(r), "horizon": int(y),
                                    "reason": str(exc)})
                    continue
                add(name, {"kind": kind, "prediction_ratio": float(r), "horizon": int(y)}, "ratios")
    return arms, skipped


def _same_run(cfg: dict, name: str) -> tuple:
    """What an arm runs, for spotting a sweep cell that an arm of the config already runs: a conventional or
    matched arm by its step count, a predicted arm by (kind, ratio, horizon)."""
    arm = cfg["arms"][name]
    if arm["kind"] == "conventional":
        return ("steps", budget_steps(cfg, name))
    if arm["kind"] == "matched":
        try:
            plan = PhasePlan(float(arm["prediction_ratio"]), arm_horizon(cfg, name), int(cfg["hybrid"]["correct_steps"]),
                             int(cfg["train"]["steps"]), int(cfg["train"]["warmup_steps"]))
        except (KeyError, ValueError):
            return ("invalid", name)  # the semantic check names it
        return ("steps", plan.backward_passes)
    return (arm["kind"], float(arm.get("prediction_ratio", -1)), arm_horizon(cfg, name))


def _expand_sweep(cfg: dict) -> None:
    """Add the arms of ``sweep`` to ``arms``, after the arms the config names (idempotent). A cell that an
    arm of the config already runs (the same steps; the same kind, ratio and horizon: ``hybrid_r50`` is the
    cell ``hybrid_r50_y20`` when ``hybrid.horizon`` is 20; the baseline is budget 1) is not added twice. An
    arm the config names itself with a cell's name must have the cell's definition."""
    grid, _ = sweep_cells(cfg)
    for name, arm in grid.items():
        mine = cfg["arms"].get(name)
        if mine is not None and {k: v for k, v in mine.items()} != arm:
            raise ConfigError(f"config key 'arms.{name}': the sweep defines an arm of this name as {arm}, "
                              f"but arms.{name} is {mine}; rename one of them")
    runs = {_same_run(cfg, n) for n in cfg["arms"] if n not in grid}
    for name, arm in grid.items():
        if name in cfg["arms"]:
            continue
        cfg["arms"][name] = dict(arm)
        if _same_run(cfg, name) in runs:  # already run by an arm of the config under another name
            del cfg["arms"][name]


def frontier_arms(cfg: dict) -> list[str]:
    """The conventional frontier's arms: every ``conventional`` arm (the baseline at budget 1) and ``matched``."""
    return [n for n, a in cfg["arms"].items() if a["kind"] in FRONTIER_KINDS]


def predicted_arms(cfg: dict) -> list[str]:
    """Every arm that is not a frontier point (any predicted kind, by name)."""
    return [n for n, a in cfg["arms"].items() if a["kind"] not in FRONTIER_KINDS]


def confirmatory_arms(cfg: dict) -> list[str]:
    """The arms of the confirmatory "beats the frontier at equal time" rows: ``frontier.confirmatory``, or by
    default (null) ``hybrid_r50`` and ``repeat_r50`` where the study has them."""
    declared = (cfg.get("frontier") or {}).get("confirmatory")
    if declared is None:
        return [a for a in ("hybrid_r50", "repeat_r50") if a in cfg["arms"]]
    return list(declared)


def _check_frontier(cfg: dict) -> None:
    declared = cfg["frontier"]["confirmatory"]
    for i, arm in enumerate(declared or []):
        if arm not in cfg["arms"]:
            raise ConfigError(f"config key 'frontier.confirmatory.{i}': {arm!r} is not an arm of this study "
                              f"(arms: {', '.join(cfg['arms'])})")
        if cfg["arms"][arm]["kind"] in FRONTIER_KINDS:
            raise ConfigError(f"config key 'frontier.confirmatory.{i}': {arm!r} is a {cfg['arms'][arm]['kind']} "
                              "arm, a point of the frontier itself; name predicted arms")


# ------------------------------------------------------------------ the hyperparameter search (issue 26)

#: The hyperparameters of the search space: hpo.grid key -> train key (the same names).
HPO_KEYS = ("lr", "warmup_steps", "weight_decay")


def hpo_point_id(lr: float, warmup_steps: int, weight_decay: float) -> str:
    """The name of a configuration of the sweep (its run folder): ``lr0.003_wu100_wd0.1``."""
    return f"lr{float(lr):g}_wu{int(warmup_steps)}_wd{float(weight_decay):g}"


def hpo_points(cfg: dict) -> dict[str, dict]:
    """Every configuration of ``hpo.grid`` by name, in grid order (lr, then warmup, then weight decay):
    ``{name: {"lr", "warmup_steps", "weight_decay"}}``."""
    grid = cfg["hpo"]["grid"]
    points = {}
    for lr in grid["lr"]:
        for wu in grid["warmup_steps"]:
            for wd in grid["weight_decay"]:
                points[hpo_point_id(lr, wu, wd)] = {"lr": float(lr), "warmup_steps": int(wu), "weight_decay": float(wd)}
    return points


def hpo_trial_config(cfg: dict, point: str) -> dict:
    """The validated config of one training run of the sweep: the study's device, threads, model and
    train keys with the configuration's learning rate, warmup and weight decay, one conventional arm
    (``baseline``, the full step budget) and no recording beyond metrics, events and the summary.
    Only these keys enter (a change of any other key of the study does not retrain the sweep)."""
    points = hpo_points(cfg)
    if point not in points:
        raise ConfigError(f"config key 'hpo.grid': {point!r} is not a configuration of the sweep")
    train = {**cfg["train"], **points[point]}
    return validate({
        "study": cfg["study"], "seeds": [int(cfg["hpo"]["seed"])], "device": cfg["device"],
        "threads": cfg["threads"], "model": copy.deepcopy(cfg["model"]), "train": train,
        "arms": {"baseline": {"kind": "conventional"}},
        "record": {"progress_every": cfg["record"]["progress_every"], "gradients": "off", "snapshot_arms": [],
                   "shadow": {"arms": []}},
    })


def hpo_policies(cfg: dict) -> dict[str, dict]:
    """The replayed policies by name (``none``, then each Optuna pruner and predictive pruner per
    aggressiveness level): ``{name: {"family", "level", ...parameters}}``. Pure data: the analysis
    (:mod:`predictive_training.analysis.exp6`) builds the Optuna pruners from it."""
    pol = cfg["hpo"]["policies"]
    out: dict[str, dict] = {"none": {"family": "none", "level": None}}
    med = pol["median"]
    for w in med["n_warmup_steps"]:
        out[f"median_w{int(w)}"] = {"family": "median", "level": int(w), "n_startup_trials": int(med["n_startup_trials"]),
                                    "n_warmup_steps": int(w)}
    for family, prefix in (("successive_halving", "sha"), ("hyperband", "hyperband")):
        p = pol[family]
        for r in p["min_resource"]:
            out[f"{prefix}_r{int(r)}"] = {"family": family, "level": int(r), "min_resource": int(r),
                                          "reduction_factor": int(p["reduction_factor"])}
    pred = pol["predictive"]
    for law in pred["laws"]:
        for m in pred["margins"]:
            out[hpo_law_policy(law, m)] = {"family": law, "level": float(m), "law": law, "margin": float(m),
                                           "min_points": int(pred["min_points"])}
    return out


def hpo_law_policy(law: str, margin: float) -> str:
    """The name of a predictive pruner's policy: ``schedule_m0.02``."""
    return f"{law}_m{float(margin):g}"


def hpo_confirmatory(cfg: dict) -> str:
    """The name of the confirmatory policy (``hpo.criterion.law`` at ``hpo.criterion.margin``)."""
    c = cfg["hpo"]["criterion"]
    return hpo_law_policy(c["law"], c["margin"])


def _check_hpo(cfg: dict) -> None:
    if "hpo" not in cfg:
        return
    h, steps = cfg["hpo"], int(cfg["train"]["steps"])
    for i, wu in enumerate(h["grid"]["warmup_steps"]):
        if wu >= steps:
            raise ConfigError(f"config key 'hpo.grid.warmup_steps.{i}': {wu} must be below train.steps={steps}")
    n = len(hpo_points(cfg))
    if n < 2:
        raise ConfigError(f"config key 'hpo.grid': {n} configuration; a search needs at least 2")
    if h["seed_noise"]["top"] > n:
        raise ConfigError(f"config key 'hpo.seed_noise.top': {h['seed_noise']['top']} is more than the sweep's "
                          f"{n} configurations")
    if h["seed_noise"]["top"] and h["seed_noise"]["seed"] == h["seed"]:
        raise ConfigError(f"config key 'hpo.seed_noise.seed': {h['seed']} is hpo.seed; the second seed must differ")
    if h["live"]["trials"] > n:
        raise ConfigError(f"config key 'hpo.live.trials': {h['live']['trials']} is more than the sweep's {n} configurations")
    pred = h["policies"]["predictive"]
    crit = h["criterion"]
    if crit["law"] not in pred["laws"]:
        raise ConfigError(f"config key 'hpo.criterion.law': {crit['law']!r} is not one of "
                          f"hpo.policies.predictive.laws={pred['laws']}")
    if float(crit["margin"]) not in [float(m) for m in pred["margins"]]:
        raise ConfigError(f"config key 'hpo.criterion.margin': {crit['margin']} is not one of "
                          f"hpo.policies.predictive.margins={pred['margins']}")
    if not h["policies"]["hyperband"]["min_resource"]:
        raise ConfigError("config key 'hpo.policies.hyperband.min_resource': the criterion compares with Hyperband at "
                          "equal compute; give at least one level")
    for family in ("successive_halving", "hyperband"):
        for i, r in enumerate(h["policies"][family]["min_resource"]):
            if r >= steps:
                raise ConfigError(f"config key 'hpo.policies.{family}.min_resource.{i}': {r} must be below "
                                  f"train.steps={steps}")
    names = hpo_policies(cfg)
    if len(names) != 1 + sum(len(h["policies"][f]["min_resource"]) for f in ("successive_halving", "hyperband")) + \
            len(h["policies"]["median"]["n_warmup_steps"]) + len(pred["laws"]) * len(pred["margins"]):
        raise ConfigError("config key 'hpo.policies.predictive.margins': two margins give the same policy name; "
                          "use margins that differ in their shortest decimal form")
    for i, name in enumerate(h["live"]["policies"]):
        if name not in names or name == "none":
            raise ConfigError(f"config key 'hpo.live.policies.{i}': {name!r} is not a pruning policy of this study "
                              f"(known: {', '.join(n for n in names if n != 'none')})")


def local_path(source: str, base_dir: str | os.PathLike | None = None) -> Path:
    path = Path(os.path.expanduser(source.removeprefix("local:")))
    if not path.is_absolute():
        path = Path(base_dir or Path.cwd()) / path
    return path


def load(path: str | os.PathLike, overrides: dict | None = None) -> dict:
    """Read a YAML config file, apply ``overrides`` (top-level keys), validate."""
    path = Path(path)
    try:
        found = path.exists()
    except OSError as exc:  # e.g. a name too long for the file system
        raise ConfigError(f"config file {str(path)[:200]!r} cannot be accessed: {exc.strerror or exc}") from exc
    if not found:
        raise ConfigError(f"config file not found: {path}")
    if not path.is_file():
        raise ConfigError(f"config file {path} is not a file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    except RecursionError as exc:  # PyYAML composes nested nodes recursively
        raise ConfigError(f"config file {path} is nested too deeply to be a study config") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
    if raw is None:  # an empty file is the all-defaults config
        raw = {}
    if not isinstance(raw, dict):  # "0", "false", "[]" are not configs, even though they are falsy
        raise ConfigError(f"config file {path} must hold a mapping of keys, got {type(raw).__name__}")
    raw.update(overrides or {})
    return validate(raw)
