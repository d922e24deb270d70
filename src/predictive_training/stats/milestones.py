"""The study's own milestones (STUDY.md section 7): one record format for every pivot, mitigation and
scaling rule, beside the plan's milestones and decisions in ``decisions.json``.

A study record is a dict with

- ``id``, ``title``, ``question`` (what it decides, in one sentence);
- ``rule``: the confirmatory rule in words, as declared in the config before the runs;
- ``rule_declared``: where and when it was declared: ``config`` (the file), ``keys`` (the config keys
  that hold the rule), ``commit`` (the last commit that changed that file when the statistics ran,
  ``git log -1 --format=%H -- FILE``; None when unknown), ``commit_time``, ``uncommitted_changes`` (the
  file differs from that commit) and ``declared_before_runs`` (the commit is older than the first run
  of the experiment; None when unknown);
- ``inputs``: the estimates the rule reads, each ``{estimate, ci_low, ci_high, n, test, threshold,
  p_adjusted, passed}`` (the tests-table row's values; the rule is met when its rows passed), and
  informative values (numbers or small mappings) beside them;
- ``outcome``: ``Go``, ``No-Go`` or ``not evaluated`` (:func:`outcome_of`);
- ``family``: ``study`` (always; Bonferroni never mixes a study rule with the plan's criteria);
- ``confirmatory`` (one confirmatory rule per question: True), ``reason``, ``caveats`` and
  ``exploratory`` (what else was measured, labelled as such).

:func:`with_study_records` adds records to the plan's decisions; :func:`merge_tests` appends a study
experiment's rows to the tests table with the adjustment they had (the rule's own family).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from .decisions import GO, NO_GO, NOT_EVALUATED
from .tests import TESTS_COLUMNS, TestRow
from ..io import finite_or_none as _num

__all__ = ["FAMILY", "REQUIRED_FIELDS", "criterion_input", "declared", "merge_tests", "outcome_of", "read_records",
           "study_record", "validate_record", "with_study_records"]

FAMILY = "study"
REQUIRED_FIELDS = ("id", "title", "question", "rule", "rule_declared", "inputs", "outcome", "family")


def criterion_input(row: TestRow | Mapping) -> dict:
    """A criterion's entry of ``inputs`` from its tests-table row (a :class:`TestRow` or a row dict)."""
    r = row.__dict__ if isinstance(row, TestRow) else dict(row)
    passed = r.get("passed")
    if isinstance(passed, str):
        passed = passed.strip().lower() in ("true", "1", "yes")
    return {"estimate": _num(r.get("estimate")), "ci_low": _num(r.get("ci_low")), "ci_high": _num(r.get("ci_high")),
            "n": int(r["n"]) if _num(r.get("n")) is not None else None, "test": str(r.get("test", "")),
            "threshold": _num(r.get("threshold")), "p_adjusted": _num(r.get("p_adjusted")),
            "passed": None if passed is None or (isinstance(passed, float) and math.isnan(passed)) else bool(passed)}


def outcome_of(passed: Sequence[bool | None]) -> str:
    """AND over the criteria: Go when every one passed, No-Go when one failed, else not evaluated."""
    if any(p is False for p in passed):
        return NO_GO
    if passed and all(p is True for p in passed):
        return GO
    return NOT_EVALUATED


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def declared(config_file: str | Path | None, keys: Sequence[str], first_run: float | None = None) -> dict:
    """Where a rule was declared: the last commit that changed ``config_file`` (None outside a git work
    tree or for a file git does not track), whether the file has uncommitted changes, and whether that
    commit is older than ``first_run`` (seconds since the epoch: when the experiment's first run
    started; None: unknown)."""
    out = {"config": None if config_file is None else str(config_file), "keys": list(keys), "commit": None,
           "commit_time": None, "uncommitted_changes": None, "declared_before_runs": None}
    if config_file is None:
        return out
    path = Path(config_file).resolve()
    cwd = path.parent if path.parent.is_dir() else Path.cwd()
    line = _git(["log", "-1", "--format=%H %ct", "--", str(path)], cwd)
    if line:
        sha, ts = line.split()
        out["commit"] = sha
        out["commit_time"] = _dt.datetime.fromtimestamp(int(ts), _dt.timezone.utc).isoformat(timespec="seconds")
        dirty = _git(["status", "--porcelain", "--", str(path)], cwd)
        out["uncommitted_changes"] = bool(dirty) if dirty is not None else None
        if first_run is not None:
            out["declared_before_runs"] = bool(int(ts) <= float(first_run) and not out["uncommitted_changes"])
    return out


def study_record(rid: str, title: str, question: str, rule: str, rule_declared: Mapping, inputs: Mapping,
                 criteria: Iterable[str], *, reason: str = "", caveats: Sequence[str] = (),
                 exploratory: Mapping | None = None, confirmatory: bool = True) -> dict:
    """A study record; its outcome is :func:`outcome_of` the ``passed`` of the inputs named by
    ``criteria`` (a criterion missing from ``inputs`` leaves the record not evaluated)."""
    crit = list(criteria)
    passed = [inputs[k].get("passed") if k in inputs and isinstance(inputs[k], Mapping) else None for k in crit]
    out = outcome_of(passed)
    if not reason:
        failed = [k for k, p in zip(crit, passed) if p is False]
        missing = [k for k, p in zip(crit, passed) if p is None]
        reason = "; ".join(x for x in (("failed: " + ", ".join(failed)) if failed else "",
                                       ("not evaluated: " + ", ".join(missing)) if missing else "") if x)
    rec = {"id": rid, "title": title, "question": question, "rule": rule, "rule_declared": dict(rule_declared),
           "inputs": dict(inputs), "criteria": crit, "outcome": out, "family": FAMILY, "confirmatory": bool(confirmatory),
           "reason": reason, "caveats": list(caveats), "exploratory": dict(exploratory or {})}
    validate_record(rec)
    return rec


def validate_record(rec: Mapping) -> None:
    """Raise ValueError naming the first field a study record lacks or gets wrong."""
    for k in REQUIRED_FIELDS:
        if k not in rec:
            raise ValueError(f"study record {rec.get('id', '?')!r} lacks the field {k!r}")
    if rec["family"] != FAMILY:
        raise ValueError(f"study record {rec['id']!r}: family must be {FAMILY!r}, got {rec['family']!r}")
    if rec["outcome"] not in (GO, NO_GO, NOT_EVALUATED):
        raise ValueError(f"study record {rec['id']!r}: outcome {rec['outcome']!r} is not Go, No-Go or not evaluated")
    if not isinstance(rec["inputs"], Mapping):
        raise ValueError(f"study record {rec['id']!r}: inputs must be a mapping")
    json.dumps(rec)  # JSON-safe (no NaN objects hidden in numpy types)


def read_records(paths: Iterable[str | Path]) -> list[dict]:
    """Study records from JSON files, each holding a list of records (or one record)."""
    out: list[dict] = []
    for p in paths:
        doc = json.loads(Path(p).read_text())
        for rec in doc if isinstance(doc, list) else [doc]:
            validate_record(rec)
            out.append(rec)
    return out


def with_study_records(decisions: Mapping, records: Sequence[Mapping]) -> dict:
    """The plan's decisions with the study records under ``study`` (after any already there); ids
    must be unique. Without records the decisions are returned as they are (no empty ``study`` key:
    a study without study experiments writes the same decisions.json as before)."""
    out = dict(decisions)
    if not records:
        return out
    study = list(out.get("study", [])) + [dict(r) for r in records]
    ids = [r["id"] for r in study]
    if len(set(ids)) != len(ids):
        raise ValueError(f"study records with duplicate ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    for r in study:
        validate_record(r)
    out["study"] = study
    return out


def merge_tests(table: pd.DataFrame, extra: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The tests table with a study experiment's rows appended as they are: their ``p_adjusted`` and
    ``passed`` come from their own rule's family (a pivot's confirmatory rows are adjusted among
    themselves), so adding them changes no verdict of the plan or of another study rule."""
    parts = [table] + [df[list(TESTS_COLUMNS)] for df in extra if len(df)]
    parts = [p for p in parts if len(p)]
    if not parts:
        return table
    out = pd.concat(parts, ignore_index=True)
    keys = list(zip(out["experiment"], out["metric"]))
    if len(set(keys)) != len(keys):
        raise ValueError("merging study rows gives duplicate (experiment, metric) rows")
    return out
