"""The docs cannot drift from the config: config/README.md documents every key of the schema with its
default, and every number the docs derive from a config (shadow origins per seed, the RSSM's
defaults) is computed here from the config itself. Code comments and docstrings say why, not which
issue asked for it."""

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from predictive_training import config as config_mod
from predictive_training.config import schema

ROOT = Path(__file__).resolve().parents[1]
_MISSING = object()


def _paths(node, prefix=""):
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path
        if sub.get("type") == "object" and "properties" in sub:
            yield from _paths(sub, path + ".")


def _schema_default(path: str):
    node = schema()
    for key in path.split("."):
        node = node.get("properties", {}).get(key)
        if node is None:
            return _MISSING
    return node.get("default", _MISSING)


def _text(rel: str) -> str:
    return (ROOT / rel).read_text()


def test_every_schema_key_is_documented():
    text = _text("config/README.md")
    missing = [p for p in _paths(schema()) if f"`{p}`" not in text]
    assert not missing, f"config/README.md does not document: {missing}"


def readme_default_mismatches(text: str) -> list[str]:
    """Rows ``| `key` | `default` | meaning |`` of config/README.md whose default is not the schema's."""
    out = []
    for key, cell in re.findall(r"^\| `([a-z0-9_.]+)` \| `([^`]*)` \| [^|]*\|$", text, re.M):  # key, default, meaning
        want = _schema_default(key)
        if want is _MISSING:
            continue
        got = yaml.safe_load(cell)
        if isinstance(got, str) and isinstance(want, float):  # YAML reads 1e-6 as a string
            got = float(got)
        if got != want:
            out.append(f"{key}: README says {cell!r}, the schema {want!r}")
    return out


def test_the_readme_defaults_are_the_schemas():
    """The default column of config/README.md is the schema's default for every key (read as YAML)."""
    bad = readme_default_mismatches(_text("config/README.md"))
    assert not bad, "config/README.md contradicts the schema:\n" + "\n".join(bad)


def rssm_default_mismatches(text: str) -> list[str]:
    """The RSSMConfig defaults that the ``hybrid.rssm`` row of config/README.md quotes, ``field`` (value...,
    against the dataclass's."""
    from predictive_training.dynamics.rssm import RSSMConfig

    row = next(line for line in text.splitlines() if line.startswith("| `hybrid.rssm` |"))
    defaults = {f.name: f.default for f in dataclasses.fields(RSSMConfig)}
    quoted = re.findall(r"`(\w+)` \(([0-9.]+)", row)
    assert quoted, "the hybrid.rssm row quotes no RSSMConfig default"
    return [f"{name}: README says {v}, RSSMConfig {defaults.get(name)!r}" for name, v in quoted
            if name not in defaults or float(v) != float(defaults[name])]


def test_the_rssm_defaults_quoted_in_the_readme_are_rssmconfigs():
    bad = rssm_default_mismatches(_text("config/README.md"))
    assert not bad, "config/README.md contradicts RSSMConfig:\n" + "\n".join(bad)


def origin_claims() -> list[tuple[str, str, tuple[int, ...]]]:
    """Every statement of shadow origins per seed in the docs and the configs' comments:
    ``(file, the sentence's pattern, the numbers it states)``."""
    patterns = [("docs/design.md", r"(\d+) of (\d+) in the default study"),
                ("config/config.yaml", r"\((\d+) of its (\d+) origins\)"),
                ("config/README.md", r"\((\d+) origins, not (\d+)\)"),
                ("config/shadow_dense.yaml", r"\((\d+) instead of (\d+)\)")]
    out = []
    for rel, pat in patterns:
        found = re.findall(pat, _text(rel))
        assert len(found) == 1, f"{rel}: expected one statement matching {pat!r}, found {found}"
        out.append((rel, pat, tuple(int(v) for v in found[0])))
    return out


def origin_counts() -> dict[str, int]:
    """Shadow origins per seed: the default study's, the dense study's, and every Predict start of the
    default study's plan (plan_every 1)."""
    from predictive_training.training.shadow import shadow_origins

    default = config_mod.load(ROOT / "config/config.yaml")
    dense = config_mod.load(ROOT / "config/shadow_dense.yaml")
    every = config_mod.validate({**default, "record": {**default["record"],
                                                       "shadow": {**default["record"]["shadow"], "plan_every": 1}}})
    return {"default": len(shadow_origins(default)), "dense": len(shadow_origins(dense)),
            "all": len(shadow_origins(every))}


def origin_mismatches(claims, n: dict[str, int]) -> list[str]:
    want = {"docs/design.md": (n["default"], n["all"]), "config/config.yaml": (n["default"], n["all"]),
            "config/README.md": (n["dense"], n["default"]), "config/shadow_dense.yaml": (n["dense"], n["default"])}
    return [f"{rel}: states {got} for {pat!r}, the configs give {want[rel]}" for rel, pat, got in claims
            if got != want[rel]]


def test_origin_counts_in_the_docs_follow_from_the_configs():
    n = origin_counts()
    assert n["dense"] == n["all"] > n["default"] > 0
    bad = origin_mismatches(origin_claims(), n)
    assert not bad, "\n".join(bad)


def test_the_default_configs_comments_do_not_contrast_it_with_the_schema():
    """config/config.yaml IS the schema's defaults (test_config keeps them equal), so a comment that
    sets one of its values against "the schema's" is wrong by construction."""
    comments = [line.split("#", 1)[1] for line in _text("config/config.yaml").splitlines() if "#" in line]
    bad = [c.strip() for c in comments if re.search(r"schema'?s?\W+\d|not the schema", c)]
    assert not bad, bad


ISSUE = re.compile(r"\bissues? ?#?\d+", re.I)


def issue_mentions(roots=("src", "workflow", "benchmarks", "scripts", "tests", "examples", "config")) -> list[str]:
    """Lines of code, comments and docstrings (and config comments) that cite an issue by number."""
    out = []
    files = [ROOT / "Snakefile"]
    for r in roots:
        files += [p for p in (ROOT / r).rglob("*") if p.suffix in (".py", ".smk", ".yaml", ".j2", ".sh", ".toml")]
    for p in files:
        for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
            if ISSUE.search(line) and "ISSUE = re.compile" not in line:
                out.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()}")
    return out


def test_code_says_why_not_which_issue():
    """Issue history lives in the issue tracker and the commits; code keeps the reason."""
    bad = issue_mentions()
    assert not bad, "\n".join(bad[:20])


@pytest.mark.parametrize("planted", ["readme_default", "rssm_default", "origins"])
def test_the_doc_checks_catch_a_planted_contradiction(planted):
    """Each check above fails on a contradiction planted in a copy of the text it reads."""
    if planted == "readme_default":
        text = _text("config/README.md").replace("| `train.checkpoint_every` | `250` |",
                                                  "| `train.checkpoint_every` | `100` |")
        assert readme_default_mismatches(text)
    elif planted == "rssm_default":
        text = _text("config/README.md").replace("`update_every` (8:", "`update_every` (10:")
        assert rssm_default_mismatches(text)
    else:
        claims = [(rel, pat, (got[0] + 2, got[1]) if rel == "docs/design.md" else got)
                  for rel, pat, got in origin_claims()]
        assert origin_mismatches(claims, origin_counts())
