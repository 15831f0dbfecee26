"""The bad-input matrix: each case is a clear, typed error; nothing is written outside the
target and nothing is lost. Also: secrets never leak, temp dirs never linger."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from botocore.credentials import ReadOnlyCredentials
from moto.core.authorization import enable_iam_authentication

import file_dataset
from conftest import BUCKET, Remote
from file_dataset import (
    FileDataset,
    InvalidNameError,
    InvalidURIError,
    NoFileColumnsError,
    RowError,
)

SENTINEL = "SENTINEL-SECRET-7f3a9c"


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point tempfile at a fresh directory, to see every temp dir made and left behind."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.mark.parametrize(
    "name",
    ["../evil", "a/../../evil", "/etc/passwd", "..\\evil", "a//b", ".", "a\x00b", "x" * 300],
)
def test_unsafe_names_are_rejected_before_any_transfer(
    dataset: FileDataset, remote: Remote, tmp_path: Path, name: str
) -> None:
    uri = remote.put("k", b"data")
    with pytest.raises(InvalidNameError):
        dataset.downloader({name: uri}).into_dir(tmp_path / "d")
    df = pd.DataFrame({name: [uri], "id": [1]})
    with pytest.raises(InvalidNameError):
        df.files.map(lambda i, o: None, remote.root + "/out", columns=[name], dataset=dataset)
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path / "d").exists() or not list((tmp_path / "d").iterdir())


def test_two_columns_with_the_same_file_name(dataset: FileDataset, remote: Remote) -> None:
    uri = remote.put("k", b"x")
    df = pd.DataFrame([[uri, uri, 1]], columns=["a.txt", "a.txt", "id"])
    with pytest.raises(InvalidNameError, match=r"a\.txt"):
        df.files.map(lambda i, o: None, remote.root + "/out", dataset=dataset)


def test_a_file_and_a_directory_of_the_same_name_on_one_row(
    dataset: FileDataset, remote: Remote
) -> None:
    uri = remote.put("k", b"x")
    df = pd.DataFrame({"a": [uri], "a/b": [uri], "id": [1]})
    with pytest.raises(InvalidNameError, match="also a directory"):
        df.files.map(lambda i, o: None, remote.root + "/out", columns=["a", "a/b"], dataset=dataset)


@pytest.mark.parametrize("uri", ["s3:/b/k", "s3://b", "s3://Bad_Bucket/k", "http://x/y", ""])
def test_bad_uris_in_a_frame_name_row_and_column(dataset: FileDataset, uri: str) -> None:
    df = pd.DataFrame({"a.txt": [f"s3://{BUCKET}/ok", uri], "id": [1, 2]})
    with pytest.raises(InvalidURIError, match=r"row 1, column 'a.txt'"):
        df.files.map(lambda i, o: None, f"s3://{BUCKET}/out", columns=["a.txt"], dataset=dataset)


@pytest.mark.parametrize("url", ["http://user:hunter2@127.0.0.1:9", "ftp://127.0.0.1"])
def test_bad_endpoint_urls(url: str) -> None:
    with pytest.raises(InvalidURIError) as info:
        FileDataset(endpoint_url=url)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("bad_id", ["", "a/b", "..", "a?b", "a#b"])
def test_bad_ids_are_rejected_before_any_transfer(
    dataset: FileDataset, remote: Remote, bad_id: str
) -> None:
    df = pd.DataFrame({"a.txt": [remote.put("k", b"x")], "id": [bad_id]})
    if remote.kind == "local":
        df["a.txt"] = df["a.txt"].map(Path)
    with pytest.raises(InvalidNameError, match="row 0"):
        df.files.map(lambda i, o: None, remote.root + "/out", dataset=dataset)
    assert not any("/out/" in k for k in remote.listing())


def test_a_frame_without_file_columns(dataset: FileDataset) -> None:
    with pytest.raises(NoFileColumnsError):
        pd.DataFrame({"x": [1], "id": [1]}).files.map(lambda i, o: None, "out", dataset=dataset)


def test_symlink_output_pointing_outside_is_rejected_never_followed(
    dataset: FileDataset, remote: Remote, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not upload")
    df = pd.DataFrame({"a.txt": [Path(remote.put("k", b"x"))], "id": [1]})
    if remote.kind == "s3":
        df["a.txt"] = [remote.uri("k")]

    def sneaky(input_dir: Path, output_dir: Path) -> None:
        (output_dir / "link.txt").symlink_to(secret)  # fn returns None: everything is uploaded

    with pytest.raises(RowError, match="not a regular file"):
        df.files.map(sneaky, remote.root + "/out", dataset=dataset, progress=False)
    assert not any("link.txt" in k for k in remote.listing())


DISK_FULL = textwrap.dedent(
    """
    import resource, signal, sys, tempfile
    from pathlib import Path
    from botocore.credentials import ReadOnlyCredentials
    import file_dataset

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    tempfile.tempdir = sys.argv[3]
    ds = file_dataset.FileDataset(ReadOnlyCredentials("a", "b", None), endpoint_url=sys.argv[1],
                                  region_name="us-east-1", engine=sys.argv[4])
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
    try:
        with ds.downloader({"big.bin": sys.argv[2]}).into_temp_dir():
            pass
    except file_dataset.FileDatasetError as err:
        print("ERROR", type(err).__name__, err)
        sys.exit(3)
    """
)


def test_disk_full_during_download_is_an_error_and_cleans_up(
    moto_endpoint: str, s3_client: object, tmp_path: Path, engine: str
) -> None:
    s3_client.put_object(Bucket=BUCKET, Key="big.bin", Body=os.urandom(1_000_000))  # type: ignore[attr-defined]
    script = tmp_path / "diskfull.py"
    script.write_text(DISK_FULL)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.run(
        [sys.executable, str(script), moto_endpoint, f"s3://{BUCKET}/big.bin", str(tmp), engine],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "ERROR TransferError" in proc.stdout
    assert list(tmp.iterdir()) == []  # the temp dir and its partial file are gone


def test_keyboard_interrupt_during_map_cleans_up_and_keeps_finished_rows(
    dataset: FileDataset, s3_client: object, private_tmp: Path
) -> None:
    for i in range(10):
        s3_client.put_object(Bucket=BUCKET, Key=f"in/{i}", Body=f"row {i}".encode())  # type: ignore[attr-defined]
    df = pd.DataFrame({"in.txt": [f"s3://{BUCKET}/in/{i}" for i in range(10)], "id": range(10)})

    def interrupted(input_dir: Path, output_dir: Path) -> dict[str, Path]:
        text = (input_dir / "in.txt").read_text()
        if text == "row 5":
            raise KeyboardInterrupt
        (output_dir / "out.txt").write_text(text.upper())
        return {"out.txt": output_dir / "out.txt"}

    with pytest.raises(KeyboardInterrupt):
        df.files.map(interrupted, f"s3://{BUCKET}/ki", dataset=dataset, progress=False)
    assert list(private_tmp.iterdir()) == []
    for i in range(5):  # rows enter fn in order, so rows 0-4 finished
        body = s3_client.get_object(Bucket=BUCKET, Key=f"ki/{i}/out.txt")["Body"].read()  # type: ignore[attr-defined]
        assert body == f"ROW {i}".encode()


def test_temp_dirs_are_private_and_removed_on_success_and_error(
    dataset: FileDataset, remote: Remote, private_tmp: Path
) -> None:
    uri = remote.put("k", b"x")
    with dataset.downloader({"k": uri}).into_temp_dir() as tmp:
        assert tmp.parent == private_tmp
        assert tmp.stat().st_mode & 0o777 == 0o700
    with pytest.raises(RuntimeError), dataset.downloader({"k": uri}).into_temp_dir():
        raise RuntimeError
    df = pd.DataFrame({"k": [Path(uri) if remote.kind == "local" else uri], "id": [1]})

    def fails(input_dir: Path, output_dir: Path) -> None:
        assert input_dir.parent.stat().st_mode & 0o777 == 0o700
        raise ValueError("boom")

    with pytest.raises(RowError):
        df.files.map(fails, remote.root + "/o", dataset=dataset, progress=False)
    assert list(private_tmp.iterdir()) == []


def test_no_secret_in_logs_reprs_errors_or_manifest(
    moto_endpoint: str,
    s3_client: object,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    engine: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    good = FileDataset(
        ReadOnlyCredentials("AKIDSENTINEL00000000", SENTINEL, SENTINEL + "-token"),
        endpoint_url=moto_endpoint,
        engine=engine,  # type: ignore[arg-type]
    )
    s3_client.put_object(Bucket=BUCKET, Key="in/0", Body=b"x")  # type: ignore[attr-defined]
    df = pd.DataFrame({"in.txt": [f"s3://{BUCKET}/in/0", f"s3://{BUCKET}/missing"], "id": [1, 2]})
    texts = [repr(good), str(good), repr(good.engine)]

    def copy(input_dir: Path, output_dir: Path) -> None:
        (output_dir / "o").write_bytes((input_dir / "in.txt").read_bytes())

    result = df.files.map(copy, f"s3://{BUCKET}/sec", on_error="record", dataset=good)
    texts += [result.to_string(), repr(result["error"].tolist())]
    manifest = file_dataset.read_manifest(f"s3://{BUCKET}/sec", dataset=good)
    texts.append(manifest.to_string())
    for key in s3_client.list_objects_v2(Bucket=BUCKET, Prefix="sec/")["Contents"]:  # type: ignore[attr-defined]
        texts.append(
            s3_client.get_object(Bucket=BUCKET, Key=key["Key"])["Body"].read().decode("latin-1")
        )  # type: ignore[attr-defined]
    with enable_iam_authentication():
        for call in (
            lambda: good.downloader({"a": f"s3://{BUCKET}/in/0"}).into_dir(tmp_path / "x"),
            lambda: df.files.map(copy, f"s3://{BUCKET}/sec2", dataset=good, progress=False),
        ):
            with pytest.raises(Exception) as info:  # noqa: PT011 - any error; we read its text
                call()
            texts += [str(info.value), repr(info.value), str(info.value.__cause__)]
    client_side = [r for r in caplog.records if not r.name.startswith(("moto", "werkzeug"))]
    assert any(r.levelname == "DEBUG" and r.name.startswith("botocore") for r in client_side)
    for record in client_side:  # (moto's server runs in this process; it is not our client)
        assert SENTINEL not in record.getMessage(), record.name
    for text in texts:
        assert SENTINEL not in text
