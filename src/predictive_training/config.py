"""Study configuration: load YAML, validate against the JSON schema, fill defaults.

The schema (``schemas/config.schema.yaml``) is the single source of truth for keys, types and
defaults; ``config/README.md`` documents them in prose. Validation runs before any job, in the
Snakefile and in every entry point, and its errors name the offending key.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import os
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import registry
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


def _resolve_lr(cfg: dict, base_dir: Path) -> None:
    """``train.lr_from``: the learning rate is the one the named lr sweep chose (``python -m
    predictive_training lr-sweep``), never copied by hand; the sweep must be of the same optimiser and
    schedule, on a seed the study does not evaluate, and must not have chosen the edge of its grid."""
    train, key = cfg["train"], "config key 'train.lr_from'"
    path = Path(train["lr_from"])
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise ConfigError(f"{key}: {train['lr_from']} does not exist: run the declared learning-rate sweep first "
                          "(python -m predictive_training lr-sweep CONFIG --lrs ... --seed ... --out "
                          f"{train['lr_from']})")
    try:
        sweep = json.loads(path.read_text())
        chosen, optimizer, schedule, seed = (float(sweep["chosen_lr"]), sweep["optimizer"], sweep["schedule"],
                                             int(sweep["seed"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{key}: {train['lr_from']} is not an lr sweep's result ({exc})") from exc
    own = (train.get("optimizer", "adamw"), train.get("schedule", "cosine"))
    if (optimizer, schedule) != own:
        raise ConfigError(f"{key}: {train['lr_from']} swept {optimizer} with {schedule}, this config trains "
                          f"{own[0]} with {own[1]}")
    if seed in cfg["seeds"]:
        raise ConfigError(f"{key}: {train['lr_from']} chose on seed {seed}, one of the study's seeds {cfg['seeds']}")
    if "train" in sweep:  # the sweep's fixed settings (every train key but the rate) must be this config's
        mine = {k: v for k, v in train.items() if k not in ("lr", "lr_from")}
        differ = sorted(k for k in set(mine) | set(sweep["train"]) if mine.get(k) != sweep["train"].get(k))
        if differ:
            raise ConfigError(f"{key}: {train['lr_from']} swept with other train settings ({', '.join(differ)}): "
                              "sweep again with this config")
    if sweep.get("edge"):
        raise ConfigError(f"{key}: {train['lr_from']} chose {chosen:g}, the edge of its grid {sweep.get('lrs')}: "
                          "widen the grid and sweep again")
    train["lr"] = chosen


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
    if "lr_from" in train:
        _resolve_lr(cfg, base_dir)
    names = [v["name"] for v in cfg["record"]["shadow"].get("search_variants") or []]
    if len(set(names)) != len(names):
        raise ConfigError(f"config key 'record.shadow.search_variants': names must be distinct, got {names}")
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
    _check_arm_kinds(cfg)
    _check_arm_correctors(cfg)
    if (cfg.get("mitigation") or {}).get("evaluate") == "correction" and not cfg["record"]["shadow"].get(
            "search_variants"):
        raise ConfigError("config key 'mitigation.evaluate': correction needs record.shadow.search_variants")
    if (cfg.get("mitigation") or {}).get("evaluate") == "cooldown_frontier" and not roles(cfg).cooldown_frontier:
        raise ConfigError("config key 'mitigation.evaluate': cooldown_frontier needs arms with their own schedule wsd "
                          "(roles.cooldown_frontier is empty)")
    roles(cfg)  # names the key of a role that no arm (or a wrong arm) plays
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
    _check_hpo(cfg)  # only when the config has an hpo block


#: Predictors (arm kinds and shadow predictors) trained on the OTHER seeds' baseline runs (the registry's
#: ``loso`` flag): each seed gets its own model (workflow rules train_nowcaster, train_rssm_pretrained);
#: their shadow scores come from a replay of the baseline (rule shadow_replay), since a seed's baseline
#: cannot wait for models that need the other seeds' baselines. Built-ins only: an outside predictor that
#: needs offline training on other seeds is not supported (docs/predictors.md).
LEAVE_ONE_SEED_OUT = tuple(name for name, spec in registry.BUILTIN.items() if spec.loso)

#: Arm kinds that are not predictors: conventional training and the compute-matched control.
CONVENTIONAL_KINDS = ("conventional", "matched")


# ------------------------------------------------------------------ predictors (the registry)

def arm_spec(cfg: dict, arm: str) -> registry.PredictorSpec | None:
    """The registry entry of a predicted arm's predictor (None for a conventional or matched arm)."""
    kind = cfg["arms"][arm]["kind"]
    return None if kind in CONVENTIONAL_KINDS else registry.lookup(kind)


def is_predicted(cfg: dict, arm: str) -> bool:
    """Whether an arm predicts (a predictor's kind), i.e. is run by the hybrid trainer."""
    return cfg["arms"][arm]["kind"] not in CONVENTIONAL_KINDS


def _dig(cfg: dict, path: str):
    node = cfg
    for part in path.split("."):
        node = node[part]
    return node


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def predictor_options(cfg: dict, name: str, arm: str | None = None) -> dict:
    """The options a predictor is built with: a built-in's block (``options_key``, e.g. ``hybrid.dmd``)
    or an outside predictor's ``predictors.<name>.options``; for an ``arm``, its ``arms.<arm>.options``
    merged over them (nested mappings merged key by key)."""
    spec = registry.lookup(name)
    if spec.options_key is None:
        base = dict((cfg["predictors"].get(name) or {}).get("options") or {})
    elif "=" in spec.options_key:
        option, key = spec.options_key.split("=")
        base = {option: _dig(cfg, key)}
    else:
        base = dict(_dig(cfg, spec.options_key) or {})
    if arm is not None:
        base = _deep_merge(base, cfg["arms"][arm].get("options") or {})
    return base


def skill_gated(cfg: dict, arm: str) -> bool:
    """Whether a predicted arm runs the skill gate: ``arms.<arm>.skill_gate``, else the registry's
    default for its predictor; never when ``hybrid.gate.reference`` is ``none``."""
    if cfg["hybrid"]["gate"]["reference"] == "none":
        return False
    own = cfg["arms"][arm].get("skill_gate")
    return bool(arm_spec(cfg, arm).gated if own is None else own)


def predictor_uses(cfg: dict) -> list[tuple[str, str, str | None]]:
    """Every place a predictor runs: ``(config key, predictor name, arm or None for shadow mode)``."""
    out = [(f"arms.{a}.kind", cfg["arms"][a]["kind"], a) for a in cfg["arms"] if is_predicted(cfg, a)]
    out += [(f"record.shadow.predictors.{i}", n, None) for i, n in enumerate(cfg["record"]["shadow"]["predictors"])]
    return out


def needs_predictor_check(cfg: dict) -> bool:
    """Whether the config names an outside predictor or gives per-arm options, so that
    ``dynamics.base.check_config_predictors`` must import predictor classes before any job (the
    validation here imports no predictor and no torch)."""
    return any(not registry.lookup(name).builtin or (arm is not None and cfg["arms"][arm].get("options"))
               for _key, name, arm in predictor_uses(cfg))


def _lookup(name: str, key: str) -> registry.PredictorSpec:
    try:
        return registry.lookup(name)
    except registry.RegistryError as exc:
        raise ConfigError(f"config key '{key}': {exc}") from None


def _check_options(cfg: dict, spec: registry.PredictorSpec, options: dict, key: str) -> None:
    """A built-in's merged options against the schema of its block (an outside predictor's options are
    checked against its class by ``dynamics.base.check_config_predictors``, which imports it)."""
    if spec.options_key is None:
        return
    if "=" in spec.options_key:
        option, path = spec.options_key.split("=")
        extra = sorted(set(options) - {option})
        if extra:
            raise ConfigError(f"config key '{key}': unknown option(s) {extra} of predictor {spec.name!r} "
                              f"(its only option is {option!r}, default {path})")
        node = _schema_node(path)
        sub = {"type": "object", "properties": {option: node}}
    else:
        sub = _schema_node(spec.options_key)
    errors = sorted(_Validator(sub).iter_errors(options), key=lambda e: _key_path(e))
    if errors:
        raise ConfigError(f"{_describe(errors[0]).replace('config key ', f'config key {key}: option ', 1)}")


def _schema_node(path: str) -> dict:
    node = _schema_cached()
    for part in path.split("."):
        node = node["properties"][part]
    return node


def _check_arm_kinds(cfg: dict) -> None:
    """Every arm's kind is conventional, matched or a registered predictor; options and skill_gate
    belong to predicted arms; the ``predictors`` block names outside predictors."""
    for name, arm in cfg["arms"].items():
        if arm["kind"] not in CONVENTIONAL_KINDS and "schedule" in arm:
            raise ConfigError(f"config key 'arms.{name}.schedule': only a conventional or matched arm has its own "
                              f"schedule (this arm is of kind {arm['kind']!r}; a predicted arm runs train.schedule)")
        if "search_every" in arm and (arm["kind"] != "conventional" or float(arm.get("budget", 1.0)) != 1.0):
            raise ConfigError(f"config key 'arms.{name}.search_every': only a conventional arm at the whole budget "
                              f"searches its own update (this arm: {arm})")
        if "search_every" in arm and not any(a["kind"] not in CONVENTIONAL_KINDS for a in cfg["arms"].values()):
            raise ConfigError(f"config key 'arms.{name}.search_every': the study needs a predicted arm, whose "
                              "calibration measures the search trial's cost that this arm is costed with")
        if arm["kind"] in CONVENTIONAL_KINDS:
            for key in ("options", "skill_gate") + (() if "search_every" in arm else ("corrector",)):
                if key in arm:
                    raise ConfigError(f"config key 'arms.{name}.{key}': only a predicted arm has {key} (this arm "
                                      f"is of kind {arm['kind']!r})")
            continue
        spec = _lookup(arm["kind"], f"arms.{name}.kind")
        if spec.loso and "options" in arm:
            raise ConfigError(f"config key 'arms.{name}.options': {spec.name} loads a model trained on the other "
                              f"seeds with the study's {spec.options_key}; per-arm options are not supported for it")
        if "options" in arm:
            _check_options(cfg, spec, predictor_options(cfg, spec.name, name), f"arms.{name}.options")
    for name in cfg.get("predictors") or {}:
        spec = _lookup(name, f"predictors.{name}")
        if spec.builtin:
            raise ConfigError(f"config key 'predictors.{name}': {name} is a built-in predictor; its options are "
                              f"{spec.options_key.split('=')[-1] if spec.options_key else 'none'}")


def loso_shadow(cfg: dict) -> list[str]:
    """The leave-one-seed-out predictors among the baseline's shadow predictors (scored on a replay)."""
    s = cfg["record"]["shadow"]
    if roles(cfg).baseline not in s["arms"]:
        return []
    return [p for p in s["predictors"] if p in LEAVE_ONE_SEED_OUT]


def loso_needed(cfg: dict) -> list[str]:
    """Every leave-one-seed-out predictor the study needs (as an arm kind or a shadow predictor)."""
    names = {arm_spec(cfg, a).name for a in cfg["arms"] if is_predicted(cfg, a)} | set(loso_shadow(cfg))
    return [p for p in LEAVE_ONE_SEED_OUT if p in names]


def loso_model_name(cfg: dict, arm: str) -> str | None:
    """The leave-one-seed-out predictor whose trained model an arm's run loads (None for any other arm)."""
    spec = arm_spec(cfg, arm)
    return spec.name if spec is not None and spec.loso else None


def arm_horizon(cfg: dict, arm: str) -> int:
    """``Y`` of a predicted arm: ``arms.<arm>.horizon``, else ``hybrid.horizon``."""
    return int(cfg["arms"][arm].get("horizon", cfg["hybrid"]["horizon"]))


def arm_plan(cfg: dict, arm: str) -> PhasePlan:
    """The nominal phase plan of a predicted or matched arm (its ``prediction_ratio`` and horizon,
    ``hybrid.correct_steps``, ``train.steps`` and ``train.warmup_steps``); a ValueError names
    ``arms.<arm>.prediction_ratio`` when it does not fit."""
    h, tc = cfg["hybrid"], cfg["train"]
    try:
        return PhasePlan(float(cfg["arms"][arm]["prediction_ratio"]), arm_horizon(cfg, arm), int(h["correct_steps"]),
                         int(tc["steps"]), int(tc["warmup_steps"]))
    except ValueError as exc:
        raise ValueError(f"config key 'arms.{arm}.prediction_ratio': {exc}") from exc


def nowcaster_horizons(cfg: dict) -> list[int]:
    """The horizons the nowcaster is trained for: the horizon of every nowcaster arm, and the shadow
    horizons if the baseline's shadows include it."""
    ys = {arm_horizon(cfg, n) for n in cfg["arms"] if loso_model_name(cfg, n) == "nowcaster"}
    if "nowcaster" in loso_shadow(cfg):
        ys.update(int(y) for y in cfg["record"]["shadow"]["horizons"])
    return sorted(ys)


def _check_predictors(cfg: dict) -> None:
    """The field's predictors: the leave-one-seed-out ones need another seed and their data
    sources; the nowcaster's stride must divide the horizons it predicts."""
    needed = loso_needed(cfg)
    if needed and len(cfg["seeds"]) < 2:
        raise ConfigError(f"config key 'seeds': {needed} are trained on the OTHER seeds' baselines "
                          f"(leave-one-seed-out) and need at least 2 seeds, got {cfg['seeds']}")
    stride = int(cfg["hybrid"]["nowcaster"]["stride"])
    for y in nowcaster_horizons(cfg):
        if y % stride:
            arms = [n for n in cfg["arms"] if loso_model_name(cfg, n) == "nowcaster" and arm_horizon(cfg, n) == y]
            key = f"the horizon of arm {arms[0]}" if arms else "record.shadow.horizons"
            raise ConfigError(f"config key 'hybrid.nowcaster.stride': {stride} does not divide {key} ({y}) "
                              "(the nowcaster predicts whole windows)")
    if "rssm_pretrained" in needed:
        s = cfg["record"]["shadow"]
        if roles(cfg).baseline not in s["arms"] or "rssm" not in s["predictors"]:
            raise ConfigError("config key 'record.shadow': rssm_pretrained pretrains on the baselines' shadow RSSM "
                              f"data, so record.shadow.arms must include baseline (got {s['arms']}) and "
                              f"record.shadow.predictors must include rssm (got {s['predictors']})")


def _check_shadow(cfg: dict) -> None:
    """record.shadow: its arms are conventional arms of the study, Exp 3's horizon is one of its
    horizons, its search cells name shadow predictors and horizons."""
    s, train, hybrid = cfg["record"]["shadow"], cfg["train"], cfg["hybrid"]
    for i, name in enumerate(s["predictors"]):
        spec = _lookup(name, f"record.shadow.predictors.{i}")
        if spec.name != name:  # an arm kind alias: shadow rows are keyed by the predictor's own name
            raise ConfigError(f"config key 'record.shadow.predictors.{i}': {name!r} is the arm kind of predictor "
                              f"{spec.name!r}; shadow mode names predictors by name ({spec.name!r})")
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


# ------------------------------------------------------------------ the frontier

#: Arm kinds that are points of the conventional frontier (every other kind is a predicted arm).
FRONTIER_KINDS = CONVENTIONAL_KINDS


def arm_hybrid(cfg: dict, arm: str) -> dict:
    """The ``hybrid`` block an arm trains with: the study's, with ``arms.<arm>.corrector`` merged over
    ``hybrid.corrector`` (the study's block itself when the arm has none)."""
    own = cfg["arms"][arm].get("corrector")
    if not own:
        return cfg["hybrid"]
    return {**cfg["hybrid"], "corrector": {**cfg["hybrid"]["corrector"], **own}}


def _check_arm_correctors(cfg: dict) -> None:
    """Every arm's merged corrector validates as hybrid.corrector does (keys named under the arm)."""
    node = _schema_node("hybrid.corrector")
    for name, arm in cfg["arms"].items():
        if not arm.get("corrector"):
            continue
        merged = arm_hybrid(cfg, name)["corrector"]
        errors = sorted(_Validator(node).iter_errors(merged), key=lambda e: _key_path(e))
        if errors:
            e = errors[0]
            where = ".".join(str(p) for p in e.absolute_path) or "(the block)"
            raise ConfigError(f"config key 'arms.{name}.corrector': {where}: {e.message}")
        if merged["probe_batches"] > arm_horizon(cfg, name):
            raise ConfigError(f"config key 'arms.{name}.corrector.probe_batches': {merged['probe_batches']} exceeds "
                              f"the arm's horizon {arm_horizon(cfg, name)}")


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
    for i, kind in enumerate(sw.get("kinds", [])):
        if kind in CONVENTIONAL_KINDS:
            raise ConfigError(f"config key 'sweep.kinds.{i}': {kind!r} is not a predictor (the grid's conventional "
                              "arms come from sweep.budgets)")
        _lookup(kind, f"sweep.kinds.{i}")
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
            plan = arm_plan(cfg, name)
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
    """The conventional frontier's arms (``roles.frontier``; by default every ``conventional`` arm, the
    baseline at budget 1 among them, and every ``matched`` arm)."""
    return list(roles(cfg).frontier)


def predicted_arms(cfg: dict) -> list[str]:
    """Every arm that predicts (a predictor's kind)."""
    return list(roles(cfg).predicted)


def confirmatory_arms(cfg: dict) -> list[str]:
    """The arms of the confirmatory "beats the frontier at equal time" rows: ``frontier.confirmatory``, or by
    default (null) the plan's 50% arm (``roles.plan_r50``) and the repeat control at its ratio and horizon,
    where the study has them."""
    declared = cfg["frontier"]["confirmatory"]
    if declared is not None:
        return list(declared)
    r = roles(cfg)
    if r.plan_r50 is None:
        return []
    out = [r.plan_r50]
    rep = r.control_of(r.plan_r50, "repeat")
    return out + ([rep] if rep is not None else [])


def plan_predictor(cfg: dict) -> str:
    """The predictor of the plan's arms (``roles.plan_r50``, else ``plan_r25``; the RSSM when the
    study has neither): Experiments 2 and 3 score the shadow predictor of this name."""
    r = roles(cfg)
    arm = r.plan_r50 or r.plan_r25
    return (arm_spec(cfg, arm) if arm is not None else registry.BUILTIN["rssm"]).name


# ------------------------------------------------------------------ roles

@dataclasses.dataclass(frozen=True)
class Roles:
    """Which arm plays which part (``roles`` in the config, else derived from the arms): every
    experiment, statistic, figure and rule reads arms through this, never by their names.

    baseline: the conventional arm at the whole budget. plan_r25, plan_r50: the plan's hybrid arms
    (None when the study has none). controls: control arms (a control predictor's kind, or matched).
    frontier: the conventional frontier's arms. cooldown_frontier: a second frontier's arms (wsd
    branches; often none). predicted: every arm that predicts. The study's
    ``_info`` keeps, per arm, its kind, nominal ratio and horizon for :meth:`control_of`.
    """

    baseline: str
    plan_r25: str | None
    plan_r50: str | None
    controls: tuple[str, ...]
    frontier: tuple[str, ...]
    predicted: tuple[str, ...]
    _info: tuple[tuple[str, str, float | None, int | None], ...] = ()
    cooldown_frontier: tuple[str, ...] = ()

    def _get(self, arm: str) -> tuple[str, float | None, int | None]:
        return next((k, r, y) for a, k, r, y in self._info if a == arm)

    def control_of(self, arm: str, kind: str) -> str | None:
        """The control arm of ``kind`` (an arm kind: ``skip``, ``repeat``, ``matched``) at ``arm``'s
        nominal prediction ratio and horizon (a matched arm: at its ratio), or None."""
        _, r, y = self._get(arm)
        for c in self.controls:
            ck, cr, cy = self._get(c)
            if ck == kind and cr is not None and r is not None and abs(cr - r) < 1e-9 and (
                    ck == "matched" or cy == y):
                return c
        return None

    def controls_of(self, arm: str) -> dict[str, str]:
        """Every control at ``arm``'s nominal ratio and horizon: control kind -> arm."""
        kinds = dict.fromkeys(self._get(c)[0] for c in self.controls)
        out = {k: self.control_of(arm, k) for k in kinds}
        return {k: v for k, v in out.items() if v is not None}

    @property
    def compared(self) -> tuple[str, ...]:
        """Predicted arms that are not controls: Exp 5 scores each against its controls."""
        return tuple(a for a in self.predicted if a not in self.controls)

    def kind_of(self, arm: str) -> str:
        return self._get(arm)[0]

    def plan_arms(self) -> dict[str, str]:
        """``{"r25": arm, "r50": arm}`` for the plan's arms the study has."""
        return {k: v for k, v in (("r25", self.plan_r25), ("r50", self.plan_r50)) if v is not None}

    def record(self, present=None) -> dict:
        """The roles as recorded in the experiment logs (statistics and the report read them there),
        limited to the arms ``present`` (default: all): ``baseline``, ``plan_r25``, ``plan_r50``,
        ``controls`` (arm -> kind), ``frontier``, ``predicted``, ``compared`` and ``controls_of``
        (compared arm -> {control kind -> control arm} at its nominal ratio and horizon)."""
        keep = (lambda a: a is not None and (present is None or a in present))
        return {"baseline": self.baseline,
                "plan_r25": self.plan_r25 if keep(self.plan_r25) else None,
                "plan_r50": self.plan_r50 if keep(self.plan_r50) else None,
                "controls": {c: self.kind_of(c) for c in self.controls if keep(c)},
                "frontier": [a for a in self.frontier if keep(a)],
                **({"cooldown_frontier": [a for a in self.cooldown_frontier if keep(a)]}
                   if self.cooldown_frontier else {}),
                "predicted": [a for a in self.predicted if keep(a)],
                "compared": [a for a in self.compared if keep(a)],
                "controls_of": {a: {k: c for k, c in self.controls_of(a).items() if keep(c)}
                                for a in self.compared if keep(a)}}


def roles(cfg: dict) -> Roles:
    """The study's :class:`Roles`: ``roles.<key>`` where given, else derived from the arms (the
    schema's description of ``roles``); raises ConfigError naming the key of a role no arm can play."""
    arms, declared = cfg["arms"], dict(cfg["roles"] or {})
    hy = int(cfg["hybrid"]["horizon"])

    def info(a: str) -> tuple[str, str, float | None, int | None]:
        kind = arms[a]["kind"]
        r = arms[a].get("prediction_ratio")
        y = None if kind in CONVENTIONAL_KINDS else int(arms[a].get("horizon", hy))
        return a, kind, None if r is None else float(r), y

    def need(arm, key: str) -> str:
        if arm not in arms:
            raise ConfigError(f"config key 'roles.{key}': {arm!r} is not an arm of this study "
                              f"(arms: {', '.join(arms)})")
        return arm

    def is_control(a: str) -> bool:
        kind = arms[a]["kind"]
        return kind == "matched" or (kind != "conventional" and _lookup(kind, f"arms.{a}.kind").control)

    baseline = declared.get("baseline")
    if baseline is None:
        if "baseline" not in arms:
            raise ConfigError("config key 'arms': the 'baseline' arm is required (every comparison is against it), "
                              "or name the baseline in roles.baseline")
        baseline = "baseline"
    need(baseline, "baseline")
    if arms[baseline]["kind"] != "conventional" or float(arms[baseline].get("budget", 1.0)) != 1.0:
        raise ConfigError(f"config key 'roles.baseline': {baseline!r} must be a conventional arm at the whole "
                          f"budget (it is {arms[baseline]})")
    predicted = tuple(a for a in arms if arms[a]["kind"] not in CONVENTIONAL_KINDS)
    controls = declared.get("controls")
    if controls is None:
        controls = [a for a in arms if is_control(a)]
    for i, a in enumerate(controls):
        need(a, f"controls.{i}")
        if not is_control(a):
            raise ConfigError(f"config key 'roles.controls.{i}': {a!r} is of kind {arms[a]['kind']!r}, not a control "
                              "(a control predictor such as skip or repeat, or matched)")
    plan = {}
    for key, ratio in (("plan_r25", 0.25), ("plan_r50", 0.5)):
        arm = declared.get(key)
        if arm is None:
            cands = [a for a in predicted if arms[a]["kind"] == registry.BUILTIN["rssm"].kind
                     and abs(float(arms[a]["prediction_ratio"]) - ratio) < 1e-9 and int(arms[a].get("horizon", hy)) == hy
                     and a not in controls]
            if len(cands) > 1:
                raise ConfigError(f"config key 'roles.{key}': several hybrid arms at prediction_ratio {ratio} and "
                                  f"hybrid.horizon ({', '.join(cands)}); name the plan's arm")
            arm = cands[0] if cands else None
        elif need(arm, key) not in predicted or arm in controls:
            raise ConfigError(f"config key 'roles.{key}': {arm!r} is not a predicted arm that is not a control")
        elif abs(float(arms[arm]["prediction_ratio"]) - ratio) > 1e-9:
            raise ConfigError(f"config key 'roles.{key}': {arm!r} has prediction_ratio "
                              f"{arms[arm]['prediction_ratio']}, not {ratio}")
        plan[key] = arm
    if "schedule" in arms[baseline]:
        raise ConfigError(f"config key 'arms.{baseline}.schedule': the baseline runs the study's train.schedule; "
                          "give the schedule to the study (train.schedule) or to another conventional arm")
    fronts = {}
    # derived from the arms alone (rules see reduced configs): the first frontier is the arms that run
    # the study's schedule (no own schedule), the second the arms with their own wsd schedule
    for key, own in (("frontier", None), ("cooldown_frontier", "wsd")):
        front = declared.get(key)
        if front is None:
            front = [a for a in arms if arms[a]["kind"] in FRONTIER_KINDS and arms[a].get("schedule") == own]
        for i, a in enumerate(front):
            if need(a, f"{key}.{i}") and arms[a]["kind"] not in FRONTIER_KINDS:
                raise ConfigError(f"config key 'roles.{key}.{i}': {a!r} is of kind {arms[a]['kind']!r}; a frontier "
                                  "is conventional and matched arms")
        fronts[key] = tuple(front)
    return Roles(baseline, plan["plan_r25"], plan["plan_r50"], tuple(controls), fronts["frontier"], predicted,
                 tuple(info(a) for a in arms), cooldown_frontier=fronts["cooldown_frontier"])


def _check_frontier(cfg: dict) -> None:
    declared = cfg["frontier"]["confirmatory"]
    for i, arm in enumerate(declared or []):
        if arm not in cfg["arms"]:
            raise ConfigError(f"config key 'frontier.confirmatory.{i}': {arm!r} is not an arm of this study "
                              f"(arms: {', '.join(cfg['arms'])})")
        if cfg["arms"][arm]["kind"] in FRONTIER_KINDS:
            raise ConfigError(f"config key 'frontier.confirmatory.{i}': {arm!r} is a {cfg['arms'][arm]['kind']} "
                              "arm, a point of the frontier itself; name predicted arms")


# ------------------------------------------------------------------ the hyperparameter search

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


def load(path: str | os.PathLike, overrides: dict | None = None, lr_from: bool = True) -> dict:
    """Read a YAML config file, apply ``overrides`` (top-level keys), validate. ``lr_from`` False:
    ignore ``train.lr_from`` (the learning-rate sweep that produces its file)."""
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
    if not lr_from and isinstance(raw.get("train"), dict):
        raw["train"].pop("lr_from", None)
    return validate(raw)
