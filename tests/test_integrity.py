"""Checksums of snapshot files: damage of every kind is detected and the damaged file is named."""

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from predictive_training.records.integrity import (
    MANIFEST,
    IntegrityError,
    load_safetensors_checked,
    read_manifest,
    require_intact,
    safetensors_header,
    sha256_file,
    verify,
    write_manifest,
)


def _tensors(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "blocks.0.attn.weight": torch.randn(8, 8, generator=g),
        "blocks.0.attn.bias": torch.randn(8, generator=g),
        "embed.weight": torch.randn(16, 8, generator=g),
    }


def _snapshot_folder(root: Path, n: int = 4) -> Path:
    folder = root / "snapshots"
    folder.mkdir()
    for k in range(n):
        save_file(_tensors(k), str(folder / f"step{k * 50:06d}.safetensors"), metadata={"step": str(k * 50)})
    return folder


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path, keep: int) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(keep)


def test_sha256_file_known_answers(tmp_path):
    p = tmp_path / "abc"
    p.write_bytes(b"abc")
    # FIPS 180-2 test vector for "abc", and the digest of the empty string
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file(p, chunk_size=1) == sha256_file(p)
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "empty") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    big = tmp_path / "big"
    data = os.urandom(3 * (1 << 20) + 17)  # crosses chunk boundaries
    big.write_bytes(data)
    assert sha256_file(big) == hashlib.sha256(data).hexdigest()
    with pytest.raises(ValueError, match="chunk_size"):
        sha256_file(p, chunk_size=0)


def test_manifest_is_sha256sum_format_and_intact_folder_verifies(tmp_path):
    folder = _snapshot_folder(tmp_path)
    (folder / ".step000200.safetensors.tmp-x").write_bytes(b"half written")  # hidden temp: not listed
    manifest = write_manifest(folder)
    assert manifest == folder / MANIFEST
    lines = manifest.read_text().splitlines()
    names = sorted(p.name for p in folder.glob("step*.safetensors"))
    assert [line.split("  ", 1)[1] for line in lines] == names
    for line in lines:
        digest, name = line.split("  ", 1)
        assert digest == sha256_file(folder / name)
    assert read_manifest(folder) == {n: sha256_file(folder / n) for n in names}
    assert verify(folder) == [] and verify(folder, strict=False) == []
    require_intact(folder)
    assert not [p for p in folder.iterdir() if p.name.startswith(f".{MANIFEST}")]  # no temporary left
    if shutil.which("sha256sum"):  # the manifest checks without this package
        res = subprocess.run(["sha256sum", "--check", "--quiet", MANIFEST], cwd=folder, capture_output=True)
        assert res.returncode == 0, res.stdout + res.stderr


def test_truncated_flipped_and_deleted_files_are_each_named(tmp_path):
    folder = _snapshot_folder(tmp_path)
    write_manifest(folder)
    truncated, flipped, deleted, intact = sorted(folder.glob("step*.safetensors"))
    _truncate(truncated, truncated.stat().st_size - 10)
    _flip_byte(flipped, flipped.stat().st_size - 3)  # inside the tensor data: the header stays valid
    deleted.unlink()

    problems = verify(folder)
    assert len(problems) == 3, problems
    by_file = {name: [p for p in problems if name in p] for name in (truncated.name, flipped.name, deleted.name)}
    assert all(len(v) == 1 for v in by_file.values()), problems
    assert "sha256 mismatch" in by_file[truncated.name][0]
    assert "sha256 mismatch" in by_file[flipped.name][0]
    assert "missing" in by_file[deleted.name][0]
    assert not any(intact.name in p for p in problems)
    with pytest.raises(IntegrityError, match="3 integrity problem"):
        require_intact(folder)

    for path in (truncated, flipped):
        with pytest.raises(IntegrityError, match=path.name) as info:
            load_safetensors_checked(path)
        assert "sha256 mismatch" in str(info.value)
    with pytest.raises(IntegrityError, match=f"{deleted.name}: missing"):
        load_safetensors_checked(deleted)
    loaded = load_safetensors_checked(intact)
    expected = _tensors(3)
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)


def test_header_checks_catch_damage_without_a_manifest(tmp_path):
    folder = _snapshot_folder(tmp_path, n=1)
    path = next(folder.glob("*.safetensors"))
    header = safetensors_header(path)
    assert header["__metadata__"] == {"step": "0"}
    assert header["embed.weight"]["shape"] == [16, 8] and header["embed.weight"]["dtype"] == "F32"
    original = path.read_bytes()

    cases = {
        "truncated by one byte": original[:-1],
        "cut inside the header": original[:20],
        "shorter than the length field": original[:5],
        "empty": b"",
        "trailing bytes": original + b"\x00" * 4,
        "header length field huge": (2**40).to_bytes(8, "little") + original[8:],
        "header not JSON": original[:8] + b"\xff" * 4 + original[12:],
        "header JSON but a list": len(b"[1, 2]").to_bytes(8, "little") + b"[1, 2]",
    }
    for what, data in cases.items():
        path.write_bytes(data)
        with pytest.raises(IntegrityError, match=path.name):
            load_safetensors_checked(path)
        assert issubclass(IntegrityError, ValueError), what


def test_inconsistent_tensor_entry_is_corruption(tmp_path):
    """A header whose byte range disagrees with shape x dtype: the checker names the tensor."""
    import json
    import struct

    header = {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}}  # 4 floats need 16 bytes
    raw = json.dumps(header).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\x00" * 12)
    with pytest.raises(IntegrityError, match=r"bad\.safetensors.*'w'"):
        load_safetensors_checked(path)


def test_manifest_merges_and_updates_entries(tmp_path):
    folder = _snapshot_folder(tmp_path, n=3)
    a, b, c = sorted(folder.glob("*.safetensors"))
    write_manifest(folder, [a.name])
    write_manifest(folder, [b])  # absolute path inside the folder
    assert sorted(read_manifest(folder)) == [a.name, b.name]
    assert verify(folder, strict=True) == [f"{c}: not listed in {MANIFEST}"]
    save_file(_tensors(99), str(a))  # a recorder overwrote a snapshot: re-recording updates the entry
    assert len(verify(folder)) == 1
    write_manifest(folder, a.name)  # a bare name is one file, not its characters
    assert verify(folder) == []


def test_bad_manifest_and_bad_arguments(tmp_path):
    folder = _snapshot_folder(tmp_path, n=1)
    assert verify(folder) == [f"{folder / MANIFEST}: manifest missing (nothing to verify against)"]
    with pytest.raises(IntegrityError, match="manifest missing"):
        read_manifest(folder)
    (folder / MANIFEST).write_text("not a checksum line\n" + "0" * 64 + "  ../outside.bin\n")
    problems = verify(folder)
    assert len(problems) == 2 and "line 1" in problems[0] and "outside" in problems[1]
    with pytest.raises(ValueError, match="not inside"):
        write_manifest(folder, [tmp_path / "elsewhere.bin"])
    with pytest.raises(ValueError, match="does not exist"):
        write_manifest(folder, ["nope.safetensors"])
    with pytest.raises(ValueError, match="plain file path"):
        write_manifest(folder, ["../x"])
    with pytest.raises(ValueError, match="not a folder"):
        write_manifest(tmp_path / "nope")
    write_manifest(folder)  # malformed lines of the old manifest are dropped, not kept
    assert verify(folder) == []


@settings(max_examples=25, deadline=None, database=None, derandomize=True)
@given(keep_fraction=st.floats(0.0, 0.999), flip_at=st.floats(0.0, 0.999))
def test_any_truncation_or_flip_is_detected(keep_fraction, flip_at):
    """Any truncation is caught even without a manifest; any flipped byte with one."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = _snapshot_folder(Path(tmp), n=2)
        write_manifest(folder)
        cut, flip = sorted(folder.glob("*.safetensors"))
        size = cut.stat().st_size
        _truncate(cut, int(keep_fraction * size))
        _flip_byte(flip, int(flip_at * flip.stat().st_size))
        with pytest.raises(IntegrityError, match=flip.name):
            load_safetensors_checked(flip)
        (folder / MANIFEST).unlink()  # the header check alone must still catch the truncation
        with pytest.raises(IntegrityError, match=cut.name):
            load_safetensors_checked(cut)
