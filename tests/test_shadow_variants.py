"""``record.shadow.search_variants``: other scale searches in shadow mode (groupings, search windows,
evidence rule, scale range), each also applied to the real update; the records, their pooling and
the findings table."""

from __future__ import annotations

import pytest

from predictive_training import config as config_mod
from predictive_training.analysis.shadow import records_by_cell, summarise
from predictive_training.dynamics.corrector import group_parameters
from predictive_training.io import read_jsonl
from predictive_training.model import GPT, GPTConfig
from predictive_training.training.run import run_training
from tests.test_shadow import _cfg

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_groupings():
    names = [n for n, _ in GPT(GPTConfig(vocab_size=64, context=8, n_layer=2, n_head=2, d_model=16)).named_parameters()]
    block = group_parameters(names, "block")
    assert list(block) == ["embed", "blocks.0", "blocks.1"] and "ln_f.weight" in block["blocks.1"]
    module = group_parameters(names, "module")
    assert list(module) == ["tok_emb", "pos_emb", "blocks.0", "blocks.1", "ln_f"]
    assert module["ln_f"] == ["ln_f.weight", "ln_f.bias"] and "ln_f.weight" not in module["blocks.1"]
    tensor = group_parameters(names, "tensor")
    assert len(tensor) == len(names) and all(v == [k] for k, v in tensor.items())
    for g in (block, module, tensor):  # every parameter in exactly one group
        assert sorted(n for v in g.values() for n in v) == sorted(names)
    with pytest.raises(ValueError, match="unknown grouping"):
        group_parameters(names, "layer")


# "same": today's search (3 groups, the study's windows and scales, no evidence rule) as a variant;
# "none": no candidate besides 1, so no search at all; "fine": per tensor, a wider range, z = 1
VARIANTS = [{"name": "same", "groups": "block", "search_batches": 1, "evidence_z": 0.0,
             "scales": [0.0, 0.125, 0.25, 0.5, 1.5, 2.0]},
            {"name": "none", "groups": "module", "search_batches": 2, "evidence_z": 0.0, "scales": [1.0]},
            {"name": "fine", "groups": "tensor", "search_batches": 2, "evidence_z": 1.0, "scales": [0.0, 0.5, 2.0, 6.0]}]


@pytest.fixture(scope="module")
def variant_run(tmp_path_factory, tiny_data):
    cfg = _cfg(search_variants=VARIANTS)
    out = tmp_path_factory.mktemp("variants") / "baseline" / "seed0"
    run_training(cfg, tiny_data, "baseline", 0, out)
    return cfg, read_jsonl(out / "shadow.jsonl")


def test_each_variant_is_recorded_on_the_search_cells_and_on_the_real_update(variant_run):
    _, rows = variant_run
    searched = [r for r in rows if r.get("search")]
    assert searched and all(set(r["search_variants"]) == {"same", "none", "fine"} for r in searched)
    assert not any("search_variants" in r for r in rows if not r.get("search"))
    for r in searched:
        same, none, fine = (r["search_variants"][k] for k in ("same", "none", "fine"))
        # today's search as a variant gives today's numbers
        assert same["gain_pred"] == pytest.approx(r["search"]["gain_pred"], abs=1e-9)
        assert same["scales"] == r["search"]["scales"]
        # no candidate: no search, the delta as predicted
        assert none["gain_pred"] == pytest.approx(r["gain_pred"], abs=1e-9) and none["forward_passes"] <= 1
        assert set(none["scales"]) == {"tok_emb", "pos_emb", "blocks.0", "ln_f"}
        assert len(fine["scales"]) == 16 and {"tok_emb.weight", "ln_f.bias"} <= set(fine["scales"])  # per tensor
        assert fine["forward_passes"] >= len(fine["scales"])
        # the real update under the same searches
        real = r["variants_real"]
        assert real["none"]["progress"] == pytest.approx(1.0)
        assert isinstance(real["same"]["progress"], float) and set(real["fine"]["scales"]) == set(fine["scales"])


def test_the_variants_pool_over_seeds_with_the_excess(variant_run):
    _, rows = variant_run
    cells = summarise([records_by_cell(rows)])
    v = cells["rssm@6"]["variants"]
    assert set(v) == {"same", "none", "fine"}
    assert v["same"]["progress"] == pytest.approx(cells["rssm@6"]["progress_search"], abs=1e-9)
    assert v["none"]["progress"] == pytest.approx(cells["rssm@6"]["progress"], abs=1e-9)
    assert v["none"]["progress_real"] == pytest.approx(1.0) and v["none"]["excess"] == pytest.approx(v["none"]["progress"])
    for k in v:
        assert v[k]["excess"] == pytest.approx(v[k]["progress"] - (v[k]["progress_real"] - 1.0), abs=1e-9)
        lo, hi = v[k]["progress_ci"]
        assert lo <= v[k]["progress"] <= hi


def test_variant_names_must_be_distinct():
    with pytest.raises(config_mod.ConfigError, match="search_variants"):
        _cfg(search_variants=[VARIANTS[0], VARIANTS[0]])
