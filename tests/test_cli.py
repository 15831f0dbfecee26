"""The file-dataset command line: exit codes, outputs and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import BUCKET
from file_dataset.cli import main

STEP = """
from pathlib import Path

def upper(input_dir: Path, output_dir: Path) -> dict:
    text = (input_dir / "in.txt").read_text()
    if text == "fail":
        raise ValueError("cannot")
    (output_dir / "out.txt").write_text(text.upper())
    return {"out.txt": output_dir / "out.txt"}
"""


@pytest.fixture
def table(
    s3_client: object, moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clisteps.py").write_text(STEP)
    for i in range(4):
        s3_client.put_object(Bucket=BUCKET, Key=f"in/{i}.txt", Body=f"row {i}".encode())  # type: ignore[attr-defined]
    df = pd.DataFrame({"in.txt": [f"s3://{BUCKET}/in/{i}.txt" for i in range(4)], "id": range(4)})
    df.to_csv(tmp_path / "t.csv", index=False)
    return tmp_path / "t.csv"


def test_map_reads_csv_and_writes_parquet(
    table: Path, s3_client: object, capsys: pytest.CaptureFixture[str]
) -> None:
    out = table.parent / "out.parquet"
    code = main(["map", str(table), "--fn", "clisteps:upper", "--into", f"s3://{BUCKET}/o/",
                 "--output", str(out)])  # fmt: skip
    assert code == 0
    result = pd.read_parquet(out)
    assert result["out.txt"].tolist() == [f"s3://{BUCKET}/o/{i}/out.txt" for i in range(4)]
    body = s3_client.get_object(Bucket=BUCKET, Key="o/2/out.txt")["Body"].read()  # type: ignore[attr-defined]
    assert body == b"ROW 2"
    assert "map" in capsys.readouterr().err  # the progress bar


def test_map_to_stdout_and_failures_exit_1(
    table: Path, s3_client: object, capsys: pytest.CaptureFixture[str]
) -> None:
    s3_client.put_object(Bucket=BUCKET, Key="in/2.txt", Body=b"fail")  # type: ignore[attr-defined]
    code = main(["map", str(table), "--fn", "clisteps:upper", "--into", f"s3://{BUCKET}/r/",
                 "--on-error", "record", "--no-progress"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert "id,out.txt,error" in captured.out
    assert "error: 1 of 4 rows failed" in captured.err
    code = main(["map", str(table), "--fn", "clisteps:upper", "--into", f"s3://{BUCKET}/s/",
                 "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: row 2 (id '2') failed in fn: ValueError: cannot")


def test_validate_exit_codes(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(table), "--exists"]) == 0
    assert "ok: 4 rows; file columns ['in.txt']" in capsys.readouterr().out
    bad = table.parent / "bad.csv"
    pd.DataFrame({"in.txt": [f"s3://{BUCKET}/in/0.txt", f"s3://{BUCKET}/nope"]}).to_csv(bad)
    assert main(["validate", str(bad), "--exists"]) == 1
    assert "row 1, column 'in.txt': object exists" in capsys.readouterr().err


def test_pack_writes_member_uris(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pack", str(table), "--into", f"s3://{BUCKET}/packed/"]) == 0
    out = capsys.readouterr().out
    assert f"tar://0/in.txt::s3://{BUCKET}/packed/shard-000000.tar" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["validate", "missing.csv"], "error: no such table: missing.csv"),
        (["validate", "broken.parquet"], "error: cannot read table broken.parquet"),
        (["validate", "t.txt"], "error: unknown table format '.txt'"),
        (["map", "t.csv", "--fn", "nocolon", "--into", "s3://test-bucket/x"],
         "error: --fn must look like module:function"),
        (["map", "t.csv", "--fn", "nosuchmodule:f", "--into", "s3://test-bucket/x"],
         "error: --fn: cannot import module 'nosuchmodule'"),
        (["map", "t.csv", "--fn", "clisteps:nothere", "--into", "s3://test-bucket/x"],
         "error: --fn: 'clisteps' has no function 'nothere'"),
        (["map", "t.csv", "--fn", "clisteps:upper", "--into", "s3://Bad_Bucket/x"],
         "error: invalid bucket name 'Bad_Bucket'"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line_and_exit_2(
    table: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (table.parent / "broken.parquet").write_bytes(b"not parquet")
    (table.parent / "t.txt").write_text("x")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_help_shows_examples() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "file_dataset", "map", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert "--fn" in proc.stdout
    assert "examples:" in proc.stdout
