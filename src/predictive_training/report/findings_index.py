"""``FINDINGS.md``: every committed study (``findings/*/``) in one page, and every predictor ranked.

Regenerated from the findings folders alone (:mod:`.findings` writes them), so a study joins the page
when its folder is committed:

- one row per study: its config, commit, wall time and verdicts (milestones, decisions, study records);
- a leaderboard of every predicted arm of every study (regime) by its loss gap to the conventional
  frontier at equal contention-free time (``frontier.csv``, measure ``time``, metric ``loss``), with its
  interval, p and whether it is below the frontier; arms named by study and arm, and by predictor kind
  (column ``kind``) so that one predictor can be followed across regimes;
- a performance profile (``findings/performance_profile.png``), as AlgoPerf scores training algorithms:
  for a gap tau, the share of the regimes in which an arm (or the best arm of a predictor kind) is within
  tau of the frontier (gap <= tau). An arm without a tested gap in a regime (extrapolation beyond the
  frontier's cost range, dominated) counts as never within tau there.

All of ``findings/`` must stay under :data:`MAX_BYTES`; writing the index fails past it.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..io import atomic_write_text  # noqa: E402
from .findings import (FindingsError, verdict_records, fmt_duration, fmt_interval, fmt_num, md_cell,  # noqa: E402
                       md_env)

__all__ = ["MAX_BYTES", "PROFILE", "load_studies", "leaderboard", "performance_profile", "profile_figure",
           "folder_bytes", "write_index"]

#: all of findings/ (STUDY.md section 7)
MAX_BYTES = 10_000_000
PROFILE = "performance_profile.png"
#: the arms drawn in the profile's arm panel (the best by mean share; the kind panel has every kind)
MAX_ARMS_DRAWN = 12

LEADERBOARD_COLUMNS = ["rank", "study", "arm", "kind", "prediction_ratio", "horizon", "n_seeds", "gap", "ci_low",
                       "ci_high", "p", "p_adjusted", "below_frontier", "confirmatory", "status"]


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _is_aggregate(d: Path) -> bool:
    """A findings folder that aggregates several studies (``scaling.json`` or ``aggregate.json``)."""
    return (d / "scaling.json").exists() or (d / "aggregate.json").exists()


def load_studies(findings_dir: str | os.PathLike) -> list[dict]:
    """Every ``findings/<study>/`` (a folder with a ``README.md``), by name: its ``findings.json``,
    decision records and frontier table. A folder that lacks one of them is an error, never skipped."""
    studies = []
    if not Path(findings_dir).exists():
        return studies
    for d in sorted(p for p in Path(findings_dir).iterdir() if p.is_dir()):
        if _is_aggregate(d):  # an aggregate across studies (report/scaling.py, report/mitigations.py), not a study
            continue
        missing = [f for f in ("README.md", "findings.json", "decisions.json", "frontier.csv") if not (d / f).exists()]
        if missing:
            raise FindingsError(f"{d} lacks {', '.join(missing)}: regenerate it with "
                                "python -m predictive_training findings results/<study>")
        meta = json.loads((d / "findings.json").read_text())
        decisions = json.loads((d / "decisions.json").read_text())
        studies.append({"name": d.name, "meta": meta, "records": verdict_records(decisions),
                        "frontier": pd.read_csv(d / "frontier.csv")})
    return studies


def leaderboard(studies: list[dict]) -> pd.DataFrame:
    """Every predicted arm of every study at equal contention-free time (loss), ranked by its gap to the
    frontier (lowest first; rank empty where the gap was not tested)."""
    rows = []
    for s in studies:
        f = s["frontier"]
        for r in f[(f.measure == "time") & (f.metric == "loss")].to_dict("records"):
            conf = r.get("confirmatory") is True or str(r.get("confirmatory")) == "True"
            rows.append({"study": s["name"], "arm": r["arm"], "kind": r["kind"],
                         "prediction_ratio": r.get("prediction_ratio"), "horizon": r.get("horizon"),
                         "n_seeds": r.get("n_seeds"), "gap": r.get("estimate"), "ci_low": r.get("ci_low"),
                         "ci_high": r.get("ci_high"), "p": r.get("p_value"), "p_adjusted": r.get("p_adjusted"),
                         "below_frontier": r.get("below_frontier"), "confirmatory": conf, "status": r.get("status")})
    board = pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS[1:])
    board["gap"] = pd.to_numeric(board["gap"], errors="coerce")
    board = board.sort_values(["gap", "study", "arm"], na_position="last", kind="mergesort").reset_index(drop=True)
    tested = board["gap"].notna()
    board.insert(0, "rank", pd.array([i + 1 if t else pd.NA for i, t in enumerate(tested)], dtype="Int64"))
    return board


def performance_profile(board: pd.DataFrame, by: str, taus: np.ndarray) -> dict[str, dict]:
    """``{label: {"share": share of regimes with gap <= tau (per tau), "regimes": n}}``, for ``by`` =
    ``"arm"`` (the same arm name across studies) or ``"kind"`` (the best arm of that kind in each study).
    An untested gap counts as +inf."""
    gaps = board.assign(g=board["gap"].fillna(math.inf)).groupby([by, "study"], sort=True)["g"].min()
    out = {}
    for label, per_study in gaps.groupby(level=0, sort=True):
        g = per_study.to_numpy(dtype=float)
        out[str(label)] = {"share": (g[None, :] <= taus[:, None]).mean(axis=1), "regimes": len(g)}
    return out


def _taus(board: pd.DataFrame) -> np.ndarray:
    finite = board["gap"].dropna().to_numpy(dtype=float)
    lo, hi = (min(finite.min(), 0.0), max(finite.max(), 0.0)) if len(finite) else (-0.1, 0.1)
    pad = 0.05 * (hi - lo) if hi > lo else 0.05
    return np.linspace(lo - pad, hi + pad, 401)


def profile_figure(board: pd.DataFrame, out: Path) -> str:
    """Draw the performance profile (by kind, left; by arm, right) to ``out``; returns its caption."""
    taus = _taus(board)
    kinds = performance_profile(board, "kind", taus)
    arms = performance_profile(board, "arm", taus)
    drawn = sorted(arms, key=lambda a: (-float(np.mean(arms[a]["share"])), a))[:MAX_ARMS_DRAWN]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    cmap = plt.get_cmap("tab10")
    panels = ((axes[0], {k: kinds[k] for k in sorted(kinds)}, "by predictor kind (best arm per regime)"),
              (axes[1], {a: arms[a] for a in drawn}, "by arm"))
    for ax, curves, title in panels:
        for i, (label, c) in enumerate(curves.items()):
            ax.step(taus, c["share"], where="post", color=cmap(i % 10), lw=1.6,
                    label=f"{label} ({c['regimes']} regime{'s' if c['regimes'] != 1 else ''})")
        ax.axvline(0.0, color="black", ls=":", lw=1)
        ax.set(xlabel="tau: loss gap to the frontier at equal time (nats)", title=title, ylim=(-0.03, 1.03))
        if curves:
            ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("share of regimes with gap <= tau")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, metadata={"Software": None})
    plt.close(fig)
    n_reg = board["study"].nunique()
    return (f"Performance profile over {n_reg} regime{'s' if n_reg != 1 else ''} (studies): for each tau, the share "
            "of the regimes in which the arm's loss gap to the conventional frontier at equal contention-free time "
            "is at most tau (left: the best arm of each predictor kind in each regime; right: each arm name, "
            + (f"the {MAX_ARMS_DRAWN} best of {len(arms)} by mean share" if len(arms) > MAX_ARMS_DRAWN else "every arm")
            + "). Shares count only the regimes that ran the arm (their number in the legend); an arm without a "
            "tested gap in a regime (outside the frontier's cost range, dominated) is never within tau there. "
            "Dotted: tau = 0, the frontier itself; a curve that reaches 1 left of it is below the frontier everywhere.")


def write_index(findings_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write ``out`` (``FINDINGS.md``) and ``<findings_dir>/performance_profile.png`` from every study
    folder; fails when all of ``findings_dir`` exceeds :data:`MAX_BYTES`."""
    findings_dir, out = Path(findings_dir), Path(out)
    studies = load_studies(findings_dir)
    board = leaderboard(studies)
    profile = findings_dir / PROFILE
    caption = None
    if len(board):
        caption = profile_figure(board, profile)
    elif profile.exists():
        profile.unlink()
    size = folder_bytes(findings_dir) if findings_dir.exists() else 0
    if size > MAX_BYTES:
        big = sorted(((folder_bytes(d), d.name) for d in findings_dir.iterdir() if d.is_dir()), reverse=True)[:3]
        raise FindingsError(f"{findings_dir} holds {size / 1e6:.1f} MB, more than the {MAX_BYTES / 1e6:.0f} MB allowed "
                            f"(largest: {', '.join(f'{n} {b / 1e6:.1f} MB' for b, n in big)})")
    ids: dict[str, None] = {}
    for s in studies:
        for r in s["records"]:
            if r["group"] in ("milestones", "decisions"):
                ids.setdefault(r["id"], None)
    rows = []
    for s in studies:
        by_id = {r["id"]: r for r in s["records"]}
        wall = s["meta"].get("wall_time", {}).get("seconds")
        rows.append({"name": s["name"], "config": s["meta"]["config"]["path"], "commit": s["meta"]["commit"][:10],
                     "wall": fmt_duration(wall) if wall is not None else "not recorded",
                     "verdicts": [md_cell(by_id[i]["outcome"]) if i in by_id else "-" for i in ids],
                     "study_records": "; ".join(f"{md_cell(r['id'])}: {md_cell(r['outcome'])}" for r in s["records"]
                                                if r["group"] not in ("milestones", "decisions")) or "-"})
    rel = os.path.relpath(findings_dir, out.parent)
    aggregates = []
    for d in sorted(p for p in findings_dir.iterdir() if p.is_dir()) if findings_dir.exists() else []:
        if _is_aggregate(d):
            body = (d / "README.md").read_text().split("\n", 1)[1] if (d / "README.md").exists() else ""
            body = re.sub(r"!\[([^]]*)\]\(([^)]+)\)", lambda m: f"![{m.group(1)}]({Path(rel, d.name, m.group(2)).as_posix()})",
                          body)
            aggregates.append({"name": d.name, "link": Path(rel, d.name, "README.md").as_posix(), "body": body.strip()})
    text = md_env().get_template("findings_index.md.j2").render(aggregates=aggregates,
        studies=rows, ids=list(ids), board=board.to_dict("records"), caption=caption,
        profile=Path(rel, PROFILE).as_posix(), findings=Path(rel).as_posix(), size_mb=size / 1e6,
        max_mb=MAX_BYTES / 1e6, interval=fmt_interval, num=fmt_num, cell=md_cell)
    atomic_write_text(out, text)
    return out
