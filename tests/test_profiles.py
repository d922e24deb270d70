"""Paper-scale configs plan offline, and the SLURM profile is well formed.

``snakemake -n`` on config/paper.yaml (through profiles/slurm), paper_500m.yaml, fineweb_edu.yaml and finemath.yaml must
plan the whole DAG with every internet connection refused (a sitecustomize makes any AF_INET/
AF_INET6 connect fail and records the attempt), and list one train job per arm and seed (5
seeds). The profile must name the slurm executor, carry the account/partition placeholders and
give the train rule a GPU.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from predictive_training import config as config_mod
from predictive_training.model import GPT, GPTConfig

ROOT = Path(__file__).resolve().parents[1]
PAPER_CONFIGS = ["paper", "paper_500m", "fineweb_edu", "finemath"]
PROFILE = ROOT / "profiles/slurm/config.yaml"

NO_NETWORK = '''
import os, socket
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
def _refuse(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        with open(os.environ["PT_NETWORK_LOG"], "a") as f:
            f.write(repr(address) + "\\n")
        raise OSError("network disabled by tests/test_profiles.py")
    return _connect(self, address)
socket.socket.connect = _refuse
socket.socket.connect_ex = lambda self, address: _refuse(self, address) or 0
'''


def update(base: dict, new: dict) -> dict:
    """Snakemake's config merge: ``new`` over ``base``, recursively."""
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            update(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


def merged_config(name: str) -> dict:
    """What the workflow sees for --configfile config/<name>.yaml: the file alone (common.smk reads
    config/config.yaml only when no --configfile is given)."""

    return config_mod.validate(yaml.safe_load((ROOT / f"config/{name}.yaml").read_text()))


def offline_env(tmp: Path) -> tuple[dict, Path]:
    """Environment whose Python processes cannot open internet connections (attempts logged)."""
    (tmp / "sitecustomize.py").write_text(NO_NETWORK)
    log = tmp / "connections.log"
    env = {**os.environ, "PYTHONPATH": f"{tmp}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "PT_NETWORK_LOG": str(log)}
    return env, log


def test_network_block_works(tmp_path):
    """Known answer for the guard itself: a connection attempt fails and is logged."""
    env, log = offline_env(tmp_path)
    code = "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\nexcept OSError as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert "network disabled" in out and "127.0.0.1" in log.read_text()


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    """Dry runs of the four paper configs (and paper.yaml through the SLURM profile), in parallel."""
    env, log = offline_env(tmp_path_factory.mktemp("offline"))
    runs = {name: [f"config/{name}.yaml"] for name in PAPER_CONFIGS}
    runs["paper"] += ["--profile", "profiles/slurm"]  # the profile's resources are checked on this one
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "snakemake", "-n", "--forceall", "--configfile", *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for name, args in runs.items()
    }
    out = {}
    for name, p in procs.items():
        text, _ = p.communicate(timeout=300)
        out[name] = (p.returncode, text)
    out["_connections"] = log.read_text() if log.exists() else ""
    return out


def train_jobs(text: str) -> list[tuple[str, int]]:
    jobs = []
    for block in re.split(r"\n(?=\[[^\n]*\]\n(?:local)?rule )", text):
        if re.search(r"^(?:local)?rule train:", block, re.M):
            m = re.search(r"wildcards: arm=([^,\s]+), seed=(\d+)", block)
            jobs.append((m.group(1), int(m.group(2))))
    return jobs


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_config_plans_offline_with_five_seeds_per_arm(dry_runs, name):
    rc, text = dry_runs[name]
    assert rc == 0, f"snakemake -n --configfile config/{name}.yaml failed:\n{text[-3000:]}"
    assert dry_runs["_connections"] == "", f"the dry run tried the network: {dry_runs['_connections']}"
    cfg = merged_config(name)
    assert cfg["seeds"] == [0, 1, 2, 3, 4]
    expected = sorted((arm, seed) for arm in cfg["arms"] for seed in cfg["seeds"])
    assert sorted(train_jobs(text)) == expected
    # the plan's Exp 4 arms and controls are all there
    assert {"baseline", "hybrid_r25", "hybrid_r50", "skip_r50", "repeat_r50", "matched_r50"} <= set(cfg["arms"])
    assert re.search(r"^prepare_data\s+1$", text, re.M)


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_config_validates_alone(name):
    """python -m predictive_training validate config/<name>.yaml: the file by itself is a valid study."""
    cfg = config_mod.load(ROOT / f"config/{name}.yaml")
    assert cfg["study"] == name and cfg["device"] == "auto" and cfg["train"]["precision"] == "bf16"
    assert cfg["train"]["steps"] == 20000 and len(cfg["seeds"]) == 5


@pytest.mark.parametrize("name, low, high", [("paper", 90e6, 115e6), ("paper_500m", 450e6, 550e6),
                                             ("fineweb_edu", 90e6, 115e6), ("finemath", 90e6, 115e6)])
def test_paper_model_sizes(name, low, high):
    """The sizes the config comments state, counted with the package's GPT (meta device: no memory)."""
    cfg = config_mod.load(ROOT / f"config/{name}.yaml")
    with torch_meta():
        n = GPT(GPTConfig(vocab_size=cfg["data"]["vocab_size"], **cfg["model"])).n_params()
    assert low < n < high
    assert f"{n:,} parameters" in (ROOT / f"config/{name}.yaml").read_text()


def torch_meta():
    import torch

    return torch.device("meta")


def test_hf_sources():
    cfgs = {n: config_mod.load(ROOT / f"config/{n}.yaml")["data"] for n in PAPER_CONFIGS}
    assert cfgs["paper"]["source"] == cfgs["paper_500m"]["source"] == "hf:roneneldan/TinyStories"
    fw, fm = cfgs["fineweb_edu"], cfgs["finemath"]
    assert (fw["source"], fw["hf_config"], fw["hf_streaming"]) == ("hf:HuggingFaceFW/fineweb-edu", "sample-10BT", True)
    assert (fm["source"], fm["hf_config"], fm["hf_streaming"]) == ("hf:HuggingFaceTB/finemath", "finemath-3plus", True)
    assert fw["max_documents"] and fm["max_documents"]  # streamed: a bounded number of documents


def test_slurm_profile_is_well_formed():
    prof = yaml.safe_load(PROFILE.read_text())
    assert prof["executor"] == "slurm"
    res = prof["default-resources"]
    assert {"slurm_account", "slurm_partition", "runtime", "mem_mb"} <= set(res)
    assert "FILL_IN" in res["slurm_account"] and "FILL_IN" in res["slurm_partition"]
    train = prof["set-resources"]["train"]
    assert train.get("gres", "").startswith("gpu") or train.get("gpu")
    assert prof["retries"] >= 1 and prof["jobs"] >= 1 and prof["latency-wait"] >= 5
    assert "slurm-logdir" in prof


def test_slurm_profile_dry_run_gives_train_a_gpu(dry_runs):
    rc, text = dry_runs["paper"]
    assert rc == 0, text[-3000:]
    blocks = [b for b in re.split(r"\n(?=\[[^\n]*\]\n(?:local)?rule )", text) if re.search(r"^rule train:", b, re.M)]
    assert len(blocks) == 35  # 7 arms x 5 seeds
    for b in blocks:
        resources = re.search(r"resources: (.*)", b).group(1)
        assert "gres=gpu:1" in resources and "slurm_account=FILL_IN_ACCOUNT" in resources


@pytest.mark.parametrize("name", PAPER_CONFIGS + ["smoke"])
def test_remote_jobs_see_the_same_config(name):
    """Belt and braces: even if a job merged config/config.yaml under the study file (older
    Snakefiles did, through a configfile: directive), the merge would change nothing."""

    study = yaml.safe_load((ROOT / f"config/{name}.yaml").read_text())
    alone = config_mod.validate(study)
    merged = config_mod.validate(update(yaml.safe_load((ROOT / "config/config.yaml").read_text()), study))
    assert merged == alone
