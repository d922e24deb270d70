"""A study's findings: the compact summary of ``results/<study>/`` that is committed to the repository.

Results folders are not committed and do not survive a move to another machine (STUDY.md section 7);
``findings/<study>/`` does. :func:`write_findings` builds it from recorded files only:

- ``decisions.json``, ``tests.csv`` (``stats/``), ``frontier.csv`` (``stats/``), ``summary.csv``
  (``runs/``: the runs table), copied byte for byte;
- ``shadow.csv``: one row per shadow predictor and horizon, pooled over the seeds' Exp 3 logs by
  :func:`predictive_training.analysis.shadow.summarise` (the report's own numbers: progress captured
  at scale 1 and after the scale search, cosine, relative L2 error, norm ratio, 95% bootstrap intervals);
- ``calibration.json`` (the unit costs and FLOPs every contention-free time rests on), and
  ``per_seed.csv`` and ``shadow_per_seed.csv``: the per-seed values that trends across studies need
  (:func:`per_seed_table`, :func:`shadow_per_seed`): each predicted arm's gap to its seed's frontier at
  equal cost, its effective progress and the cost of its Predict phases; each shadow cell's progress;
- the key figures as PNG (:data:`KEY_FIGURES`), copied from ``figures/``, shrunk only when large;
- ``findings.json`` (provenance: commits, config and its sha256, command, machine, wall time and how
  it was derived) and ``README.md`` (the same, with the verdict table), rendered from it.

Everything but the generation date is a function of the results folder, the repository's HEAD and
the machine, so generating twice gives the same files. The study's config is found by content: the
file under ``config/`` whose validated content equals the config the report records (``study``
aside, which ``--config study=NAME`` overrides).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import html
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .. import config as config_mod
from ..analysis.shadow import summarise
from ..io import atomic_dir

__all__ = ["FindingsError", "KEY_FIGURES", "COPIED", "write_findings", "shadow_table", "per_seed_table",
           "shadow_per_seed", "wall_time",
           "recorded_provenance", "find_config", "repo_root", "git_head", "fmt_duration", "fmt_num", "fmt_interval",
           "md_cell", "md_env", "verdict_records", "readme_fields", "TEMPLATES"]

TEMPLATES = Path(__file__).resolve().parent / "templates"

#: results file -> findings file, copied byte for byte (every one must exist)
COPIED = {"decisions.json": "decisions.json", "stats/tests.csv": "tests.csv", "stats/frontier.csv": "frontier.csv",
          "runs/summary.csv": "summary.csv"}

#: the figures a reader needs first: the frontier's Pareto plot, time to target, learning curves, shadow progress
KEY_FIGURES = ("frontier_pareto.png", "frontier_time_to_target.png", "loss_curves.png", "shadow_horizon.png")

#: a figure larger than this (bytes) or wider than MAX_WIDTH (pixels) is shrunk: width MAX_WIDTH, 256 colours
MAX_PNG_BYTES = 300_000
MAX_WIDTH = 1800

SHADOW_COLUMNS = ["predictor", "horizon", "n_seeds", "n_origins", "progress", "progress_ci_low", "progress_ci_high",
                  "n_origins_search", "progress_search", "progress_search_ci_low", "progress_search_ci_high",
                  "cosine", "cosine_ci_low", "cosine_ci_high", "rel_l2", "rel_l2_ci_low", "rel_l2_ci_high",
                  "norm_ratio", "norm_ratio_ci_low", "norm_ratio_ci_high", "gain_real_mean"]

_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ", re.M)  # the logging format of cli.setup_logging


class FindingsError(ValueError):
    """A results or findings folder that cannot be summarised (the message names what is missing)."""


# --- the repository ---------------------------------------------------------------------------------------------

def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)


def repo_root(start: str | os.PathLike = ".") -> Path:
    """The git work tree that holds ``start`` (findings name files and commits of this repository)."""
    try:
        out = _git(Path(start), "rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError) as exc:
        raise FindingsError(f"git is needed to record the commit: {exc}") from exc
    if out.returncode != 0:
        raise FindingsError(f"{Path(start).resolve()} is not inside a git repository; run from the study's repository")
    return Path(out.stdout.strip())


def git_head(root: Path) -> tuple[str, bool]:
    """``(commit, dirty)``: HEAD and whether tracked files differ from it."""
    out = _git(root, "rev-parse", "HEAD")
    if out.returncode != 0:
        raise FindingsError(f"no commit in {root}: {out.stderr.strip()}")
    dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no").stdout.strip())
    return out.stdout.strip(), dirty


def _rel(path: Path, root: Path) -> str:
    path = Path(os.path.abspath(path))
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


# --- what the results record --------------------------------------------------------------------------------------

def recorded_provenance(results: Path) -> dict:
    """The report's provenance table (``report/report.html``): ``git commit``, ``date``, ``config``
    (the validated config dict), ``machine``. Empty without a report."""
    page = results / "report" / "report.html"
    if not page.exists():  # a search-only study (Experiment 6, hpo.only) has only its own report
        page = results / "report" / "exp6.html"
    if not page.exists():
        return {}
    text = page.read_text(encoding="utf-8")
    start = text.find('id="provenance"')
    rows = re.findall(r"<tr><th[^>]*>(.*?)</th><td>(.*?)</td></tr>", text[start:] if start >= 0 else "", re.S)
    out: dict = {}
    for key, val in rows:
        key = html.unescape(key)
        pre = re.fullmatch(r"<pre>(.*)</pre>", val, re.S)
        val = html.unescape(pre.group(1) if pre else val)
        if key == "config":
            val = yaml.safe_load(val)
        out[key] = val
    return out


def _normal(cfg: dict) -> str:
    return json.dumps({k: v for k, v in cfg.items() if k != "study"}, sort_keys=True, default=str)


def _diff_keys(a, b, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [d for k in keys if k != "study" or prefix for d in _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str) \
        else [prefix.rstrip(".")]


def find_config(root: Path, recorded: dict | None, given: str | os.PathLike | None = None) -> dict:
    """The study's config file: ``given``, or the one file under ``config/`` whose validated content
    equals ``recorded`` (``study`` aside; among several equal files, the one of the same study name, then
    the first by path). Returns ``path`` (relative to ``root``), ``sha256`` of the file, ``how`` it was
    found, ``study`` (its ``study`` key) and ``differs`` (keys where it disagrees with ``recorded``)."""
    if given is not None:
        path = Path(given) if Path(given).is_absolute() else Path.cwd() / given
        if not path.exists():
            raise FindingsError(f"config file {given} does not exist")
        rel = _rel(path, root)
        if Path(rel).is_absolute():
            raise FindingsError(f"config file {given} is outside the repository {root}: findings must name a file "
                                "that a reader of the repository can open")
        try:
            cfg = config_mod.load(path)
        except config_mod.ConfigError as exc:
            raise FindingsError(f"config file {given} does not validate: {exc}") from exc
        differs = _diff_keys(cfg, recorded) if recorded else []
        how = "given on the command line" + (
            "; it equals the config the results' report records" if recorded and not differs else
            f"; it differs from the config the results' report records in {', '.join(differs)}" if recorded else
            "; the results record no config to check it against")
        return {"path": rel, "sha256": _sha256(path), "how": how, "study": cfg["study"], "differs": differs}
    if not recorded:
        raise FindingsError("the results record no config (no report/report.html with a provenance table); "
                            "name the study's config with --configfile")
    want = _normal(recorded)
    found, closest = [], None
    for path in sorted((root / "config").rglob("*.y*ml")):
        try:
            cfg = config_mod.load(path)
        except (config_mod.ConfigError, OSError, yaml.YAMLError):
            continue
        if _normal(cfg) == want:
            found.append((path, cfg))
        else:
            d = _diff_keys(cfg, recorded)
            if closest is None or len(d) < len(closest[1]):
                closest = (path, d)
    if not found:
        hint = (f" (closest: {_rel(closest[0], root)}, which differs in {', '.join(closest[1][:8])})"
                if closest else "")
        raise FindingsError(f"no config under {root / 'config'} validates to the config the results' report "
                            f"records{hint}; name it with --configfile")
    found.sort(key=lambda pc: (pc[1]["study"] != recorded.get("study"), _rel(pc[0], root)))
    path, cfg = found[0]
    how = "the file under config/ whose validated content equals the config the results' report records"
    if len(found) > 1:
        how += f" (also equal: {', '.join(_rel(p, root) for p, _ in found[1:])})"
    return {"path": _rel(path, root), "sha256": _sha256(path), "how": how, "study": cfg["study"], "differs": []}


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def machine(results: Path) -> dict:
    """The machine: CPU count and model of the machine that generates the findings (run it where the
    study ran), torch and device as the study recorded them (``calibration.json``, the runs' summaries)."""
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cal = {}
    if (results / "calibration.json").exists():
        cal = json.loads((results / "calibration.json").read_text())
    devices = sorted({json.loads(p.read_text()).get("device") or "unknown"
                      for p in sorted(results.glob("runs/*/seed*/summary.json"))})
    try:
        torch_here = md.version("torch")
    except md.PackageNotFoundError:
        torch_here = None
    return {"cpu_count": os.cpu_count(), "cpu_model": model or "unknown (no model name in /proc/cpuinfo)",
            "torch": cal.get("torch") or torch_here, "torch_source": "calibration.json" if cal.get("torch") else
            "installed where the findings were generated",
            "device": cal.get("device") or (", ".join(devices) if devices else "unknown"),
            "devices_of_runs": devices, "host": cal.get("host"), "torch_threads": cal.get("torch_threads")}


def _log_span(path: Path) -> tuple[float, float] | None:
    """First and last timestamp of a job log (local time, as ``logging`` writes it), as epoch seconds."""
    stamps = _TIMESTAMP.findall(path.read_text(encoding="utf-8", errors="replace"))
    if not stamps:
        return None
    to_s = [_dt.datetime.strptime(d, "%Y-%m-%d %H:%M:%S").timestamp() + int(ms) / 1000 for d, ms in stamps]
    return min(to_s), max(to_s)


def fmt_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h ({seconds:,.0f} s)"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min ({seconds:,.0f} s)"
    return f"{seconds:.1f} s"


def wall_time(results: Path, measured_s: float | None = None) -> dict:
    """The study's wall time and how it was derived.

    ``measured_s`` (``--wall-time``) wins. Otherwise, from Snakemake's benchmarks: each job ends when
    its ``benchmarks/<job>.tsv`` is written (the file's modification time) and started its ``s``
    seconds before; the study runs from the first start to the last end. File times do not survive
    every copy, so they are checked against the timestamps inside the job logs (``logs/<job>.log``):
    a log line outside its own job's interval (2 s slack) means the file times are not the study's,
    and the span of the log timestamps is used instead, with the jobs it cannot see (their logs carry
    no timestamp) and their benchmarked seconds named. ``busy_s`` is the time at least one job ran
    (less than the span when the study was run in several sittings)."""
    jobs = []
    for tsv in sorted((results / "benchmarks").rglob("*.tsv")):
        try:
            tab = pd.read_csv(tsv, sep="\t")
            dur, cpu = float(tab["s"].sum()), float(tab["cpu_time"].sum()) if "cpu_time" in tab else None
        except (ValueError, KeyError, pd.errors.ParserError):
            continue
        job = tsv.relative_to(results / "benchmarks").with_suffix("").as_posix()
        log = results / "logs" / f"{job}.log"
        end = tsv.stat().st_mtime
        jobs.append({"job": job, "start": end - dur, "end": end, "s": dur, "cpu_s": cpu,
                     "log": _log_span(log) if log.exists() else None})
    logs = {p.relative_to(results / "logs").with_suffix("").as_posix(): _log_span(p)
            for p in sorted((results / "logs").rglob("*.log"))} if (results / "logs").exists() else {}
    out: dict = {"n_jobs": len(jobs), "jobs_s": round(sum(j["s"] for j in jobs), 1),
                 "jobs_cpu_s": round(sum(j["cpu_s"] or 0 for j in jobs), 1)}
    if measured_s is not None:
        out.update(seconds=round(float(measured_s), 1), method="measured",
                   how="measured, given on the command line (--wall-time)")
        return out
    checked = [j for j in jobs if j["log"]]
    bad = [j["job"] for j in checked if j["log"][0] < j["start"] - 2 or j["log"][1] > j["end"] + 2]
    if jobs and not bad:
        t0, t1 = min(j["start"] for j in jobs), max(j["end"] for j in jobs)
        busy, cur = 0.0, None
        for a, b in sorted((j["start"], j["end"]) for j in jobs):
            if cur is None or a > cur[1]:
                busy += 0 if cur is None else cur[1] - cur[0]
                cur = [a, b]
            else:
                cur[1] = max(cur[1], b)
        busy += cur[1] - cur[0]
        out.update(seconds=round(t1 - t0, 1), busy_s=round(busy, 1), method="benchmarks",
                   how=("from the first job's start to the last job's end, by Snakemake's benchmarks "
                        f"({len(jobs)} jobs: each ends when its benchmark file is written and started its "
                        "benchmarked seconds before); "
                        f"the file times agree with the timestamps in {len(checked)} job logs"))
        if busy < 0.99 * (t1 - t0):
            out["how"] += f"; at least one job ran for {fmt_duration(busy)} of it (the study ran in several sittings)"
        return out
    spans = [s for s in logs.values() if s]
    if spans:
        t0, t1 = min(s[0] for s in spans), max(s[1] for s in spans)
        blind = [j for j in jobs if not j["log"]]
        out.update(seconds=round(t1 - t0, 1), method="log timestamps",
                   how=(f"from the first to the last timestamped line of the job logs ({len(spans)} of {len(logs)} "
                        "logs carry timestamps)"
                        + (f"; the benchmark files' times disagree with the logs of {', '.join(bad[:5])}, so they "
                           "were not used" if bad else "; no benchmarks recorded" if not jobs else "")
                        + (f"; {len(blind)} jobs log no timestamps: their benchmarked run times, "
                           f"{fmt_duration(sum(j['s'] for j in blind))} in all, may lie partly outside this span"
                           if blind else "")))
        return out
    out.update(seconds=None, method="not recorded",
               how="the results record no benchmarks and no timestamped logs; give it with --wall-time")
    return out


# --- the tables and figures ---------------------------------------------------------------------------------------

def _seed_of(path: Path) -> int:
    m = re.search(r"seed(\d+)", path.stem)
    return int(m.group(1)) if m else -1


def shadow_table(results: Path, seeds: list[int] | None = None) -> pd.DataFrame:
    """One row per (predictor, horizon) of the Exp 3 logs' shadow records, pooled over seeds exactly as
    the report pools them (:func:`~predictive_training.analysis.shadow.summarise`); empty without them."""
    paths = sorted((results / "experiments" / "exp3_weight_delta").glob("seed*.json"), key=_seed_of)
    if seeds is not None:
        paths = [p for p in paths if _seed_of(p) in set(seeds)]
    logs = [json.loads(p.read_text()) for p in paths]
    per_seed = [lg["results"]["shadow"]["origins"] for lg in logs if "shadow" in lg.get("results", {})]
    rows = []
    for c in summarise(per_seed).values() if per_seed else []:
        row = {"predictor": c["predictor"], "horizon": c["horizon"], "n_seeds": c.get("n_seeds"),
               "n_origins": c.get("n_origins"), "n_origins_search": c.get("n_origins_search"),
               "gain_real_mean": c.get("gain_real_mean")}
        for name, key in (("progress", "progress"), ("progress_search", "progress_search"),
                          ("cosine", "cosine_mean"), ("rel_l2", "rel_l2_mean"), ("norm_ratio", "norm_ratio_mean")):
            ci = c.get(f"{key.removesuffix('_mean')}_ci") or [None, None]
            row[name], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = c.get(key), ci[0], ci[1]
        rows.append(row)
    return pd.DataFrame(rows, columns=SHADOW_COLUMNS)


VARIANT_COLUMNS = ["predictor", "horizon", "variant", "n_origins", "forward_passes_mean",
                   "progress", "progress_ci_low", "progress_ci_high",
                   "progress_real", "progress_real_ci_low", "progress_real_ci_high",
                   "excess", "excess_ci_low", "excess_ci_high"]


def shadow_variants_table(results: Path, seeds: list[int] | None = None) -> pd.DataFrame:
    """One row per (predictor, horizon, search variant) of ``record.shadow.search_variants``, pooled
    over seeds (:func:`~predictive_training.analysis.shadow.summarise`): progress captured after the
    variant's search, the same search on the real update, and the excess; empty without variants."""
    paths = sorted((results / "experiments" / "exp3_weight_delta").glob("seed*.json"), key=_seed_of)
    if seeds is not None:
        paths = [p for p in paths if _seed_of(p) in set(seeds)]
    per_seed = [lg["results"]["shadow"]["origins"] for lg in (json.loads(p.read_text()) for p in paths)
                if "shadow" in lg.get("results", {})]
    rows = []
    for c in summarise(per_seed).values() if per_seed else []:
        for name, v in (c.get("variants") or {}).items():
            row = {"predictor": c["predictor"], "horizon": c["horizon"], "variant": name,
                   "n_origins": v["n_origins"], "forward_passes_mean": v["forward_passes_mean"]}
            for key in ("progress", "progress_real", "excess"):
                ci = v.get(f"{key}_ci") or [None, None]
                row[key], row[f"{key}_ci_low"], row[f"{key}_ci_high"] = v.get(key), ci[0], ci[1]
            rows.append(row)
    return pd.DataFrame(rows, columns=VARIANT_COLUMNS)


PER_SEED_COLUMNS = ["arm", "kind", "prediction_ratio", "horizon", "seed", "measure", "cost", "loss", "frontier_loss",
                    "gap", "in_range", "backward_passes", "predict_steps", "equivalent_cost", "effective_progress",
                    "phase_cost_full_steps", "work"]
SHADOW_PER_SEED_COLUMNS = ["predictor", "horizon", "seed", "n_origins", "progress", "progress_search"]


def _logs(results: Path, name: str, seeds: list[int] | None) -> list[tuple[int, dict]]:
    paths = sorted((results / "experiments" / name).glob("seed*.json"), key=_seed_of)
    return [(_seed_of(p), json.loads(p.read_text())) for p in paths if seeds is None or _seed_of(p) in set(seeds)]


def _inverse(fit: dict, value: float) -> float | None:
    """The cost at which a decreasing frontier fit (``cost``, ``value`` lists) reaches ``value``, linear in
    log cost between its points; None outside its value range (extrapolation)."""
    import numpy as np

    c, v = np.asarray(fit["cost"], dtype=float), np.asarray(fit["value"], dtype=float)
    if c.size < 2 or not (v.min() <= value <= v.max()):
        return None
    order = np.argsort(v)  # values ascending -> costs descending on a decreasing frontier
    return float(np.exp(np.interp(value, v[order], np.log(c[order]))))


def per_seed_table(results: Path, seeds: list[int] | None = None) -> pd.DataFrame:
    """Per predicted arm, seed and cost measure (Exp 4 logs): the arm's cost and loss, its seed's frontier
    at that cost and the gap; ``equivalent_cost``: the cost at which the frontier reaches the arm's loss;
    for the backward-pass measure, ``effective_progress``: (equivalent backward passes - the arm's) / its
    predicted steps, the share of the skipped steps' work its Predict phases did (1: as much as real
    steps); for the time measure, ``phase_cost_full_steps``: (its contention-free time - its backward
    passes x a Full step) / (its Predict phases x a Full step), what one Predict phase costs in Full steps
    (its predictor's observing included)."""
    full_s = None
    cal = results / "calibration.json"
    if cal.exists():
        full_s = json.loads(cal.read_text()).get("units", {}).get("full_step", {}).get("s")
    rows = []
    for seed, lg in _logs(results, "exp4_prediction_phases", seeds):
        res = lg["results"]
        fr = res.get("frontier") or {}
        for arm in fr.get("predicted", []):
            rec = res["arms"][arm]
            T = res["arms"][(res.get("roles") or {}).get("baseline", "baseline")]["backward_passes"]
            predict = rec["prediction_ratio_achieved"] * T
            for measure, g in (fr.get("gaps", {}).get(arm) or {}).items():
                fit = fr["measures"][measure]["fit"].get("loss")
                eq = _inverse(fit, g["loss"]) if fit and g.get("loss") is not None else None
                row = {"arm": arm, "kind": rec["kind"], "prediction_ratio": rec.get("prediction_ratio_requested"),
                       "horizon": rec.get("horizon"), "seed": seed, "measure": measure, "cost": g.get("cost"),
                       "loss": g.get("loss"), "frontier_loss": g.get("frontier_loss"), "gap": g.get("loss_gap"),
                       "in_range": g.get("in_range"), "backward_passes": rec["backward_passes"],
                       "predict_steps": predict, "equivalent_cost": eq, "effective_progress": None,
                       "phase_cost_full_steps": None}
                if measure == "backward" and eq is not None and predict > 0:
                    row["effective_progress"] = (eq - rec["backward_passes"]) / predict
                if measure == "time" and full_s and predict > 0 and rec.get("horizon"):
                    phases = predict / rec["horizon"]
                    row["phase_cost_full_steps"] = (rec["time_s"] - rec["backward_passes"] * full_s) / (phases * full_s)
                summary = results / "runs" / arm / f"seed{seed}" / "summary.json"
                if measure == "time" and summary.exists():  # the counted work (paper-scale FLOP estimates)
                    row["work"] = json.dumps(json.loads(summary.read_text()).get("work"), sort_keys=True)
                rows.append(row)
    return pd.DataFrame(rows, columns=PER_SEED_COLUMNS)


def shadow_per_seed(results: Path, seeds: list[int] | None = None) -> pd.DataFrame:
    """Per shadow cell and seed (Exp 3 logs): progress captured at scale 1 and after the scale search,
    pooled over the seed's origins (the report's pooling on one seed)."""
    rows = []
    for seed, lg in _logs(results, "exp3_weight_delta", seeds):
        origins = (lg.get("results") or {}).get("shadow", {}).get("origins")
        if not origins:
            continue
        for c in summarise([origins]).values():
            rows.append({"predictor": c["predictor"], "horizon": c["horizon"], "seed": seed,
                         "n_origins": c.get("n_origins"), "progress": c.get("progress"),
                         "progress_search": c.get("progress_search")})
    return pd.DataFrame(rows, columns=SHADOW_PER_SEED_COLUMNS)


def copy_figure(src: Path, dest: Path) -> dict:
    """Copy a PNG, shrunk (width :data:`MAX_WIDTH`, a 256-colour palette) when it is larger than
    :data:`MAX_PNG_BYTES` or wider than :data:`MAX_WIDTH`; returns its size and whether it was shrunk."""
    from PIL import Image

    with Image.open(src) as img:
        size = img.size
        if src.stat().st_size <= MAX_PNG_BYTES and size[0] <= MAX_WIDTH:
            shutil.copyfile(src, dest)
            return {"file": dest.name, "width": size[0], "height": size[1], "shrunk": False}
        img = img.convert("RGB")
        if size[0] > MAX_WIDTH:
            img = img.resize((MAX_WIDTH, round(size[1] * MAX_WIDTH / size[0])), Image.Resampling.LANCZOS)
        img = img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        img.save(dest, optimize=True)
        return {"file": dest.name, "width": img.size[0], "height": img.size[1], "shrunk": True}


# --- the folder ---------------------------------------------------------------------------------------------------

def verdict_records(decisions: dict) -> list[dict]:
    """Every milestone, decision and study record of ``decisions.json``, in file order, with its group."""
    out = []
    for group, recs in decisions.items():
        if isinstance(recs, list):
            out += [{**r, "group": group} for r in recs if isinstance(r, dict) and "id" in r]
    return out


def md_cell(x) -> str:
    """Text for a Markdown table cell."""
    return " ".join(str("" if x is None else x).split()).replace("|", "\\|")


def fmt_num(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "-"
    return f"{x:.{digits}f}" if abs(x) >= 10 ** -digits or x == 0 else f"{x:.1e}"


def fmt_interval(est, lo, hi) -> str:
    if est is None or est != est:
        return "-"
    if lo is None or lo != lo or hi is None or hi != hi:
        return fmt_num(est)
    return f"{fmt_num(est)} [{fmt_num(lo)}, {fmt_num(hi)}]"


def md_env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, keep_trailing_newline=True,
                      trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters.update(cell=md_cell, num=fmt_num, duration=fmt_duration)
    return env


def _equal_time_rows(frontier: pd.DataFrame, measures=("time",)) -> list[dict]:
    tab = frontier[frontier.measure.isin(measures) & (frontier.metric == "loss")]
    rows = []
    for r in tab.to_dict("records"):
        p = r.get("p_adjusted") if r.get("confirmatory") is True and r.get("p_adjusted") == r.get("p_adjusted") \
            else r.get("p_value")
        rows.append({"arm": r["arm"], "kind": r["kind"], "gap": fmt_interval(r.get("estimate"), r.get("ci_low"),
                                                                          r.get("ci_high")),
                     "p": fmt_num(p), "below": {True: "yes", False: "no"}.get(r.get("below_frontier"), "-"),
                     "status": r.get("status"), "measure": r["measure"],
                     "comparison": str(r.get("comparison", "")).replace("_", " ")})
    return rows


def readme_fields(readme: str) -> dict:
    """What a findings README names (for the checks on committed findings): ``commit`` (HEAD at
    generation), ``results_commit``, ``config`` (path in the repository), ``config_sha256``."""
    out = {}
    for key, pattern in (("commit", r"^\| commit at generation \| `([0-9a-f]{7,40})`"),
                         ("results_commit", r"^\| commit of the results \| `([^`]*)`"),
                         ("config", r"^\| config \| `([^`]+)`"),
                         ("config_sha256", r"^\| config \| `[^`]+` \(sha256 `([0-9a-f]{64})`")):
        m = re.search(pattern, readme, re.M)
        out[key] = m.group(1) if m else None
    return out


def write_findings(results_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
                   root: str | os.PathLike | None = None, configfile: str | os.PathLike | None = None,
                   command: str | None = None, wall_time_s: float | None = None,
                   date: str | None = None) -> Path:
    """Write ``findings/<study>/`` from ``results_dir`` (see the module's docstring); returns the folder.

    ``root``: the repository (default: the one that holds the current directory); ``out_dir`` defaults to
    ``<root>/findings/<name of results_dir>``; ``configfile``, ``command`` and ``wall_time_s`` override
    what is found or derived; ``date`` (ISO, default today, UTC) is the only thing that changes between
    two generations of the same results at the same commit."""
    results = Path(results_dir)
    if not results.is_dir():
        raise FindingsError(f"{results} is not a results folder")
    root = repo_root(root or Path.cwd())
    search_only = (results / "hpo").is_dir() and not (results / "runs").is_dir()  # Exp 6 alone (hpo.only)
    missing = [src for src in COPIED if not (results / src).exists() and not (search_only and src == "runs/summary.csv")]
    if missing:
        raise FindingsError(f"{results} lacks {', '.join(missing)}: run the study to its end (snakemake) first")
    out = Path(out_dir) if out_dir else root / "findings" / results.name
    commit, dirty = git_head(root)
    prov = recorded_provenance(results)
    recorded_cfg = prov.get("config") if isinstance(prov.get("config"), dict) else None
    cfg = find_config(root, recorded_cfg, configfile)
    study = (recorded_cfg or {}).get("study") or results.name
    if command is None:
        command = f"snakemake --cores all --configfile {cfg['path']}" + (
            f" --config study={study}" if study != cfg["study"] else "")
        command_how = "reconstructed from the config: the results do not record the command line"
    else:
        command_how = "given on the command line"
    decisions = json.loads((results / "decisions.json").read_text())
    frontier = pd.read_csv(results / "stats/frontier.csv")
    index = []
    if (results / "figures" / "index.json").exists():
        index = json.loads((results / "figures" / "index.json").read_text())
    captions = {f["file"]: f.get("caption", "") for f in index}
    generated_by = f"python -m predictive_training findings {_rel(results, root)}" + (
        f" --out {_rel(out, root)}" if out_dir else "")
    meta = {
        "format": "predictive_training findings 1",
        "study": study,
        "date": date or _dt.datetime.now(_dt.timezone.utc).date().isoformat(),
        "generated_by": generated_by,
        "results": _rel(results, root),
        "commit": commit,
        "commit_dirty": dirty,
        "results_commit": prov.get("git commit"),
        "results_date": prov.get("date"),
        "config": cfg,
        "command": command,
        "command_how": command_how,
        "machine": machine(results),
        "wall_time": wall_time(results, wall_time_s),
        "seeds": (recorded_cfg or {}).get("seeds"),
    }
    with atomic_dir(out) as tmp:
        for src, name in COPIED.items():
            if (results / src).exists():
                shutil.copyfile(results / src, tmp / name)
            else:  # a search-only study trains no arm: an empty runs table
                (tmp / name).write_text("arm,seed\n")
        if (results / "hpo").is_dir():  # Experiment 6's own tables and figures (report/exp6.py)
            from .exp6 import findings_extras

            meta["exp6_files"] = findings_extras(results, tmp)
        shadow = shadow_table(results, meta["seeds"])
        shadow.to_csv(tmp / "shadow.csv", index=False, float_format="%.6g")
        variants = shadow_variants_table(results, meta["seeds"])
        if len(variants):  # record.shadow.search_variants, where the study has them
            variants.to_csv(tmp / "shadow_variants.csv", index=False, float_format="%.6g")
            meta["shadow_variants"] = True
        per_seed_table(results, meta["seeds"]).to_csv(tmp / "per_seed.csv", index=False, float_format="%.6g")
        cooldown = []
        if (results / "stats/frontier_cooldown.csv").exists():  # a second (cooldown) frontier, where the study has one
            shutil.copyfile(results / "stats/frontier_cooldown.csv", tmp / "frontier_cooldown.csv")
            meta["cooldown_frontier"] = True
            cooldown = _equal_time_rows(pd.read_csv(results / "stats/frontier_cooldown.csv"), ("time", "backward"))
        if (results / "calibration.json").exists():  # the unit costs and FLOPs behind every time and cost
            shutil.copyfile(results / "calibration.json", tmp / "calibration.json")
        shadow_per_seed(results, meta["seeds"]).to_csv(tmp / "shadow_per_seed.csv", index=False,
                                                       float_format="%.6g")
        figures = []
        for name in KEY_FIGURES:
            if (results / "figures" / name).exists():
                figures.append({**copy_figure(results / "figures" / name, tmp / name),
                                "caption": captions.get(name, "")})
        meta["figures"] = figures
        meta["missing_figures"] = [n for n in KEY_FIGURES if not (results / "figures" / n).exists()]
        (tmp / "findings.json").write_text(json.dumps(meta, indent=2) + "\n")
        text = md_env().get_template("findings_readme.md.j2").render(
            m=meta, records=verdict_records(decisions), equal_time=_equal_time_rows(frontier), cooldown=cooldown,
            shadow=shadow.to_dict("records"), interval=fmt_interval)
        (tmp / "README.md").write_text(text)
    return out
