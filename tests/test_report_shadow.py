"""The report's shadow-mode section: the sentence on H1/H2 from the numbers, the table, the figure."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from predictive_training.analysis.shadow import summarise
from predictive_training.report.context import ReportContext
from predictive_training.report.figures import shadow_horizon_figure
from predictive_training.report.html import html_string
from predictive_training.report.pdf import render_pdf
from predictive_training.report.shadow import implication, shadow_section
from predictive_training.stats.decisions import decide
from predictive_training.stats import tests as S


def _records(gain_pred, gain_real, cosine, unc=None, search=None):
    out = []
    for i, (gp, gr) in enumerate(zip(gain_pred, gain_real)):
        r = {"origin": 10 * i, "ready": True, "cosine": cosine, "rel_l2": 1 - cosine, "norm_ratio": 0.5,
             "pearson_r": cosine, "per_layer_accuracy": 0.1, "gain_pred": gp, "gain_real": gr, "gain_real_se": 0.01,
             "progress": gp / gr, "progress_se": 0.1, "uncertainty": None if unc is None else unc[i],
             "delta_norm_pred": 1.0, "delta_norm_real": 2.0}
        if search is not None:
            r["search_gain_pred"], r["search_progress"] = search[i], search[i] / gr
        out.append(r)
    return out


def _logs(rssm_share: float, span_share: float, n_seeds: int = 3):
    rng = np.random.default_rng(0)
    logs = []
    for s in range(n_seeds):
        real = 0.05 + 0.01 * rng.random(8)
        noise = 0.002 * rng.standard_normal(8)
        cells = {"rssm@20": _records(rssm_share * real + noise, real, 0.3, unc=list(rng.random(8)),
                                     search=0.5 * real),
                 "ema@20": _records(-1.0 * real + noise, real, 0.4),
                 "zero@20": _records(np.zeros(8), real, 0.0),
                 "span50@20": _records(span_share * real + noise, real, 0.6)}
        logs.append({"seed": s, "results": {"shadow": {"origins": cells}}})
    return logs


def test_the_sentence_follows_the_numbers():
    table = summarise([lg["results"]["shadow"]["origins"] for lg in _logs(0.2, -2.0)])
    text = implication(table, 20)
    assert "Y = 20" in text and "cosine 0.3" in text
    assert "does at most" in text and "of the work of the 20 real steps" in text  # 20% [..]: below 1, above 0
    assert "above the best simple predictor (ema" in text  # 20% against -100%
    assert "span oracle over the last 50 updates" in text and "Progress is not bounded" in text
    assert "after the per-layer scale search it does" in text and "Correct phases" in text
    # no work: an interval around 0
    table0 = summarise([lg["results"]["shadow"]["origins"] for lg in _logs(0.0, 0.9)])
    assert "does no work that can be told from none" in implication(table0, 20)
    assert "Progress is not bounded" not in implication(table0, 20)
    # a predictor that does the real steps' work
    table1 = summarise([lg["results"]["shadow"]["origins"] for lg in _logs(1.0, 0.9)])
    assert "cannot be told from that of the 20 real steps" in implication(table1, 20)
    assert "nothing about H1 or H2" in implication(table, 50)  # no rows at Y = 50


def test_section_table_and_rendering(tmp_path):
    logs = _logs(0.2, -2.0)
    exp2 = [{"results": {"uncertainty_vs_loss_error": {"pairs": [[o, float(o), 2.0 * o] for o in range(6)]}}}]
    sec = shadow_section(logs, exp2, 20)
    assert [r[0] for r in sec["rows"]] == ["rssm", "ema", "zero", "span50"]
    rssm = sec["rows"][0]
    assert rssm[1] == "20" and rssm[2] == "24"
    assert float(rssm[6].split()[0]) == pytest.approx(0.2, abs=0.02)  # progress captured [interval]
    assert float(rssm[7].split()[0]) == pytest.approx(0.5, abs=1e-9)  # after the scale search
    assert "1.00" in sec["paragraphs"][1] or "1 (p" in sec["paragraphs"][1]  # uncertainty ranks the errors exactly
    assert shadow_section([], exp2, 20) is None
    summary = S.tests_table([])
    ctx = ReportContext(title="t", study="s", summary=summary, decisions=decide(summary), runs=pd.DataFrame(),
                        sections=[sec])
    html = html_string(ctx)
    assert sec["title"] in html and "span50" in html and "Progress is not bounded" in html
    render_pdf(ctx, tmp_path / "r.pdf")
    bad = dataclasses.replace(ctx, sections=[{**sec, "rows": [["x"]]}])
    with pytest.raises(ValueError, match="sections"):
        html_string(bad)


def test_horizon_figure(tmp_path):
    table = summarise([lg["results"]["shadow"]["origins"] for lg in _logs(0.2, -2.0)])
    path, caption, section = shadow_horizon_figure(table, tmp_path, 20)
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "shadow_horizon.pdf").exists()
    assert "span oracle" in caption and section == "Shadow mode"
