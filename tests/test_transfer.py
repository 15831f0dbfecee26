"""Conformance: every transfer behaves the same against S3 and a local directory."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from conftest import BUCKET, Remote
from file_dataset import FileDataset, InvalidNameError, InvalidURIError, ObjectNotFoundError

MB = 1024 * 1024


def test_seed_usage_1_download_into_temp_dir(dataset: FileDataset, remote: Remote) -> None:
    uri = remote.put("image.mha", b"pixels")

    def process(input_dir: Path, output_dir: Path) -> dict[str, Path]:
        out = output_dir / "output.mha"
        out.write_bytes((input_dir / "image.mha").read_bytes()[::-1])
        return {"output.mha": out}

    with dataset.downloader({"image.mha": uri}).into_temp_dir() as tmp:
        assert sorted(p.name for p in tmp.iterdir()) == ["image.mha"]
        assert oct(tmp.stat().st_mode & 0o777) == "0o700"
        local_output = process(input_dir=tmp, output_dir=tmp)
        assert local_output["output.mha"].read_bytes() == b"slexip"
    assert not tmp.exists()


def test_seed_usage_2_upload_returns_uris_under_id(
    dataset: FileDataset, remote: Remote, tmp_path: Path
) -> None:
    src = tmp_path / "resampled_image.mha"
    src.write_bytes(b"resampled")
    out = dataset.upload_files({"resampled_image.mha": src}, into_path=remote.root + "/resampled/")
    uri = out["resampled_image.mha"]
    if remote.kind == "s3":
        assert isinstance(uri, str)
        assert uri.startswith(f"s3://{BUCKET}/data/resampled/")
    else:
        assert isinstance(uri, Path)
    row_id = str(uri).split("/")[-2]
    assert len(row_id) == 32
    assert str(uri).endswith(f"/resampled/{row_id}/resampled_image.mha")
    assert remote.read(uri) == b"resampled"


def test_upload_with_explicit_id_and_subdirectories(
    dataset: FileDataset, remote: Remote, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_bytes(b"a")
    (tmp_path / "b.txt").write_bytes(b"b")
    out = dataset.upload_files(
        {"x/a.txt": tmp_path / "a.txt", "y z/ü.txt": str(tmp_path / "b.txt")},
        remote.root,
        id="row-7",
    )
    assert str(out["x/a.txt"]) == f"{remote.root}/row-7/x/a.txt"
    assert remote.read(out["y z/ü.txt"]) == b"b"


def test_download_many_files_concurrently_into_dir(
    dataset: FileDataset, remote: Remote, tmp_path: Path
) -> None:
    payloads = {f"dir {i % 3}/file-{i}.bin": os.urandom(i * 37) for i in range(40)}
    mapping = {
        name: remote.put(f"src/{i}", data) for i, (name, data) in enumerate(payloads.items())
    }
    got = dataset.downloader(mapping).into_dir(tmp_path / "out")
    assert set(got) == set(payloads)
    for name, data in payloads.items():
        assert got[name] == tmp_path / "out" / name
        assert got[name].read_bytes() == data
    leftovers = list((tmp_path / "out").rglob("*.part"))
    assert leftovers == []


def test_names_with_spaces_unicode_and_subdirectories(dataset: FileDataset, remote: Remote) -> None:
    mapping = {
        "with space.txt": remote.put("k1 with space", b"1"),
        "日本/ü.txt": remote.put("ключ/2", b"2"),
        "deep/er/file..txt": remote.put("3", b"3"),
    }
    with dataset.downloader(mapping).into_temp_dir() as tmp:
        assert (tmp / "with space.txt").read_bytes() == b"1"
        assert (tmp / "日本" / "ü.txt").read_bytes() == b"2"
        assert (tmp / "deep/er/file..txt").read_bytes() == b"3"


def test_zero_byte_file_round_trip(dataset: FileDataset, remote: Remote, tmp_path: Path) -> None:
    uri = remote.put("empty", b"")
    got = dataset.downloader({"empty.bin": uri}).into_dir(tmp_path / "d")
    assert got["empty.bin"].read_bytes() == b""
    out = dataset.upload_files({"empty.bin": got["empty.bin"]}, remote.root + "/up", id="e")
    assert remote.read(out["empty.bin"]) == b""


def test_50mb_file_round_trip_is_byte_identical(
    dataset: FileDataset, remote: Remote, tmp_path: Path
) -> None:
    data = os.urandom(50 * MB + 123)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    out = dataset.upload_files({"big.bin": src}, remote.root + "/up", id="big")
    assert hashlib.sha256(remote.read(out["big.bin"])).digest() == hashlib.sha256(data).digest()
    got = dataset.downloader({"big.bin": out["big.bin"]}).into_dir(tmp_path / "down")
    assert hashlib.sha256(got["big.bin"].read_bytes()).digest() == hashlib.sha256(data).digest()


def test_missing_object_raises_file_not_found_naming_uri(
    dataset: FileDataset, remote: Remote, tmp_path: Path
) -> None:
    present = remote.put("present", b"x")
    missing = remote.uri("missing-object")
    with pytest.raises(ObjectNotFoundError, match="missing-object") as info:
        dataset.downloader({"a": present, "b": missing}).into_dir(tmp_path / "out")
    assert isinstance(info.value, FileNotFoundError)
    assert not (tmp_path / "out" / "b").exists()
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.endswith(".part")] == []


def test_temp_dir_removed_when_body_raises(dataset: FileDataset, remote: Remote) -> None:
    uri = remote.put("x", b"x")
    seen: list[Path] = []
    with (
        pytest.raises(RuntimeError, match="boom"),
        dataset.downloader({"x": uri}).into_temp_dir() as tmp,
    ):
        seen.append(tmp)
        raise RuntimeError("boom")
    assert seen
    assert not seen[0].exists()


def test_temp_dir_removed_when_download_fails(dataset: FileDataset, remote: Remote) -> None:
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("file-dataset-*"))
    body_ran = False
    with pytest.raises(ObjectNotFoundError):
        with dataset.downloader({"x": remote.uri("nope")}).into_temp_dir():
            body_ran = True
    assert not body_ran
    after = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("file-dataset-*"))
    assert after <= before


@pytest.mark.parametrize("name", ["/abs", "../up", "a/../../x", "", "a\x00b", "a//b", "."])
def test_bad_names_rejected_before_any_transfer(
    dataset: FileDataset, remote: Remote, tmp_path: Path, name: str
) -> None:
    with pytest.raises(InvalidNameError):
        dataset.downloader({"ok": remote.uri("nope"), name: remote.uri("nope")})
    src = tmp_path / "f"
    src.write_bytes(b"1")
    with pytest.raises(InvalidNameError):
        dataset.upload_files({"ok": src, name: src}, remote.root + "/up")
    assert remote.listing() == []


def test_missing_upload_source_fails_before_any_transfer(
    dataset: FileDataset, remote: Remote, tmp_path: Path
) -> None:
    present = tmp_path / "present"
    present.write_bytes(b"x")
    with pytest.raises(ObjectNotFoundError, match="absent"):
        dataset.upload_files({"p": present, "q": tmp_path / "absent"}, remote.root, id="r")
    assert remote.listing() == []


@pytest.mark.parametrize(
    "bad", ["s3://", "s3:///k", "s3://b", "http://x/y", "s3://Bad_Bucket/k", ""]
)
def test_invalid_uris_rejected_by_downloader(dataset: FileDataset, bad: str) -> None:
    with pytest.raises(InvalidURIError) as info:
        dataset.downloader({"good": "s3://test-bucket/k", "bad": bad})
    assert isinstance(info.value, ValueError)


def test_invalid_into_path_rejected_before_any_transfer(
    dataset: FileDataset, tmp_path: Path, s3_client: object
) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"1")
    with pytest.raises(InvalidURIError):
        dataset.upload_files({"f": src}, "s3://Bad_Bucket/out")
    with pytest.raises(InvalidURIError):
        dataset.upload_files({"f": src}, "http://x/y")
