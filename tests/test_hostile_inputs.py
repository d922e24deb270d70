"""Hostile inputs: generated configs, YAML files and data files (hypothesis).

Every generated input either works or raises ``ConfigError`` naming the offending key or file;
no other exception escapes, and a failed ``prepare`` leaves nothing under the output's parent.

Generation is derandomized (the same examples every run) so that the suite is reproducible;
``PT_HYPOTHESIS_EXPLORE=1`` draws fresh random examples to hunt for new failures and
``PT_HYPOTHESIS_SCALE=10`` tries ten times as many. The number of
examples tried per property is counted in ``TRIED``, printed when the module ends (``pytest -s``)
and written as JSON to ``$PT_HOSTILE_COUNTS`` when that variable is set.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from predictive_training import config as config_mod
from predictive_training.config import ConfigError, load, validate
from predictive_training.phase_plan import PhasePlan
from predictive_training.data.prepare import TokenData, cloze_items, prepare
from predictive_training.data.sources import load_documents
from predictive_training.data.synthetic import generate_stories

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
def _fast_schema_and_counts():
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


# --- generated configs --------------------------------------------------------------------

SCHEMA = config_mod.schema()
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
    conventional arm's budget (issue 16) trains more steps than the warmup."""
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


def leaves(node, prefix=()):
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from leaves(v, prefix + (k,))
    else:
        yield prefix, node


def names_an_input_key(msg: str, cfg) -> bool:
    # quoted path ("config key 'train.steps'") or a partner named in a cross-key rule ("model.n_head=5")
    # (an empty key only counts when named as a key, since "''" also quotes empty values)
    return any(f"key '{p}'" in msg if p == "" else f"'{p}'" in msg or f"{p}=" in msg for p in key_paths(cfg))


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


# --- YAML files through config.load -------------------------------------------------------

FIXED_YAML = [
    b"",
    b"\n",
    b"~",
    b"0",
    b"false",
    b"[]",
    b"''",
    b"- 1\n- 2\n",
    b"a: [",
    b"{",
    b"\x00\x01",
    b"\xff\xfe\x00",
    "\ufeffstudy: x\n".encode(),
    b"study: x\n---\nstudy: y\n",
    b"!!python/object/apply:os.system ['true']\n",
    b"&a [*a]",
    b"a: &x 1\nb: *y\n",
    b"hybrid:\n  rssm:\n    x: &a [*a]\n",
    b"hybrid: &h\n  rssm: {x: *h}\n",
    b"? [1, 2]\n: 3\n",
    b"seeds: [0, 0]\n",
    b"train: {lr: .nan}\n",
    b"train: {steps: 1.0e+3}\n",
    b"study: 2020-01-01\n",
    b"1: 2\nx: 3\n",
    b"study: !!binary aGVsbG8=\n",
    b"[" * 3000 + b"]" * 3000,
    b"a:\n" + b"".join(b" " * i + b"b:\n" for i in range(1, 1500)),
]
YAML_FILES = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda s: s.encode("utf-8")),
    CONFIGS.map(lambda c: yaml.safe_dump(c, allow_unicode=True, sort_keys=False).encode("utf-8")),
    st.sampled_from(FIXED_YAML),
)


def check_load(raw: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "study.yaml"
        path.write_bytes(raw)
        try:
            out = load(path)
        except ConfigError as exc:
            msg = str(exc)
            try:
                parsed = yaml.safe_load(raw.decode("utf-8"))
            except Exception:  # noqa: BLE001 - the file was not YAML: the message must name the file
                parsed = None
            assert str(path) in msg or (isinstance(parsed, dict) and names_an_input_key(msg, parsed)), msg
            return "ConfigError"
        assert isinstance(out, dict) and {k for k, v in SCHEMA["properties"].items() if "default" in v} <= set(out)
        return "valid"


@fast(80)
@given(raw=YAML_FILES)
def test_generated_yaml_files_load_or_name_the_file_or_key(raw):
    TRIED[f"load: generated YAML ({check_load(raw)})"] += 1


@pytest.mark.parametrize("raw", FIXED_YAML, ids=range(len(FIXED_YAML)))
def test_fixed_hostile_yaml_files(raw):
    outcome = check_load(raw)
    if raw.strip() in (b"0", b"false", b"[]", b"''", b"- 1\n- 2"):  # falsy non-mappings were once accepted as {}
        assert outcome == "ConfigError"
    TRIED[f"load: fixed hostile YAML ({outcome})"] += 1


def test_huge_and_odd_config_files(tmp_path):
    """A 3 MB scalar, a 20k-element seed list, YAML aliases expanding to 10^9 values, a folder, deep nesting."""
    cases = {
        "huge_scalar.yaml": b"study: " + b"x" * 3_000_000 + b"\n",
        "huge_seeds.yaml": b"seeds: [" + b", ".join(str(i).encode() for i in range(20_000)) + b"]\n",
        # "billion laughs": nine levels of ten aliases each expand to 10^9 values
        "laughs.yaml": b"hybrid:\n  rssm:\n    l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
        + b"".join(f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n".encode() for i in range(1, 9)),
        "deep.yaml": b"[" * 20000 + b"]" * 20000,
    }
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
    with pytest.raises(ConfigError, match="'study'.*cannot name a results folder"):
        load(tmp_path / "huge_scalar.yaml")  # matches the schema's pattern, but no file system takes it
    assert load(tmp_path / "huge_seeds.yaml")["seeds"][-1] == 19_999
    with pytest.raises(ConfigError, match=r"'hybrid\.rssm\.l5': expands to more than 1,000,000 values"):
        load(tmp_path / "laughs.yaml")
    with pytest.raises(ConfigError, match="deep.yaml.*nested too deeply"):
        load(tmp_path / "deep.yaml")
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(ConfigError, match="folder.yaml is not a file"):
        load(tmp_path / "folder.yaml")
    TRIED["load: huge/odd files"] += 5


# --- the CLI ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, key",
    [
        (b"train:\n  stepz: 10\n", "train.stepz"),
        (b"train: {lr: .nan}\n", "train.lr"),
        (b"[" * 5000, "nested too deeply"),
    ],
)
def test_cli_validate_reports_one_line_and_exit_2(tmp_path, raw, key):
    path = tmp_path / "bad.yaml"
    path.write_bytes(raw)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    res = subprocess.run(
        [sys.executable, "-m", "predictive_training", "validate", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and key in lines[0], res.stderr
    TRIED["cli: validate bad config"] += 1


# --- generated data files for local: sources ----------------------------------------------

DOCS = generate_stories(11, 3000)
DOC_TEXT = st.one_of(
    st.sampled_from(DOCS), st.text(max_size=60), st.sampled_from(["", "   ", "\n\n", "<|endoftext|>", "é" * 50])
)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=10))
TEXT_VALUE = st.one_of(
    DOC_TEXT,
    DOC_TEXT,
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
    st.floats(),
    st.booleans(),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)
CLEAN_ROW = st.fixed_dictionaries({"text": DOC_TEXT}, optional={"id": st.integers(0, 10**6)})
ROW = st.one_of(
    CLEAN_ROW,
    st.fixed_dictionaries({"text": TEXT_VALUE}, optional={"id": st.integers(0, 10**6), "meta": JSON_SCALARS}),
    st.dictionaries(st.text(max_size=6), JSON_SCALARS, max_size=3),  # usually no text field
    st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=3)),  # not a row at all
)


def _invalid_utf8(data: bytes, at: float) -> bytes:
    i = int(at * len(data))
    return data[:i] + b"\xff\xfe\xc3" + data[i:]


def _txt(draw) -> bytes:
    docs = draw(st.lists(DOC_TEXT, min_size=draw(st.sampled_from([0, 1, 1, 1])), max_size=12))
    sep = draw(st.sampled_from(["\n\n", "<|endoftext|>", "\n", "\r\n\r\n", " \n \n"]))
    text = sep.join(docs)
    if draw(st.sampled_from([True, True, False])):
        return text.encode("utf-8")
    return draw(
        st.one_of(
            st.binary(max_size=200),
            st.sampled_from([b"", b"   \n\t\n ", b"\x00" * 10, "word ".encode() * 40000]),  # huge single line
            st.floats(0, 1).map(lambda at: _invalid_utf8(text.encode("utf-8"), at)),
        )
    )


def _jsonl(draw) -> bytes:
    rows = draw(
        st.lists(
            st.one_of(CLEAN_ROW, CLEAN_ROW, ROW) if draw(st.sampled_from([True, False, False])) else CLEAN_ROW,
            min_size=draw(st.sampled_from([0, 1, 1, 1])),
            max_size=10,
        )
    )
    lines = [json.dumps(r) for r in rows]
    if draw(st.sampled_from([False, False, False, True])):  # garbage or blank lines among the rows
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["", "{", "not json", "[1,", "{}"])))
    data = "\n".join(lines).encode("utf-8")
    if draw(st.sampled_from([False, False, False, False, True])):
        return _invalid_utf8(data, draw(st.floats(0, 1)))
    return data


def _json(draw) -> bytes:
    rows = draw(st.lists(st.one_of(CLEAN_ROW, ROW), max_size=8))
    shape = draw(st.sampled_from(["list", "list", "list", "one", "wrapped", "scalar"]))
    obj = {"list": rows, "one": rows[0] if rows else {}, "wrapped": {"data": rows}, "scalar": draw(JSON_SCALARS)}[shape]
    return json.dumps(obj).encode("utf-8")


def _parquet(draw) -> bytes:
    n = draw(st.integers(0, 8))
    strings = lambda: pa.array(
        draw(st.lists(st.one_of(st.none(), DOC_TEXT), min_size=n, max_size=n)), type=pa.string()
    )  # noqa: E731
    column = draw(
        st.sampled_from(
            [
                strings,
                strings,
                strings,
                lambda: pa.array(
                    draw(st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=n, max_size=n)),
                    type=pa.int64(),
                ),
                lambda: pa.array(draw(st.lists(st.floats(), min_size=n, max_size=n)), type=pa.float64()),
                lambda: pa.array(
                    draw(st.lists(st.lists(st.text(max_size=5), max_size=3), min_size=n, max_size=n)),
                    type=pa.list_(pa.string()),
                ),
                lambda: pa.array(draw(st.lists(st.binary(max_size=10), min_size=n, max_size=n)), type=pa.binary()),
            ]
        )
    )()
    name = draw(st.sampled_from(["text", "text", "text", "body", "Text"]))
    if draw(st.sampled_from([False] * 9 + [True])):
        return draw(st.binary(max_size=100))  # not parquet at all
    buf = io.BytesIO()
    pq.write_table(pa.table({name: column}), buf)
    return buf.getvalue()


@st.composite
def data_file(draw) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".txt", ".jsonl", ".json", ".parquet"]))
    make = {".txt": _txt, ".jsonl": _jsonl, ".json": _json, ".parquet": _parquet}[suffix]
    return suffix, make(draw)


@st.composite
def data_folder(draw) -> dict:
    """A folder of 0-4 files, maybe with unsupported ones and a subfolder."""
    files = draw(st.lists(data_file(), max_size=4))
    junk = draw(st.lists(st.sampled_from([".csv", ".md", "", ".TXT"]), max_size=2))
    return {"kind": "folder", "files": files, "junk": junk, "nested": draw(st.booleans())}


SINGLE_FILE = data_file().map(lambda f: {"kind": "file", "files": [f]})


def materialize(spec: dict, root: Path) -> tuple[Path, list[Path]]:
    if spec["kind"] == "file":
        suffix, raw = spec["files"][0]
        path = root / f"corpus{suffix}"
        path.write_bytes(raw)
        return path, [path]
    folder = root / "corpus"
    folder.mkdir()
    paths = []
    for i, (suffix, raw) in enumerate(spec["files"]):
        sub = folder / "sub" if spec["nested"] and i % 2 else folder
        sub.mkdir(exist_ok=True)
        paths.append(sub / f"part{i}{suffix}")
        paths[-1].write_bytes(raw)
    for j, suffix in enumerate(spec["junk"]):
        (folder / f"junk{j}{suffix}").write_bytes(b"ignored")
    return folder, paths


def expected_documents(spec: dict) -> list[str] | None:
    """Known answer for a single clean .jsonl/.json/.parquet file; None where rows are mixed."""
    if spec["kind"] != "file":
        return None
    suffix, raw = spec["files"][0]
    if suffix == ".jsonl":
        try:
            rows = [json.loads(line) for line in raw.decode("utf-8").split("\n") if line.strip()]
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
    elif suffix == ".json":
        try:
            rows = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(rows, list):
            return None
    elif suffix == ".parquet":
        try:
            table = pq.read_table(io.BytesIO(raw))
        except Exception:  # noqa: BLE001 - not parquet
            return None
        if table.column_names != ["text"] or table.schema.field("text").type != pa.string():
            return None
        rows = [{"text": t} for t in table.column("text").to_pylist()]
    else:
        return None
    if not rows or not all(isinstance(r, dict) and set(r) <= {"text", "id", "meta"} for r in rows):
        return None
    if any(isinstance(r.get("meta"), float) and not math.isfinite(r["meta"]) for r in rows):
        return None  # NaN is not JSON; the reader may refuse it
    texts = [r.get("text") for r in rows]
    if not all(t is None or isinstance(t, str) for t in texts):
        return None
    return [t.strip() for t in texts if t and t.strip()]


REASONS = [
    "is empty",
    "not UTF-8",
    "only whitespace",
    "has no '",
    "values, not text",
    "could not be read",
    "not valid JSON",
    "not an object",
    "no rows with fields",
    "holds no text",
    "holds no .txt",
    "fewer than one batch",
    "yielded",
]


def reason(msg: str) -> str:
    return next((r for r in REASONS if r in msg), "other")


def names_the_source(msg: str, source: Path, files: list[Path]) -> bool:
    return str(source) in msg or any(str(f) in msg for f in files)


def _data_cfg(source: Path, text_field: str = "text", **train) -> dict:
    return validate(
        {
            "data": {"source": f"local:{source}", "vocab_size": 260, "cloze_items": 10, "text_field": text_field},
            "model": {"context": train.get("context", 4), "n_layer": 1, "n_head": 1, "d_model": 8},
            "train": {"batch_size": train.get("batch_size", 1), "steps": 20, "warmup_steps": 2},
        }
    )


def check_load_documents(spec: dict, text_field: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source, files = materialize(spec, Path(tmp))
        try:
            docs = load_documents(_data_cfg(source, text_field)["data"])
        except ConfigError as exc:
            assert names_the_source(str(exc), source, files), str(exc)
            TRIED[f"load_documents: generated {spec['kind']} (ConfigError: {reason(str(exc))})"] += 1
            return
        assert docs and all(isinstance(d, str) and d and d == d.strip() for d in docs)
        want = expected_documents(spec) if text_field == "text" else None
        if want is not None:
            assert docs == want
            TRIED["load_documents: known-answer checks"] += 1
        TRIED[f"load_documents: generated {spec['kind']} (loaded)"] += 1


@fast(50)
@given(spec=SINGLE_FILE, text_field=st.sampled_from(["text"] * 8 + ["body", ""]))
def test_generated_data_files_load_or_name_the_file(spec, text_field):
    check_load_documents(spec, text_field)


@fast(15)
@given(spec=data_folder())
def test_generated_data_folders_load_or_name_the_file(spec):
    check_load_documents(spec, "text")


# Text without line breaks or separators, so that the expected documents are known exactly.
CLEAN_TEXT = st.one_of(
    st.sampled_from(DOCS),
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=40),
).filter(lambda t: "<|endoftext|>" not in t)


@st.composite
def clean_file(draw) -> tuple[str, bytes, list[str]]:
    """A well-formed file of each format and the documents it must yield."""
    texts = draw(st.lists(CLEAN_TEXT, min_size=1, max_size=12))
    want = [t.strip() for t in texts if t.strip()]
    suffix = draw(st.sampled_from([".txt", ".jsonl", ".json", ".parquet"]))
    if suffix == ".txt":
        raw = draw(st.sampled_from(["\n\n", "<|endoftext|>", "\n \n", "\n\n\n"])).join(texts).encode("utf-8")
    elif suffix == ".jsonl":
        raw = "\n".join(
            json.dumps({"text": t, "id": i}, ensure_ascii=draw(st.booleans())) for i, t in enumerate(texts)
        ).encode()
    elif suffix == ".json":
        raw = json.dumps([{"text": t} for t in texts]).encode()
    else:
        buf = io.BytesIO()
        pq.write_table(pa.table({"text": pa.array(texts, type=pa.string())}), buf)
        raw = buf.getvalue()
    return suffix, raw, want


@fast(20)
@given(spec=clean_file())
def test_clean_files_yield_exactly_their_documents(spec):
    """Known answer: every non-blank text, stripped, in file order (or ConfigError if none is left)."""
    suffix, raw, want = spec
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"corpus{suffix}"
        path.write_bytes(raw)
        try:
            docs = load_documents(_data_cfg(path)["data"])
        except ConfigError as exc:
            assert not want and str(path) in str(exc), str(exc)
            TRIED["load_documents: clean file, all blank (ConfigError)"] += 1
            return
        assert docs == want
        TRIED[f"load_documents: clean {suffix} known answer"] += 1


def _no_leftovers(parent: Path) -> None:
    left = [p.name for p in parent.iterdir()] if parent.exists() else []
    assert left == [], f"left under {parent}: {left}"


@st.composite
def corpus(draw) -> tuple[str, bytes]:
    """A corpus that is sometimes big enough for prepare: real stories mixed with hostile text."""
    docs = draw(
        st.lists(st.one_of(st.sampled_from(DOCS), DOC_TEXT, st.just("1234567890 " * 5 + "abc def ghi")), max_size=25)
    )
    suffix = draw(st.sampled_from([".txt", ".jsonl"]))
    if suffix == ".txt":
        raw = "\n\n".join(docs).encode("utf-8")
    else:
        rows = docs + draw(st.lists(TEXT_VALUE, max_size=3))  # a few rows of the wrong type among them
        raw = "\n".join(json.dumps({"text": d}) for d in rows).encode("utf-8")
    return suffix, raw


@fast(8)
@given(spec=corpus(), batch_size=st.integers(1, 16), context=st.integers(4, 32))
@example(spec=(".txt", "\n\n".join(["1234567890 " * 5 + "abc def ghi jkl"] * 30).encode()), batch_size=1, context=4)
@example(spec=(".txt", b"tiny corpus.\n\nand another."), batch_size=16, context=32)
def test_generated_corpora_prepare_or_leave_nothing(spec, batch_size, context):
    suffix, raw = spec
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"corpus{suffix}"
        source.write_bytes(raw)
        parent = Path(tmp) / "results"
        out = parent / "data"
        try:
            cfg = _data_cfg(source, batch_size=batch_size, context=context)
            meta = prepare(cfg, out)
        except ConfigError as exc:
            assert names_the_source(str(exc), source, [source]), str(exc)
            _no_leftovers(parent)
            TRIED[f"prepare: generated corpus (ConfigError: {reason(str(exc))})"] += 1
            return
        assert sorted(p.name for p in parent.iterdir()) == ["data"]  # no .data.tmp-* beside it
        assert sorted(p.name for p in out.iterdir()) == [
            "cloze.json",
            "meta.json",
            "tokenizer.json",
            "train.npy",
            "val.npy",
        ]
        data = TokenData(out)  # verifies the sha256 in meta.json
        assert meta == json.loads((out / "meta.json").read_text())
        assert len(data.train) == meta["tokens"]["train"] >= batch_size * (context + 1)
        assert len(data.val) == meta["tokens"]["val"] >= batch_size * (context + 1)
        assert int(np.max(data.train)) < meta["vocab_size"] <= 260
        TRIED["prepare: generated corpus (prepared)"] += 1


def test_prepare_failure_in_folder_source_leaves_nothing(tmp_path):
    """A folder whose files load but are too small for one batch: nothing under results/."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text("one small story.\n\nanother one.")
    (folder / "b.jsonl").write_text(json.dumps({"text": "a third"}) + "\n" + json.dumps({"text": 3}) + "\n")
    pq.write_table(pa.table({"text": ["a fourth", None]}), folder / "c.parquet")
    (folder / "notes.md").write_text("ignored")
    with pytest.raises(ConfigError, match=r"corpus.*fewer than one batch"):
        prepare(_data_cfg(folder, batch_size=16, context=32), tmp_path / "results" / "data")
    _no_leftovers(tmp_path / "results")
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "x.csv").write_text("text\nhello\n")
    with pytest.raises(ConfigError, match=r"empty holds no \.txt/\.jsonl/\.json/\.parquet files"):
        prepare(_data_cfg(empty), tmp_path / "results2" / "data")
    _no_leftovers(tmp_path / "results2")
    TRIED["prepare: fixed folder cases"] += 2


@pytest.mark.parametrize(
    "name, raw, match",
    [
        ("int.jsonl", b'{"text": 5}\n{"text": 6}\n', r"'text' field holds int values, not text"),
        ("list.json", b'[{"text": ["a", "b"]}]', r"'text' field holds list values, not text"),
        ("ws.jsonl", b"  \n\n \t\n", r"holds only whitespace"),
        ("broken.jsonl", b'{"text": "a"}\n{"text": \n', r"line 2 is not valid JSON \(Expecting value at column 10\)"),
        ("broken.json", b'[{"text": "a"},\n {"text": }]', r"not valid JSON \(line 2 column 11"),
        # a leading bare null crashed the process inside pyarrow (segmentation fault)
        ("null.jsonl", b'null\n{"text": "a"}\n', r"line 1 is null, not an object"),
        ("null.json", b"null", r"top-level value is null"),
        ("mixed.json", b'[{"text": "a"}, 5]', r"item 1 of its array is a number"),
        ("empty.json", b"[]", r"holds no rows with fields"),
        ("empty_rows.jsonl", b"{}\n{}\n", r"holds no rows with fields"),
        ("dup.jsonl", b'{"text": "a", "text": "b"}\n', r"could not be read as json: .*specified twice"),
    ],
)
def test_data_messages_found_by_generation(tmp_path, name, raw, match):
    """Messages that once said only 'holds no text' or 'An error occurred while generating the dataset'."""
    path = tmp_path / name
    path.write_bytes(raw)
    with pytest.raises(ConfigError, match=match) as info:
        load_documents(_data_cfg(path)["data"])
    assert str(path) in str(info.value)


def test_cloze_items_with_no_word_before_the_blank():
    """Text before a cloze position may hold no ASCII word (digits, other scripts): once an IndexError."""
    docs = ["1234567890 " * 5 + "abc def", "éééé " * 10 + "abc def", "abc abc abc def def def ghi ghi ghi jkl jkl jkl"]
    items = cloze_items(docs, 10, 4, 0)
    assert items and all(it["choices"][it["answer"]] in it["choices"] and len(set(it["choices"])) == 4 for it in items)
    assert {it["context"] for it in items} >= {"1234567890 " * 4 + "1234567890"}


def test_failure_while_writing_keeps_the_old_output_and_leaves_no_temporary(tmp_path, monkeypatch):
    """A disk error inside the atomic write: the previous data folder survives, no .data.tmp-* (nor
    the document spool) remains."""
    import predictive_training.data.prepare as prepare_mod

    source = tmp_path / "corpus.txt"
    source.write_text("\n\n".join(DOCS))
    out = tmp_path / "results" / "data"
    meta = prepare(_data_cfg(source), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    real_move = prepare_mod.shutil.move

    def failing_move(src, dst, *args, **kwargs):  # the encoded splits are moved into the new folder
        if str(dst).endswith("val.npy"):  # train.npy in place, val.npy fails
            raise OSError(28, "No space left on device")
        return real_move(src, dst, *args, **kwargs)

    monkeypatch.setattr(prepare_mod.shutil, "move", failing_move)
    with pytest.raises(OSError, match="No space left"):
        prepare(_data_cfg(source), out)
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["data"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert TokenData(out).meta == meta
