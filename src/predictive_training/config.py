"""Study configuration: load YAML, validate against the JSON schema, fill defaults.

The schema (``schemas/config.schema.yaml``) is the single source of truth for keys, types and
defaults; ``config/README.md`` documents them in prose. Validation runs before any job, in the
Snakefile and in every entry point, and its errors name the offending key.
"""

from __future__ import annotations

import copy
import os
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    """A study config that cannot be run; the message names the key or file."""


def schema() -> dict:
    text = resources.files("predictive_training").joinpath("schemas/config.schema.yaml").read_text()
    return yaml.safe_load(text)


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


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    where = _key_path(error)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known)) if isinstance(error.instance, dict) else []
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
    cfg = copy.deepcopy(config)
    sch = schema()
    validator = jsonschema.Draft202012Validator(sch)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), _key_path(e)))
    if errors:
        raise ConfigError(_describe(errors[0]))
    _fill_defaults(cfg, sch)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: _key_path(e))
    if errors:  # a default that does not validate is a schema bug, but say where
        raise ConfigError(_describe(errors[0]))
    _check_semantics(cfg, Path(base_dir) if base_dir else Path.cwd())
    return cfg


def _check_semantics(cfg: dict, base_dir: Path) -> None:
    model, train, data = cfg["model"], cfg["train"], cfg["data"]
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
        if not path.exists():
            raise ConfigError(f"config key 'data.source': local file or folder not found: {path}")
    if "baseline" not in cfg["arms"]:
        raise ConfigError("config key 'arms': the 'baseline' arm is required (every comparison is against it)")


def local_path(source: str, base_dir: str | os.PathLike | None = None) -> Path:
    path = Path(os.path.expanduser(source.removeprefix("local:")))
    if not path.is_absolute():
        path = Path(base_dir or Path.cwd()) / path
    return path


def load(path: str | os.PathLike, overrides: dict | None = None) -> dict:
    """Read a YAML config file, apply ``overrides`` (top-level keys), validate."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys")
    raw.update(overrides or {})
    return validate(raw)
