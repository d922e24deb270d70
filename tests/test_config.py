import pytest

from predictive_training.config import ConfigError, load, validate


def test_defaults_filled_from_schema():
    cfg = validate({})
    assert cfg["study"] == "default"
    assert cfg["seeds"] == [0, 1, 2, 3, 4]
    assert cfg["data"]["source"] == "synthetic"
    assert cfg["train"]["steps"] == 1000
    assert list(cfg["arms"]) == ["baseline", "hybrid_r25", "hybrid_r50", "skip_r50", "repeat_r50", "matched_r50",
                                 "conv_b070"]


def test_partial_section_keeps_other_defaults():
    cfg = validate({"train": {"steps": 777}})
    assert cfg["train"]["steps"] == 777 and cfg["train"]["batch_size"] == 16


@pytest.mark.parametrize(
    "bad, key",
    [
        ({"bogus": 1}, "bogus"),
        ({"train": {"stepz": 10}}, "train.stepz"),
        ({"train": {"steps": "many"}}, "train.steps"),
        ({"seeds": []}, "seeds"),
        ({"seeds": [0, "one"]}, "seeds.1"),
        ({"data": {"source": "ftp://x"}}, "data.source"),
        ({"data": {"vocab_size": 100}}, "data.vocab_size"),
        ({"model": {"d_model": 30, "n_head": 4}}, "model.d_model"),
        # 2 cycles of Predict 20 + Correct 5 do not fit in the 27 steps after the default warmup
        ({"train": {"steps": 77}}, "arms.hybrid_r50.prediction_ratio"),
        ({"train": {"steps": 20, "warmup_steps": 20}}, "train.warmup_steps"),
        ({"data": {"source": "local:/no/such/file.txt"}}, "data.source"),
        ({"arms": {"hybrid": {"kind": "conventional"}}}, "arms"),
    ],
)
def test_bad_config_names_the_key(bad, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(bad)


def test_load_rejects_non_mapping(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load(p)
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "missing.yaml")


def test_shipped_configs_validate():
    for name in ("config/config.yaml", "config/smoke.yaml"):
        load(name)


def test_default_config_file_is_the_schema_default():
    """`--config study=X` alone (no config file) runs the same study as config/config.yaml."""
    assert load("config/config.yaml") == validate({})
