"""envs/*.yaml (conda environments of the rules) pin the same versions as requirements.txt."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))
# conda-forge names that differ from the PyPI names in requirements.txt
CONDA_TO_PYPI = {"pytorch": "torch", "py-xxhash": "xxhash"}
NOT_PINNED_HERE = {"python", "pip"}  # the interpreter and its installer, not in requirements.txt


def requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"requirements.txt: {line!r} is not pinned with =="
        pins[canonicalize_name(name)] = version.strip()
    return pins


def env_pins(path: Path) -> dict[str, str | None]:
    """Package -> pinned version (None where unpinned) from a conda env file, pip section included."""
    env = yaml.safe_load(path.read_text())
    pins: dict[str, str | None] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for spec in dep.get("pip", []):
                m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(?:==\s*(\S+))?\s*", spec)
                assert m, f"{path.name}: pip entry {spec!r} is not 'name==version'"
                pins[canonicalize_name(m.group(1))] = m.group(2)
        else:  # conda: name, name=version, name==version, name=version=build
            m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(?:==?\s*([^=\s]+))?(?:=\S+)?\s*", dep)
            assert m, f"{path.name}: conda entry {dep!r} not understood"
            name = CONDA_TO_PYPI.get(m.group(1), m.group(1))
            pins[canonicalize_name(name)] = m.group(2)
    return pins


def test_env_files_exist():
    names = {p.name for p in ENV_FILES}
    assert {"train.yaml", "report.yaml"} <= names


def mismatches(pins: dict[str, str | None], req: dict[str, str], file: str) -> list[str]:
    """One message per package of ``pins`` that is unpinned, unknown to ``req`` or pinned differently."""
    problems = []
    for name, version in sorted(pins.items()):
        if name in NOT_PINNED_HERE:
            continue
        if version is None:
            problems.append(f"{name}: not pinned (requirements.txt has {req.get(name)})")
        elif name not in req:
            problems.append(f"{name}=={version}: not in requirements.txt")
        elif version != req[name]:
            problems.append(f"{name}: {version} in {file}, {req[name]} in requirements.txt")
    return problems


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_match_requirements(path):
    problems = mismatches(env_pins(path), requirements(), path.name)
    assert not problems, f"envs/{path.name} disagrees with requirements.txt: " + "; ".join(problems)


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_python_matches_setup(path):
    """The interpreter is the one scripts/setup.sh documents (Python 3.11)."""
    pins = env_pins(path)
    assert pins.get("python") == "3.11", f"envs/{path.name}: python pinned to {pins.get('python')}, expected 3.11"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_installs_the_package(path):
    """The rules import predictive_training: a post-deploy script installs it into the env."""
    script = path.with_name(path.stem + ".post-deploy.sh")
    assert script.exists(), f"{script.relative_to(ROOT)} missing"
    assert "pip install" in script.read_text() and "-e ." in script.read_text()


def test_train_env_has_the_package_dependencies():
    """Every direct dependency of the package (pyproject.toml) is in envs/train.yaml."""
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = env_pins(ROOT / "envs/train.yaml")
    missing = [d for d in deps if canonicalize_name(re.split(r"[=<>!~ ]", d)[0]) not in pins]
    assert not missing, f"envs/train.yaml lacks {missing}"


def test_rules_name_existing_env_files():
    """Every conda: directive of the workflow points at a file in envs/."""
    found = 0
    for smk in (ROOT / "workflow/rules").glob("*.smk"):
        for m in re.finditer(r"conda:\s*\n\s*\"([^\"]+)\"", smk.read_text()):
            found += 1
            target = (smk.parent / m.group(1)).resolve()
            assert target.exists(), f"{smk.name}: conda env {m.group(1)} does not exist"
            assert target.parent == ROOT / "envs"
    if not found:
        pytest.skip("no rule declares a conda environment")


def test_mismatch_is_reported_with_the_package_name(tmp_path):
    """Known answer: a wrong pin, an unpinned and an unknown package are each named; names are normalised."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "dependencies:\n  - python=3.11\n  - pip\n  - pytorch=2.13.0\n  - pip:\n"
        "      - NumPy==1.0.0\n      - PyYAML==6.0.4\n      - scipy\n      - left_pad==1.0\n"
    )
    req = requirements()
    problems = mismatches(env_pins(bad), req, "bad.yaml")
    assert problems == [
        "left-pad==1.0: not in requirements.txt",
        f"numpy: 1.0.0 in bad.yaml, {req['numpy']} in requirements.txt",
        f"scipy: not pinned (requirements.txt has {req['scipy']})",
    ]  # torch (conda name pytorch) and PyYAML match
