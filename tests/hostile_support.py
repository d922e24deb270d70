"""What the hostile-input tests share (hypothesis settings, the count of examples tried).

Every generated input either works or raises ``ConfigError`` naming the offending key or file;
no other exception escapes, and a failed ``prepare`` leaves nothing under the output's parent.

Generation is derandomized (the same examples every run) so that the suite is reproducible;
``PT_HYPOTHESIS_EXPLORE=1`` draws fresh random examples to hunt for new failures and
``PT_HYPOTHESIS_SCALE=10`` tries ten times as many. The number of examples tried per property is
counted in ``TRIED``, printed when each test module ends (``pytest -s``) and written as JSON to
``$PT_HOSTILE_COUNTS`` when that variable is set (all modules' counts of the process so far).
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from predictive_training import config as config_mod

TRIED: Counter = Counter()
EXPLORE = os.environ.get("PT_HYPOTHESIS_EXPLORE") == "1"
SCALE = float(os.environ.get("PT_HYPOTHESIS_SCALE", "1"))  # e.g. 10 for a longer hunt
REPO = Path(__file__).resolve().parents[1]


def fast(n: int):
    return settings(
        max_examples=max(1, round(n * SCALE)),
        deadline=None,
        database=None,  # write nothing into the repository
        derandomize=not EXPLORE,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


@pytest.fixture(scope="module", autouse=True)
def fast_schema_and_counts():
    """Parse the schema once (its YAML costs ~40 ms a call) and report the example counts."""
    import datasets

    original = config_mod.schema
    parsed = original()
    config_mod.schema = lambda: copy.deepcopy(parsed)
    bars = datasets.utils.logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    yield
    config_mod.schema = original
    if bars:
        datasets.enable_progress_bars()
    print("\nhostile inputs tried:", json.dumps(dict(sorted(TRIED.items())), indent=1))
    if os.environ.get("PT_HOSTILE_COUNTS"):
        Path(os.environ["PT_HOSTILE_COUNTS"]).write_text(json.dumps(dict(TRIED), indent=1))


#: the schema, parsed once at import
SCHEMA = config_mod.schema()


def key_paths(node, max_depth: int = 40):
    """Key paths of a nested input, dotted as ConfigError messages write them ("" then 0 -> ".0").

    Iterative: YAML anchors can make an input contain itself, and nesting can exceed the
    recursion limit.
    """
    stack = [(node, ())]
    while stack:
        node, prefix = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in items:
            path = prefix + (k,)
            yield ".".join(str(p) for p in path)
            if len(path) < max_depth:
                stack.append((v, path))


def names_an_input_key(msg: str, cfg) -> bool:
    # quoted path ("config key 'train.steps'") or a partner named in a cross-key rule ("model.n_head=5")
    # (an empty key only counts when named as a key, since "''" also quotes empty values)
    return any(f"key '{p}'" in msg if p == "" else f"'{p}'" in msg or f"{p}=" in msg for p in key_paths(cfg))


# --- generated configs: near-valid values of every schema node, and anything at all ---------------

EXISTING = Path(__file__).resolve()  # validate only checks that a local: path exists

KEYS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", "study", "seeds", "train", "steps", "a.b", "é", "💥", "it's", "x\ny"]),
    st.integers(-3, 3),
    st.none(),
    st.booleans(),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 10**30, -(10**30), 10**400]),
    st.floats(),  # nan and +-inf included
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324, 0.5, 1.0, 10.0]),
    st.text(max_size=12),
    st.sampled_from(["", " ", "é", "\x00", "local:", "hf:", "synthetic", "1000", "null", "\u202e"]),
)
HOSTILE = st.recursive(SCALARS, lambda c: st.lists(c, max_size=4) | st.dictionaries(KEYS, c, max_size=4), max_leaves=8)
SOURCES = st.sampled_from(
    [
        "synthetic",
        "hf:roneneldan/TinyStories",
        f"local:{EXISTING}",
        "local:/no/such/file.txt",
        "local:relative/missing.txt",
        "ftp://x",
        "",
        "local:",
        "hf:",
        "synthetic ",
        "local:" + "a" * 300,
        "local:\x00",
        "local:~/nothing-here-pt",
    ]
)


def _bounds(sch: dict) -> tuple[float, float]:
    lo = sch.get("minimum", sch.get("exclusiveMinimum", -10))
    hi = sch.get("maximum", sch.get("exclusiveMaximum", lo + 2000))
    return lo, hi


def near_valid(sch: dict, path: str = "") -> st.SearchStrategy:
    """Values that the schema node (almost) accepts: in range, on the bounds, one past them."""
    kind = sch.get("type")
    if path == "data.source":
        return SOURCES
    if "enum" in sch:
        return st.sampled_from(list(sch["enum"]) + ["", str(sch["enum"][0]).upper()])
    if kind == "integer":
        lo, hi = _bounds(sch)
        lo, hi = int(lo), int(min(hi, lo + 2000))
        return st.one_of(st.integers(lo - 2, hi + 2), st.sampled_from([lo, lo - 1, hi, hi + 1, sch.get("default", lo)]))
    if kind == "number":
        lo, hi = _bounds(sch)
        hi = min(hi, lo + 100)
        return st.one_of(
            st.floats(lo - 1, hi + 1),
            st.sampled_from([lo, hi, sch.get("default", lo)]),
            st.integers(int(lo) - 1, int(hi) + 1),
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        if "pattern" in sch:
            return st.one_of(
                st.from_regex(sch["pattern"], fullmatch=True).filter(lambda s: len(s) < 40), st.text(max_size=10)
            )
        return st.text(max_size=10)
    if isinstance(kind, list):  # e.g. [integer, null]
        return st.one_of(st.none(), *(near_valid({**sch, "type": k}, path) for k in kind if k != "null"))
    if kind == "array":
        return st.lists(node(sch.get("items", {}), path + ".0"), max_size=6)
    if kind == "object" and "properties" in sch:
        props = sch["properties"]
        known = st.fixed_dictionaries({}, optional={k: node(v, f"{path}.{k}".lstrip(".")) for k, v in props.items()})
        extra = st.tuples(known, st.dictionaries(KEYS, HOSTILE, min_size=1, max_size=2)).map(
            lambda kv: {**kv[1], **kv[0]}
        )
        return st.one_of(known, known, extra)
    if kind == "object" and isinstance(sch.get("additionalProperties"), dict):  # arms
        names = st.one_of(st.sampled_from(["baseline", "hybrid_r50", "skip_r50"]), KEYS)
        return st.dictionaries(names, node(sch["additionalProperties"], path + ".x"), max_size=3)
    if kind == "object":  # free-form (hybrid.rssm)
        return st.dictionaries(KEYS, HOSTILE, max_size=3)
    return HOSTILE


def node(sch: dict, path: str = "") -> st.SearchStrategy:
    nv = near_valid(sch, path)
    return st.one_of(nv, nv, nv, HOSTILE)  # mostly near-valid, sometimes anything


CONFIGS = st.one_of(near_valid(SCHEMA), near_valid(SCHEMA), near_valid(SCHEMA), HOSTILE)
