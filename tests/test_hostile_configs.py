"""Hostile configs: generated config dicts through ``config.validate`` (hypothesis; ``hostile_support``)."""

from __future__ import annotations

import copy
import io
import math
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from predictive_training import config as config_mod
from predictive_training.config import ConfigError, validate
from predictive_training.phase_plan import PhasePlan

from .hostile_support import (CONFIGS, EXISTING, SCHEMA, TRIED, fast, fast_schema_and_counts,  # noqa: F401
                              names_an_input_key)


# Configs that must validate: every value inside its range and the cross-key rules kept.
VALID = st.fixed_dictionaries(
    {},
    optional={
        "study": st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True).filter(lambda s: s not in (".", "..")),
        "seeds": st.lists(st.integers(0, 2**40), min_size=1, max_size=6, unique=True),
        "device": st.sampled_from(["auto", "cpu", "cuda"]),
        "threads": st.integers(1, 64),
        "data": st.fixed_dictionaries(
            {},
            optional={
                "source": st.sampled_from(["synthetic", "hf:roneneldan/TinyStories", f"local:{EXISTING}"]),
                "vocab_size": st.integers(260, 65535),
                "val_fraction": st.floats(1e-6, 0.499),
                "max_documents": st.one_of(st.none(), st.integers(1, 10**9)),
                "hf_config": st.one_of(st.none(), st.text(max_size=10)),
            },
        ),
        "model": st.integers(1, 8).flatmap(
            lambda h: st.fixed_dictionaries(
                {"n_head": st.just(h), "d_model": st.integers(max(1, -(-8 // h)), 64).map(lambda m: m * h)}
            )
        ),
        "train": st.integers(10, 5000).flatmap(
            lambda s: st.fixed_dictionaries(
                {"steps": st.just(s), "warmup_steps": st.integers(0, s - 1), "lr": st.floats(1e-9, 10.0)}
            )
        ),
        "arms": st.dictionaries(
            st.text(min_size=1, max_size=8),
            st.fixed_dictionaries(
                {
                    "kind": st.sampled_from(["hybrid", "skip", "repeat", "matched"]),
                    "prediction_ratio": st.floats(0, 0.9),
                }
            ),
            max_size=3,
        ).map(lambda arms: {**arms, "baseline": {"kind": "conventional"}}),
    },
).filter(lambda cfg: _plans_fit(cfg))


def _plans_fit(cfg: dict) -> bool:
    """The cross-key rules on arms: every hybrid-like arm's phase plan fits in the step budget, and a
    conventional arm's budget trains more steps than the warmup."""
    props = SCHEMA["properties"]
    train = {"steps": props["train"]["properties"]["steps"]["default"],
             "warmup_steps": props["train"]["properties"]["warmup_steps"]["default"], **cfg.get("train", {})}
    hyb = props["hybrid"]["properties"]
    for arm in cfg.get("arms", props["arms"]["default"]).values():
        if arm["kind"] == "conventional":
            if math.floor(arm.get("budget", 1.0) * train["steps"] + 0.5) <= train["warmup_steps"]:
                return False
            continue
        try:
            PhasePlan(arm["prediction_ratio"], hyb["horizon"]["default"], hyb["correct_steps"]["default"],
                      train["steps"], train["warmup_steps"])
        except ValueError:
            return False
    return True


def leaves(node, prefix=()):
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from leaves(v, prefix + (k,))
    else:
        yield prefix, node


def check_validate(cfg) -> dict | None:
    """The config property: validates, or ConfigError naming a key path of the input."""
    try:
        out = validate(cfg)
    except ConfigError as exc:
        msg = str(exc)
        if not isinstance(cfg, dict) and cfg is not None:
            assert "config must be a mapping" in msg, msg
        else:
            assert names_an_input_key(msg, cfg), f"message names no input key: {msg!r} for {cfg!r}"
        return None
    assert isinstance(out, dict) and {k for k, v in SCHEMA["properties"].items() if "default" in v} <= set(out)
    for path, value in leaves(cfg or {}):  # defaults never override what the input gave
        got = out
        for k in path:
            got = got[k]
        assert got == value or (isinstance(value, dict) and not value), (path, value, got)
    return out


@fast(150)
@given(cfg=CONFIGS)
@example(cfg={1: 2, "x": 3})  # mixed key types once crashed the unknown-key message (sorted)
@example(cfg={"train": {"lr": math.nan}})
@example(cfg={"seeds": [0, 0]})
@example(cfg={"seeds": []})
@example(cfg={"seeds": [-1]})
@example(cfg={"model": {"n_head": 5}})
@example(cfg={"train": {"steps": 10}})
@example(cfg={"data": {"source": "local:" + "a" * 5000}})  # a name too long for the file system
@example(cfg=[{"study": "x"}])
def test_generated_configs_validate_or_name_the_key(cfg):
    out = check_validate(cfg)
    TRIED["validate: generated (valid)" if out is not None else "validate: generated (ConfigError)"] += 1


@fast(50)
@given(cfg=VALID)
def test_valid_configs_validate_and_keep_their_values(cfg):
    out = check_validate(cfg)
    assert out is not None, cfg
    assert validate(out) == out  # filling defaults is idempotent
    TRIED["validate: valid by construction"] += 1


DEEP: list = []
for _ in range(3000):
    DEEP = [DEEP]
CYCLE: list = []
CYCLE.append(CYCLE)


@pytest.mark.parametrize(
    "cfg, key, words",
    [
        ({1: 2, "x": 3}, "'1'", "keys must be strings, got int"),  # the unknown-key message crashed (sorted)
        ({"train": {None: 1, "x": 3}}, "'train.None'", "keys must be strings, got NoneType"),
        ({"arms": {None: {"": None}}}, "'arms.None'", "keys must be strings"),  # jsonschema said 'arms.'
        ({"x": "y", None: 1}, "'None'", "keys must be strings"),
        ({"train": {"lr": math.nan}}, "'train.lr'", "not a finite number"),
        ({"train": {"grad_clip": math.inf}}, "'train.grad_clip'", "not a finite number"),
        ({"thresholds": {"alpha": math.nan}}, "'thresholds.alpha'", "not a finite number"),
        ({"hybrid": {"rssm": {"hidden": -math.inf}}}, "'hybrid.rssm.hidden'", "not a finite number"),
        ({"train": {"steps": 1000.0}}, "'train.steps'", "not of type 'integer'"),
        ({"seeds": [0.0, 1.0]}, "'seeds.0'", "not of type 'integer'"),
        (
            {"arms": {"baseline": {"kind": "conventional"}, 7: {"kind": "conventional"}}},
            "'arms.7'",
            "keys must be strings",
        ),
        ({"hybrid": {"rssm": {None: 1}}}, "'hybrid.rssm.None'", "keys must be strings"),
        ({"data": {"source": "local:" + "a" * 5000}}, "'data.source'", "cannot access"),
        ({"hybrid": {"rssm": {"x": DEEP}}}, "'hybrid.rssm.x.0.0.0", "nested deeper than"),  # deepcopy recursed
        ({"hybrid": {"rssm": {"x": CYCLE}}}, "'hybrid.rssm.x.0'", "holds itself"),  # the value walk recursed
        ({"study": ".."}, "'study'", "cannot name a results folder"),  # results/.. is the project folder
        ({"study": "."}, "'study'", "cannot name a results folder"),
        ({"study": "s" * 201}, "'study'", "cannot name a results folder"),
    ],
)
def test_regressions_found_by_generation(cfg, key, words):
    """Inputs that once crashed validate() or were silently accepted."""
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert key in str(info.value) and words in str(info.value), str(info.value)
