"""HTML and PDF report renderers: self-contained HTML, extractable PDF, real browser rendering."""

import re
import shutil
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from predictive_training.report.context import ReportContext  # noqa: E402
from predictive_training.report.html import html_string, render_html  # noqa: E402
from predictive_training.report.pdf import render_pdf  # noqa: E402
from predictive_training.stats import tests as S  # noqa: E402
from predictive_training.stats.decisions import OUTCOMES, decide  # noqa: E402

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()), None)
PDFTOTEXT = shutil.which("pdftotext")


def _figure(path: Path, kind: int) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=80)
    x = np.arange(50)
    if kind == 0:
        ax.plot(x, 10.8 * np.exp(-x / 15) + 2.0, label="baseline")
        ax.plot(x, 10.8 * np.exp(-x / 14) + 2.05, label="hybrid_r50")
        ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.legend()
    else:
        ax.bar(["r25", "r50"], [1.3, 1.7], color=["#4477aa", "#ee6677"])
        ax.set_ylabel("speedup")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    rows = [
        S.one_sample_row("exp1", "mean_cosine", [0.74, 0.81, 0.77, 0.79, 0.72], 0.7, n_resamples=300),
        S.one_sample_row("exp1", "pca_top10", [0.64, 0.61, 0.66, 0.6, 0.63], 0.7, n_resamples=300),
        S.one_sample_row("exp2", "r2", [0.78, 0.8, 0.75, 0.81, 0.79], 0.85, n_resamples=300),
        S.one_sample_row("exp2", "mae_over_range", [0.04, 0.03, 0.045, 0.035, 0.04], 0.05, "less", n_resamples=300),
        S.one_sample_row("exp3", "cosine", [0.91], 0.8, n_resamples=300),
        S.tost_row("exp4", "loss_gap_r50", [3.2, 3.3, 3.25, 3.1, 3.3], [3.0, 3.1, 3.05, 2.95, 3.1], 0.02,
                   n_resamples=300),
        S.one_sample_row("exp4", "speedup_r50", [1.6, 1.7, 1.65, 1.8, 1.7], 2.0, n_resamples=300),
        S.one_sample_row("exp5", "loss_reduction", [0.08, 0.07, 0.09, 0.1, 0.06], 0.05, n_resamples=300),
        S.descriptive_row("exp5", "divergences", 0, 0, n=5),
    ]
    summary = S.tests_table(rows)
    runs = pd.DataFrame({
        "arm": ["baseline", "baseline", "hybrid_r50", "hybrid_r50"],
        "seed": [0, 1, 0, 1],
        "final_val_loss": [3.01, 3.09, 3.21, 3.3],
        "wall_s": [120.5, 118.2, 71.0, 69.9],
        "backward": [400, 400, 200, 200],
    })
    figures = [(_figure(d / "loss.png", 0), "Validation loss <by> step & arm", "Experiment 4"),
               (_figure(d / "speed.png", 1), "Speedup of the hybrid arms", "Experiment 4")]
    prov = {"config": {"study": "smoke", "seeds": [0, 1], "data": {"source": "synthetic"}},
            "packages": {"torch": "2.13.0", "numpy": "2.x"}, "git_commit": "abc1234", "machine": "2-core CPU",
            "date": "2026-02-01", "data_sha256": "e3b0c44298fc1c149afbf4c8996fb924"}
    return ReportContext(title="Predictive training: smoke report", study="smoke", summary=summary,
                         decisions=decide(summary), figures=figures, runs=runs, provenance=prov,
                         notes="Fake numbers for a renderer test.\n\nSecond <paragraph>.")


def _outcomes(ctx):
    return {r["outcome"] for r in ctx.decisions["milestones"] + ctx.decisions["decisions"]}


def test_html_is_self_contained(context, tmp_path):
    out = render_html(context, tmp_path / "sub" / "report.html")
    text = out.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "http://" not in text and "https://" not in text
    assert "@import" not in text and "<script" not in text.lower() and "<link" not in text.lower()
    srcs = re.findall(r"""<img[^>]*\ssrc="([^"]*)\"""", text)
    assert len(srcs) == len(context.figures)
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    for outcome in _outcomes(context):
        assert outcome in text
    assert "Validation loss &lt;by&gt; step &amp; arm" in text  # escaped, not raw markup
    assert "Second &lt;paragraph&gt;." in text
    assert "hybrid_r50" in text and "abc1234" in text and "source: synthetic" in text
    assert "pass*" in text  # the n=1 criterion is flagged


def test_expected_outcomes_of_the_fake_study(context):
    r = {x["id"]: x["outcome"] for x in context.decisions["milestones"] + context.decisions["decisions"]}
    assert r == {"M1": "No-Go", "M2": "No-Go", "M3": "Go", "M4": "No-Go", "M5": "not evaluated",
                 "D1": "Refine the dynamics model", "D2": "Increase correction frequency and optimize the implementation",
                 "D3": "Document and open-source"}
    assert _outcomes(context) <= set(OUTCOMES)


def test_missing_figure_is_a_clear_error(context, tmp_path):
    import dataclasses
    bad = dataclasses.replace(context, figures=[(tmp_path / "nope.png", "x", "s")])
    with pytest.raises(ValueError, match="figures"):
        html_string(bad)
    with pytest.raises(ValueError, match="figures"):
        render_pdf(bad, tmp_path / "r.pdf")


def test_pdf_text_has_every_outcome(context, tmp_path):
    if PDFTOTEXT is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    out = render_pdf(context, tmp_path / "report.pdf")
    assert out.read_bytes()[:5] == b"%PDF-"
    txt = subprocess.run([PDFTOTEXT, "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    flat = " ".join(txt.split())  # outcomes may wrap across lines in table cells
    for outcome in _outcomes(context):
        assert outcome in flat, outcome
    for needle in ("Hypotheses and criteria", "Validation loss <by> step & arm", "abc1234", "hybrid_r50",
                   "Risk 4", "FineWeb-Edu"):
        assert needle in flat, needle
    # deterministic: the same context gives the same bytes
    again = render_pdf(context, tmp_path / "again.pdf")
    assert again.read_bytes() == out.read_bytes()
    # figures are embedded as images
    if shutil.which("pdfimages"):
        lst = subprocess.run(["pdfimages", "-list", str(out)], capture_output=True, text=True, check=True).stdout
        assert len([ln for ln in lst.splitlines()[2:] if ln.strip()]) >= len(context.figures)


_PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-img-total', String(imgs.length));
  document.body.setAttribute('data-img-ok', String(ok));
});
</script></body>"""


def _chromium(args, tmp_path, timeout=90):
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_html_renders_in_headless_chromium(context, tmp_path):
    from matplotlib.image import imread

    out = render_html(context, tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    r = _chromium([f"--screenshot={shot}", "--window-size=1200,3000", "--hide-scrollbars", out.as_uri()], tmp_path)
    assert shot.exists(), r.stderr[-2000:]
    px = imread(str(shot))[..., :3]
    assert px.shape[0] >= 2000 and px.shape[1] >= 1000
    assert float(px.std()) > 0.05  # not a blank page
    assert float((px.mean(axis=2) < 0.5).mean()) > 0.005  # some dark pixels: text was drawn
    # every image decoded: probe copy of the page with a script writing counts onto <body>
    probe = tmp_path / "probe.html"
    probe.write_text(out.read_text(encoding="utf-8").replace("</body>", _PROBE), encoding="utf-8")
    r = _chromium(["--run-all-compositor-stages-before-draw", "--virtual-time-budget=5000", "--dump-dom",
                   probe.as_uri()], tmp_path)
    total = re.search(r'data-img-total="(\d+)"', r.stdout)
    ok = re.search(r'data-img-ok="(\d+)"', r.stdout)
    assert total and ok, (r.stdout[:500], r.stderr[-2000:])
    assert int(total.group(1)) == len(context.figures)
    assert int(ok.group(1)) == len(context.figures)


def test_minimal_context_renders(tmp_path):
    empty = S.tests_table([])
    ctx = ReportContext(title="Empty study", study="empty", summary=empty, decisions=decide(empty))
    text = render_html(ctx, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "No hypothesis tests were supplied." in text and "not evaluated" in text
    assert render_pdf(ctx, tmp_path / "r.pdf").stat().st_size > 1000
    with pytest.raises(ValueError, match="title"):
        render_html(ReportContext(title="", study="x", summary=empty, decisions=decide(empty)), tmp_path / "x.html")
