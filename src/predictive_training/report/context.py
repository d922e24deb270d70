"""What the report shows (:class:`ReportContext`) and the formatting both renderers share.

The caller supplies everything in a :class:`ReportContext` (the tests table, the decisions dict
of :func:`predictive_training.stats.decisions.decide`, figure files, the per-run table,
provenance and free-text notes); the helpers below lay it out the same way for the HTML page
(:mod:`.html`) and the PDF (:mod:`.pdf`), so the two documents show identical numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..stats.decisions import (GO, HYPOTHESIS_OF, NEGATIVE, NO_GO, NOT_EVALUATED, PAPER, PIVOT, PROCEED,
                                SCALE_UP)
from ..stats.tests import TEST_KINDS, is_flagged, rule_text

__all__ = ["ReportContext", "fmt", "summary_rows", "decision_records", "figure_sections", "runs_table", "provenance_items",
           "notes_paragraphs"]


@dataclass
class ReportContext:
    """Everything a report shows.

    Attributes:
        title: document title.
        study: study name (the ``results/<study>/`` folder).
        summary: tests table (``stats/tests.csv`` columns).
        decisions: ``{"milestones": [...], "decisions": [...]}`` from :func:`predictive_training.stats.decisions.decide`.
        figures: ``(png_path, caption, section)`` triples; shown grouped by section in the order
            sections first appear.
        runs: one row per run (any columns, e.g. arm, seed, final losses, wall-clock).
        provenance: ``config`` (dict), package versions, git commit, machine, date, data sha256...
            (any JSON-serialisable values; ``config`` is shown as YAML).
        notes: free text; blank lines separate paragraphs.
        sections: extra sections after the decisions, each ``{"title", "paragraphs": [str],
            "columns": [str], "rows": [[str]], "note": str}`` (e.g. shadow mode).
    """

    title: str
    study: str
    summary: pd.DataFrame
    decisions: dict
    figures: list = field(default_factory=list)
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)
    provenance: dict = field(default_factory=dict)
    notes: str = ""
    sections: list = field(default_factory=list)

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if not isinstance(self.title, str) or not self.title:
            raise ValueError(f"title must be a non-empty string, got {self.title!r}")
        if not isinstance(self.study, str) or not self.study:
            raise ValueError(f"study must be a non-empty string, got {self.study!r}")
        if not isinstance(self.summary, pd.DataFrame):
            raise ValueError(f"summary must be a pandas DataFrame, got {type(self.summary).__name__}")
        if not isinstance(self.runs, pd.DataFrame):
            raise ValueError(f"runs must be a pandas DataFrame, got {type(self.runs).__name__}")
        if not isinstance(self.decisions, Mapping) or not {"milestones", "decisions"} <= set(self.decisions):
            raise ValueError("decisions must be a dict with 'milestones' and 'decisions' lists")
        if not isinstance(self.provenance, Mapping):
            raise ValueError(f"provenance must be a dict, got {type(self.provenance).__name__}")
        if not isinstance(self.notes, str):
            raise ValueError(f"notes must be a string, got {type(self.notes).__name__}")
        for i, sec in enumerate(self.sections):
            if not isinstance(sec, Mapping) or not {"title", "paragraphs", "columns", "rows", "note"} <= set(sec):
                raise ValueError(f"sections[{i}] must be a dict with title, paragraphs, columns, rows and note")
            if any(len(r) != len(sec["columns"]) for r in sec["rows"]):
                raise ValueError(f"sections[{i}] ({sec['title']!r}): every row must have one cell per column")
        for i, fig in enumerate(self.figures):
            if not (isinstance(fig, (tuple, list)) and len(fig) == 3):
                raise ValueError(f"figures[{i}] must be a (png_path, caption, section) triple, got {fig!r}")
            p = Path(fig[0])
            if not p.is_file():
                raise ValueError(f"figures[{i}]: no such file {str(p)!r}")
            if p.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
                raise ValueError(f"figures[{i}]: {str(p)!r} is not a PNG file")


# --------------------------------------------------------------------------- formatting
def fmt(x) -> str:
    """Compact number: '-' for missing, 4 significant digits, scientific below 1e-3."""
    if x is None:
        return "-"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v != 0 and abs(v) < 1e-3:
        return f"{v:.2e}"
    return f"{v:.4g}"


def outcome_class(outcome: str) -> str:
    """CSS/colour class of a decision outcome: good, bad, neutral (not evaluated) or mixed."""
    if outcome in (GO, PROCEED, SCALE_UP, PAPER):
        return "good"
    if outcome in (NO_GO, PIVOT, NEGATIVE):
        return "bad"
    if outcome == NOT_EVALUATED:
        return "neutral"
    return "mixed"


COLOURS = {"good": "#1b7a36", "bad": "#b3261e", "neutral": "#6b6b6b", "mixed": "#a86200"}
BACKGROUNDS = {"good": "#e3f4e7", "bad": "#fbe4e2", "neutral": "#eeeeee", "mixed": "#fdf0dc"}


def summary_rows(summary: pd.DataFrame) -> list[dict]:
    """Rows of the hypothesis/criteria table, formatted for display."""
    rows = []
    for rec in summary.to_dict("records"):
        test = str(rec.get("test", ""))
        thr = rec.get("threshold")
        crit = rule_text(test, float(thr)) if test in TEST_KINDS and thr is not None and not pd.isna(thr) else fmt(thr)
        passed = rec.get("passed")
        if isinstance(passed, str):
            passed = passed.strip().lower() in ("true", "1", "yes")
        flagged = is_flagged(test)
        if passed is None or (isinstance(passed, float) and math.isnan(passed)):
            verdict, cls = "not computed", "neutral"
        else:
            verdict, cls = ("pass" if passed else "fail"), ("good" if passed else "bad")
            if flagged:
                verdict += "*"
                cls = "mixed"
        exp = str(rec.get("experiment", ""))
        hyp = HYPOTHESIS_OF.get(exp, "-")
        if str(rec.get("family", "plan")) == "study":  # the study's own controls: a family of their own
            hyp = f"{hyp} (study control)"
        rows.append({
            "hypothesis": hyp,
            "experiment": exp,
            "metric": str(rec.get("metric", "")),
            "n": fmt(rec.get("n")),
            "estimate": fmt(rec.get("estimate")),
            "ci": f"[{fmt(rec.get('ci_low'))}, {fmt(rec.get('ci_high'))}]",
            "criterion": crit,
            "test": test,
            "statistic": fmt(rec.get("statistic")),
            "p_value": fmt(rec.get("p_value")),
            "p_adjusted": fmt(rec.get("p_adjusted")),
            "verdict": verdict,
            "cls": cls,
            "flagged": flagged,
        })
    return rows


def decision_records(decisions: Mapping) -> list[dict]:
    """Milestones, decisions, then the study's own records (``study``, STUDY.md section 7), with inputs
    formatted as display lines."""
    out = []
    for kind in ("milestones", "decisions", "study"):
        for rec in decisions.get(kind, []):
            inputs = []
            for key, val in (rec.get("inputs") or {}).items():
                if isinstance(val, Mapping) and "estimate" in val:
                    line = (f"{key} = {fmt(val.get('estimate'))} "
                            f"[{fmt(val.get('ci_low'))}, {fmt(val.get('ci_high'))}], "
                            f"p_adj {fmt(val.get('p_adjusted'))}, n {fmt(val.get('n'))}, "
                            f"{'passed' if val.get('passed') else 'not passed'}")
                elif isinstance(val, Mapping):
                    line = f"{key}: " + ", ".join(f"{k} {v}" for k, v in val.items())
                else:
                    line = f"{key}: {val}"
                inputs.append(line)
            thresholds = [f"{k} {v}" for k, v in (rec.get("thresholds") or {}).items()]
            decl = rec.get("rule_declared") if kind == "study" else None
            if isinstance(decl, Mapping):  # where and when a study rule was declared
                inputs.append(f"rule declared in {decl.get('config')} ({', '.join(decl.get('keys') or [])}) at commit "
                              f"{decl.get('commit') or 'unknown'}; declared before the runs: "
                              f"{ {True: 'yes', False: 'no'}.get(decl.get('declared_before_runs'), 'unknown') }")
            outcome = str(rec.get("outcome", ""))
            out.append({
                "kind": {"milestones": "Milestone", "decisions": "Decision", "study": "Study milestone"}[kind],
                "id": str(rec.get("id", "")),
                "title": str(rec.get("title", "")),
                "outcome": outcome,
                "cls": outcome_class(outcome),
                "rule": str(rec.get("rule", "")),
                "mitigation": rec.get("mitigation") or "",
                "reason": rec.get("reason") or "",
                "caveats": list(rec.get("caveats") or []),
                "inputs": inputs,
                "thresholds": thresholds,
            })
    return out


def figure_sections(figures) -> list[tuple[str, list[tuple[Path, str]]]]:
    """Figures grouped by section, sections in order of first appearance."""
    groups: dict[str, list[tuple[Path, str]]] = {}
    for path, caption, section in figures:
        groups.setdefault(str(section), []).append((Path(path), str(caption)))
    return list(groups.items())


def runs_table(runs: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Column names and formatted cells of the per-run table."""
    cols = [str(c) for c in runs.columns]
    body = [[fmt(v) if not isinstance(v, str) else v for v in row] for row in runs.itertuples(index=False)]
    return cols, body


def provenance_items(provenance: Mapping) -> list[tuple[str, str, bool]]:
    """``(key, text, preformatted)``: config as YAML, nested values as JSON, scalars as text."""
    import yaml

    items = []
    for key, val in provenance.items():
        if key == "config" or isinstance(val, Mapping) or isinstance(val, (list, tuple)):
            if key == "config":
                text = yaml.safe_dump(json.loads(json.dumps(val, default=str)), sort_keys=False,
                                      default_flow_style=False, allow_unicode=True).rstrip()
            else:
                text = json.dumps(val, indent=2, sort_keys=False, default=str)
            items.append((str(key), text, True))
        else:
            items.append((str(key), str(val), False))
    return items


def notes_paragraphs(notes: str) -> list[str]:
    return [p.strip() for p in notes.split("\n\n") if p.strip()]

