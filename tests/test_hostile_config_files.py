"""Hostile config files: generated and odd YAML files through ``config.load``, and the command line's
one-line error (hypothesis; ``hostile_support``)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from predictive_training.config import ConfigError, load, validate

from .hostile_support import (CONFIGS, REPO, SCHEMA, TRIED, fast, fast_schema_and_counts,  # noqa: F401
                              names_an_input_key)


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


@pytest.mark.slow
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
