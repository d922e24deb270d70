"""config/README.md documents every key of the schema."""

from pathlib import Path

from predictive_training.config import schema


def _paths(node, prefix=""):
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path
        if sub.get("type") == "object" and "properties" in sub:
            yield from _paths(sub, path + ".")


def test_every_schema_key_is_documented():
    text = Path(__file__).resolve().parents[1].joinpath("config/README.md").read_text()
    missing = [p for p in _paths(schema()) if f"`{p}`" not in text]
    assert not missing, f"config/README.md does not document: {missing}"
