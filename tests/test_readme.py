"""The README's Python examples run, in order, against moto's S3 server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_examples_run(
    moto_endpoint: str,
    s3_client: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s3_client.create_bucket(Bucket="my-bucket")  # type: ignore[attr-defined]
    for i in (1, 2, 3):
        s3_client.put_object(Bucket="my-bucket", Key=f"image{i}.mha", Body=bytes(range(64)) * i)  # type: ignore[attr-defined]
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks()
    assert len(blocks) >= 2
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "s3://my-bucket/thumbs/1/thumb.bin" in out
    assert "['image.mha']" in out
    assert "s3://my-bucket/resampled/" in out
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket="my-bucket")["Contents"]]  # type: ignore[attr-defined]
    assert "resampled/3/output.mha" in keys
    assert any(p.name == "output.mha" for p in (tmp_path / "resampled").rglob("*"))
