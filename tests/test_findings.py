"""Committed findings (item 1): ``findings/<study>/`` from a results folder, and ``FINDINGS.md``.

The command is checked on the session's smoke study (tests/conftest.py: run once, shared with
test_workflow) and on small synthetic results folders built here from the real writers (the
statistics table, the decisions, the report page); every committed findings folder is checked for a
config that exists and a commit in history, and FINDINGS.md for being regenerated from them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from predictive_training import config as config_mod
from predictive_training.report.context import ReportContext
from predictive_training.report.findings import (COPIED, KEY_FIGURES, FindingsError, readme_fields, wall_time,
                                                 write_findings)
from predictive_training.report.findings_index import (MAX_BYTES, PROFILE, _is_aggregate, folder_bytes, leaderboard,
                                                       load_studies, performance_profile, write_index)
from predictive_training.report.html import render_html
from predictive_training.stats import tests as S
from predictive_training.stats.decisions import decide
from predictive_training.stats.frontier import FRONTIER_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
FILES = {"README.md", "findings.json", "shadow.csv", "per_seed.csv", "shadow_per_seed.csv", *COPIED.values()}


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


HEAD = git("rev-parse", "HEAD").stdout.strip()


def commit_exists(commit: str) -> bool:
    return git("cat-file", "-e", f"{commit}^{{commit}}").returncode == 0


# --- a synthetic results folder ---------------------------------------------------------------------------------

def _frontier_row(arm: str, kind: str, gap: float | None, *, measure="time", confirmatory=False, status=None):
    tested = gap is not None
    return {"arm": arm, "kind": kind, "prediction_ratio": 0.5, "horizon": 20, "measure": measure, "metric": "loss",
            "n_seeds": 2, "n_in_range": 2 if tested else 0, "arm_value": 3.0, "frontier_value": 3.0 - (gap or 0),
            "cost": 10.0, "estimate": gap, "ci_low": None if gap is None else gap - 0.01,
            "ci_high": None if gap is None else gap + 0.01, "test": "paired_t_less" if tested else None,
            "statistic": 1.0 if tested else None, "p_value": 0.5 if tested else None,
            "p_adjusted": 0.9 if tested and confirmatory else None, "confirmatory": confirmatory,
            "status": status or ("confirmatory" if confirmatory else "exploratory (unadjusted p)"),
            "below_frontier": (gap < 0) if tested else None}


def _origin(i: int, progress: float) -> dict:
    return {"origin": 10 * i, "ready": True, "cosine": 0.5 + 0.01 * i, "rel_l2": 0.9, "norm_ratio": 0.8,
            "pearson_r": 0.5, "per_layer_accuracy": 0.25, "gain_pred": progress * 0.02, "gain_real": 0.02,
            "gain_real_se": 0.001, "progress": progress, "progress_se": 0.05, "uncertainty": 0.1,
            "delta_norm_pred": 1.0, "delta_norm_real": 1.2}


def _png(path: Path, size: tuple[int, int]) -> None:
    arr = np.full((size[1], size[0], 3), 240, dtype=np.uint8)
    arr[:, ::7] = (31, 119, 180)  # a few lines to draw
    Image.fromarray(arr).save(path)


def _stamp(t: float) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") + ",000"


def make_results(base: Path, study: str = "synth", frontier: list[dict] | None = None,
                 config: dict | None = None, t0: float = 1_790_000_000.0) -> Path:
    """A small results folder in the formats the workflow writes: config/smoke.yaml run as ``study``."""
    res = base / "results" / study
    for d in ("stats", "runs", "figures", "experiments/exp3_weight_delta", "benchmarks/train", "logs/train"):
        (res / d).mkdir(parents=True, exist_ok=True)
    rows = [S.one_sample_row("exp1", "mean_cosine", [0.2, 0.3], 0.7, n_resamples=200),
            S.one_sample_row("exp1", "pca_top10", [0.5, 0.6], 0.7, n_resamples=200),
            S.one_sample_row("exp2", "r2", [0.5, 0.6], 0.85, n_resamples=200),
            S.one_sample_row("exp3", "cosine", [0.3, 0.35], 0.8, n_resamples=200)]
    tests = S.tests_table(rows)
    tests.to_csv(res / "stats/tests.csv", index=False)
    decisions = decide(tests)
    decisions["study"] = [{"id": "S1", "title": "Early stopping from predicted loss", "family": "study",
                           "rule": "declared in config", "outcome": "No-Go | not reached"}]
    (res / "decisions.json").write_text(json.dumps(decisions, indent=2))
    frontier = frontier if frontier is not None else [
        _frontier_row("hybrid_r50", "hybrid", 0.05), _frontier_row("repeat_r50", "repeat", 0.2, confirmatory=True),
        _frontier_row("hybrid_r50", "hybrid", -0.03, measure="backward")]
    pd.DataFrame(frontier, columns=FRONTIER_COLUMNS).to_csv(res / "stats/frontier.csv", index=False)
    runs = pd.DataFrame({"arm": ["baseline", "hybrid_r50"], "seed": [0, 0], "final_val_loss": [3.0, 3.1]})
    runs.to_csv(res / "runs/summary.csv", index=False)
    for seed in (0, 1):
        log = {"experiment_id": "exp3", "seed": seed, "results": {"shadow": {"origins": {
            "rssm@10": [_origin(i, 0.1 * (i + seed)) for i in range(3)],
            "zero@10": [{**_origin(i, 0.0), "gain_pred": 0.0, "cosine": 0.0} for i in range(3)]}}}}
        (res / f"experiments/exp3_weight_delta/seed{seed}.json").write_text(json.dumps(log))
    _png(res / "figures/loss_curves.png", (300, 200))
    _png(res / "figures/frontier_pareto.png", (2400, 400))  # too wide: shrunk
    _png(res / "figures/exp1_cosine.png", (100, 100))  # not a key figure: not copied
    (res / "figures/index.json").write_text(json.dumps([
        {"file": "loss_curves.png", "caption": "Validation loss per arm.", "section": "Training"},
        {"file": "frontier_pareto.png", "caption": "The frontier | with a pipe.", "section": "Exp 4"}]))
    cfg = config or {**config_mod.load(ROOT / "config/smoke.yaml"), "study": study}
    ctx = ReportContext(title="t", study=study, summary=tests, decisions=decisions, runs=runs,
                        provenance={"date": "2026-12-01T10:00:00+00:00", "git commit": HEAD, "machine": "test",
                                    "config": cfg})
    render_html(ctx, res / "report/report.html")
    (res / "calibration.json").write_text(json.dumps({"host": "testhost", "device": "cpu", "torch": "2.13.0+cpu",
                                                      "torch_threads": 1}))
    # two jobs: prepare_data (t0 .. t0+10) and a training run (t0+70 .. t0+100); a study of 100 s
    for job, start, dur in (("prepare_data", t0, 10.0), ("train/baseline_seed0", t0 + 70, 30.0)):
        tsv = res / f"benchmarks/{job}.tsv"
        tsv.write_text(f"s\th:m:s\tmax_rss\tcpu_time\n{dur:.2f}\t0:00:{int(dur):02d}\t100.0\t{dur / 2:.2f}\n")
        os.utime(tsv, (start + dur, start + dur))
        (res / f"logs/{job}.log").write_text(f"{_stamp(start + 2)} INFO x: started\n"
                                             f"{_stamp(start + dur - 1)} INFO x: done\n")
    (res / "logs/statistics.log").write_text("no timestamps here\n")
    return res


# --- one study's findings ----------------------------------------------------------------------------------------

def test_findings_of_a_results_folder(tmp_path):
    res = make_results(tmp_path)
    out = write_findings(res, tmp_path / "findings/synth", root=ROOT, date="2026-12-02")
    assert {p.name for p in out.iterdir()} == FILES | {"loss_curves.png", "frontier_pareto.png", "calibration.json"}
    for src, name in COPIED.items():
        assert (out / name).read_bytes() == (res / src).read_bytes()
    meta = json.loads((out / "findings.json").read_text())
    # the config is found by content although the study was renamed, and the command says so
    assert meta["config"]["path"] == "config/smoke.yaml" and meta["study"] == "synth"
    assert meta["config"]["sha256"] == hashlib.sha256((ROOT / "config/smoke.yaml").read_bytes()).hexdigest()
    assert meta["command"] == "snakemake --cores all --configfile config/smoke.yaml --config study=synth"
    assert meta["commit"] == HEAD and meta["results_commit"] == HEAD
    # wall time: first start (t0) to last end (t0 + 100); one job ran at a time for 40 s of it
    wt = meta["wall_time"]
    assert (wt["method"], wt["seconds"], wt["busy_s"], wt["jobs_s"], wt["n_jobs"]) == \
        ("benchmarks", 100.0, 40.0, 40.0, 2)
    assert meta["machine"]["cpu_count"] == os.cpu_count() and meta["machine"]["device"] == "cpu"
    # the large figure is shrunk, the small one copied as it is
    figs = {f["file"]: f for f in meta["figures"]}
    assert figs["frontier_pareto.png"]["shrunk"] and Image.open(out / "frontier_pareto.png").size[0] == 1800
    assert (out / "loss_curves.png").read_bytes() == (res / "figures/loss_curves.png").read_bytes()
    assert set(meta["missing_figures"]) == set(KEY_FIGURES) - set(figs)
    # the shadow table: one row per (predictor, horizon), pooled progress = sum gain_pred / sum gain_real
    shadow = pd.read_csv(out / "shadow.csv").set_index("predictor")
    assert list(shadow.index) == ["rssm", "zero"] and (shadow.horizon == 10).all()
    assert shadow.loc["rssm", "progress"] == pytest.approx(np.mean([0.0, 0.1, 0.2, 0.1, 0.2, 0.3]))
    rssm = shadow.loc["rssm"]
    assert rssm.progress_ci_low <= rssm.progress <= rssm.progress_ci_high
    assert shadow.loc["zero", "progress"] == 0.0 and shadow.loc["rssm", "n_origins"] == 6
    # the README: provenance, verdicts (plan and study records), the equal-time table
    readme = (out / "README.md").read_text()
    fields = readme_fields(readme)
    assert fields == {"commit": HEAD, "results_commit": HEAD, "config": "config/smoke.yaml",
                      "config_sha256": meta["config"]["sha256"]}
    assert "**1.7 min (100 s)**" in readme and "several sittings" in readme
    decisions = json.loads((res / "decisions.json").read_text())
    for rec in decisions["milestones"] + decisions["decisions"]:
        assert f"| {rec['id']} | {rec['title']} | **{rec['outcome']}** |" in readme
    assert "| S1 | Early stopping from predicted loss (study) | **No-Go \\| not reached** |" in readme
    assert "| hybrid_r50 | hybrid | 0.050 [0.040, 0.060] | 0.500 | no | exploratory (unadjusted p) |" in readme
    assert "| repeat_r50 | repeat | 0.200 [0.190, 0.210] | 0.900 | no | confirmatory |" in readme
    assert "The frontier \\| with a pipe." in readme


def test_regenerating_gives_the_same_files_apart_from_the_date(tmp_path):
    res = make_results(tmp_path)
    out = tmp_path / "findings/synth"
    write_findings(res, out, root=ROOT, date="2026-12-02")
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    write_findings(res, out, root=ROOT, date="2026-12-03")
    second = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(first) == set(second)
    changed = {n for n in first if first[n] != second[n]}
    assert changed == {"README.md", "findings.json"}
    for n in changed:
        assert first[n].replace(b"2026-12-02", b"2026-12-03") == second[n]


def test_the_command_line(tmp_path, monkeypatch, capsys):
    from predictive_training.cli import main

    res = make_results(tmp_path)
    monkeypatch.chdir(ROOT)
    out = tmp_path / "f" / "synth"
    assert main(["findings", str(res), "--out", str(out), "--wall-time", "1234.5", "--command", "snakemake -j2"]) == 0
    meta = json.loads((out / "findings.json").read_text())
    assert meta["wall_time"]["method"] == "measured" and meta["wall_time"]["seconds"] == 1234.5
    assert meta["command"] == "snakemake -j2" and meta["command_how"] == "given on the command line"
    assert "--out" in meta["generated_by"] and "**20.6 min (1,234 s)**" in (out / "README.md").read_text()
    assert main(["findings", str(tmp_path / "nothing")]) == 2
    assert "is not a results folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["findings", str(res), "--index"])  # one or the other


def test_wall_time_falls_back_to_log_timestamps_when_file_times_are_not_the_studys(tmp_path):
    res = make_results(tmp_path)
    # a copy that did not keep file times: the benchmark files are "written" now, long after their logs
    for tsv in (res / "benchmarks").rglob("*.tsv"):
        os.utime(tsv, None)
    wt = wall_time(res)
    assert wt["method"] == "log timestamps" and wt["seconds"] == 97.0  # t0 + 2 to t0 + 99
    assert "disagree" in wt["how"] and "2 of 3 logs" in wt["how"]
    assert wall_time(res, measured_s=55)["seconds"] == 55.0
    shutil.rmtree(res / "logs")
    shutil.rmtree(res / "benchmarks")
    assert wall_time(res)["seconds"] is None and wall_time(res)["method"] == "not recorded"


def test_the_config_must_match_or_be_named(tmp_path):
    cfg = {**config_mod.load(ROOT / "config/smoke.yaml"), "seeds": [7]}
    res = make_results(tmp_path, config=cfg)
    with pytest.raises(FindingsError, match=r"closest: config/smoke\.yaml, which differs in seeds"):
        write_findings(res, tmp_path / "out", root=ROOT)
    out = write_findings(res, tmp_path / "out", root=ROOT, configfile=ROOT / "config/smoke.yaml")
    meta = json.loads((out / "findings.json").read_text())
    assert meta["config"]["differs"] == ["seeds"] and "differs from the config" in meta["config"]["how"]
    outside = tmp_path / "mine.yaml"
    shutil.copy(ROOT / "config/smoke.yaml", outside)
    with pytest.raises(FindingsError, match="outside the repository"):
        write_findings(res, tmp_path / "out", root=ROOT, configfile=outside)
    (res / "runs/summary.csv").unlink()
    with pytest.raises(FindingsError, match="lacks runs/summary.csv"):
        write_findings(res, tmp_path / "out", root=ROOT, configfile=ROOT / "config/smoke.yaml")


# --- FINDINGS.md ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_studies(tmp_path_factory) -> Path:
    """findings/ with two studies (regimes), written by the command from synthetic results."""
    tmp_path = tmp_path_factory.mktemp("two_studies")
    a = make_results(tmp_path, "regime_a", [
        _frontier_row("hybrid_r50", "hybrid", 0.05), _frontier_row("repeat_r50", "repeat", -0.02, confirmatory=True),
        _frontier_row("skip_r50", "skip", None, status="dominated: costs more than the longest frontier run"),
        _frontier_row("hybrid_r50", "hybrid", -0.5, measure="backward")])
    b = make_results(tmp_path, "regime_b", [
        _frontier_row("hybrid_r50", "hybrid", -0.01), _frontier_row("dmd_r50", "dmd", 0.2)])
    for res in (a, b):
        write_findings(res, tmp_path / "findings" / res.name, root=ROOT, date="2026-12-02")
    return tmp_path / "findings"


def test_the_index_lists_every_study_and_ranks_arms_by_gap(two_studies, tmp_path):
    findings = shutil.copytree(two_studies, tmp_path / "findings")
    md = write_index(findings, tmp_path / "FINDINGS.md").read_text()
    for study in ("regime_a", "regime_b"):
        assert re.search(rf"^\| \[{study}\]\(findings/{study}/README\.md\) \| `config/smoke\.yaml` \| `{HEAD[:10]}` "
                         r"\| 1\.7 min \(100 s\) \| No-Go \| No-Go \| No-Go \|", md, re.M)
    assert "S1: No-Go \\| not reached" in md
    ranked = re.findall(r"^\| (\d+) \| (\w+) \| (\w+)( \*)? \| (\w+) \|", md, re.M)
    assert [(r[0], r[1], r[2], r[4]) for r in ranked] == [
        ("1", "regime_a", "repeat_r50", "repeat"), ("2", "regime_b", "hybrid_r50", "hybrid"),
        ("3", "regime_a", "hybrid_r50", "hybrid"), ("4", "regime_b", "dmd_r50", "dmd")]
    assert ranked[0][3] == " *"  # confirmatory, its adjusted p shown
    assert "| regime_a | skip_r50 | skip | 0.50 | 20 | dominated: costs more than the longest frontier run |" in md
    assert "(findings/performance_profile.png)" in md and (findings / PROFILE).exists()
    # regenerated from the same folders: the same page and figure
    png = (findings / PROFILE).read_bytes()
    assert write_index(findings, tmp_path / "FINDINGS.md").read_text() == md
    assert (findings / PROFILE).read_bytes() == png


def test_performance_profile_shares(two_studies):
    board = leaderboard(load_studies(two_studies))
    taus = np.array([-0.03, -0.015, 0.0, 0.05, 1.0])
    kinds = performance_profile(board, "kind", taus)
    # hybrid: -0.01 (b) and 0.05 (a); repeat: -0.02 (a only); dmd 0.2 (b only); skip untested (never within)
    assert kinds["hybrid"]["regimes"] == 2 and kinds["hybrid"]["share"].tolist() == [0, 0, 0.5, 1, 1]
    assert kinds["repeat"]["share"].tolist() == [0, 1, 1, 1, 1] and kinds["repeat"]["regimes"] == 1
    assert kinds["dmd"]["share"].tolist() == [0, 0, 0, 0, 1]
    assert kinds["skip"]["share"].tolist() == [0, 0, 0, 0, 0]
    arms = performance_profile(board, "arm", taus)
    assert arms["hybrid_r50"]["share"].tolist() == [0, 0, 0.5, 1, 1]


def test_the_index_refuses_findings_over_the_size_limit(two_studies, tmp_path):
    findings = shutil.copytree(two_studies, tmp_path / "findings")
    (findings / "regime_a" / "big.bin").write_bytes(b"\0" * (MAX_BYTES + 1))
    with pytest.raises(FindingsError, match="more than the 10 MB allowed"):
        write_index(findings, tmp_path / "FINDINGS.md")
    os.mkdir(findings / "half")
    (findings / "regime_a" / "big.bin").unlink()
    with pytest.raises(FindingsError, match="half lacks README.md"):  # a folder is never skipped
        write_index(findings, tmp_path / "FINDINGS.md")


# --- the smoke study -------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_findings_regenerate_the_smoke_study(smoke_study, tmp_path):
    out = tmp_path / "findings" / "smoke"
    cmd = [sys.executable, "-m", "predictive_training", "findings", str(smoke_study), "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert FILES | set(KEY_FIGURES) | {"calibration.json"} == set(first)  # the smoke study draws every key figure
    per_seed = pd.read_csv(out / "per_seed.csv")
    seeds = sorted(json.loads(first["findings.json"])["seeds"])
    assert sorted(per_seed.seed.unique()) == seeds and set(per_seed.measure) == {"time", "backward", "flops"}
    assert per_seed[per_seed.measure == "time"].phase_cost_full_steps.notna().any()
    assert sorted(pd.read_csv(out / "shadow_per_seed.csv").seed.unique()) == seeds
    for src, name in COPIED.items():
        assert first[name] == (smoke_study / src).read_bytes()
    fields = readme_fields(first["README.md"].decode())
    assert fields["config"] == "config/smoke.yaml" and (ROOT / fields["config"]).exists()
    assert commit_exists(fields["commit"]) and commit_exists(fields["results_commit"].split()[0])
    meta = json.loads(first["findings.json"])
    jobs = [pd.read_csv(p, sep="\t")["s"].sum() for p in (smoke_study / "benchmarks").rglob("*.tsv")]
    wt = meta["wall_time"]
    assert wt["method"] == "benchmarks" and wt["n_jobs"] == len(jobs)
    assert max(jobs) <= wt["seconds"] <= sum(jobs) + 1
    # every shadow cell of the Exp 3 logs has its row
    cells = set()
    for p in (smoke_study / "experiments/exp3_weight_delta").glob("seed*.json"):
        cells |= set(json.loads(p.read_text())["results"]["shadow"]["origins"])
    shadow = pd.read_csv(out / "shadow.csv")
    assert {f"{p}@{h}" for p, h in zip(shadow.predictor, shadow.horizon)} == cells
    assert {"rssm", "nowcaster", "rssm_pretrained", "span10"} <= set(shadow.predictor)
    # regenerated: the same files apart from the date
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    date, date2 = meta["date"].encode(), json.loads((out / "findings.json").read_text())["date"].encode()
    for name, data in first.items():
        assert (out / name).read_bytes().replace(date2, date) == data, name
    # and it joins an index
    md = write_index(tmp_path / "findings", tmp_path / "FINDINGS.md").read_text()
    assert "[smoke](findings/smoke/README.md)" in md
    frontier = pd.read_csv(out / "frontier.csv")
    for arm in frontier[(frontier.measure == "time") & (frontier.metric == "loss")].arm:
        assert f"| smoke | {arm}" in md


# --- what is committed -------------------------------------------------------------------------------------------

def committed_studies() -> list[Path]:
    return sorted(p for p in (ROOT / "findings").iterdir() if p.is_dir()) if (ROOT / "findings").exists() else []


def test_every_committed_findings_folder_names_a_config_and_a_commit_in_history():
    """Passes with no findings committed; then every folder under findings/ (committed or about to be): a
    README that names a config file of the repository (tracked by git, present at the commit that
    generated the findings, with the recorded sha256 when the work tree was clean) and a commit that
    exists, and the same in findings.json."""
    for d in committed_studies():
        if (d / "scaling.json").exists():  # an aggregate across studies: its points are committed folders
            for f in json.loads((d / "scaling.json").read_text())["folders"]:
                assert (d.parent / f / "findings.json").exists(), f"{d.name}: point {f} is not committed"
            continue
        if _is_aggregate(d):  # another aggregate (report/mitigations.py): its studies are committed folders
            for f in json.loads((d / "aggregate.json").read_text())["studies"]:
                assert (d.parent / f / "findings.json").exists(), f"{d.name}: study {f} is not committed"
            continue
        readme, meta = d / "README.md", d / "findings.json"
        assert readme.exists() and meta.exists(), f"{d.name}: README.md and findings.json"
        fields, meta = readme_fields(readme.read_text()), json.loads(meta.read_text())
        assert fields["config"] and fields["commit"], f"{d.name}: the README names no config or commit"
        assert (fields["config"], fields["commit"]) == (meta["config"]["path"], meta["commit"])
        assert (ROOT / fields["config"]).is_file(), f"{d.name}: {fields['config']} does not exist"
        assert git("ls-files", "--error-unmatch", fields["config"]).returncode == 0, f"{fields['config']} untracked"
        assert commit_exists(fields["commit"]), f"{d.name}: commit {fields['commit']} is not in the history"
        at_commit = subprocess.run(["git", "show", f"{fields['commit']}:{fields['config']}"], cwd=ROOT,
                                   capture_output=True)
        assert at_commit.returncode == 0, f"{d.name}: {fields['config']} did not exist at {fields['commit']}"
        if not meta["commit_dirty"]:
            assert hashlib.sha256(at_commit.stdout).hexdigest() == fields["config_sha256"]
        rc = (fields["results_commit"] or "").split()
        if rc and re.fullmatch(r"[0-9a-f]{40}", rc[0]):
            assert commit_exists(rc[0]), f"{d.name}: the results' commit {rc[0]} is not in the history"
        assert FILES <= {p.name for p in d.iterdir()}, f"{d.name}: missing {FILES - {p.name for p in d.iterdir()}}"


def test_committed_findings_stay_small_and_findings_md_is_regenerated_from_them(tmp_path):
    findings = ROOT / "findings"
    assert (folder_bytes(findings) if findings.exists() else 0) <= MAX_BYTES
    assert (ROOT / "FINDINGS.md").exists()
    copy = tmp_path / "findings"
    if findings.exists():
        shutil.copytree(findings, copy)
    regenerated = write_index(copy, tmp_path / "FINDINGS.md").read_text()
    assert (ROOT / "FINDINGS.md").read_text() == regenerated, \
        "FINDINGS.md is stale: python -m predictive_training findings --index"
    listed = re.findall(r"^\| \[([^\]]+)\]\(findings/", regenerated, re.M)
    assert listed == [d.name for d in committed_studies() if not _is_aggregate(d)]  # aggregates are no study
