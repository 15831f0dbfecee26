"""FileDataset itself: configuration, one client, pickling, secrets, error translation."""

from __future__ import annotations

import pickle
from pathlib import Path

import boto3
import pytest
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import ClientError
from moto.core.authorization import enable_iam_authentication
from obstore.exceptions import BaseError as ObstoreError

from conftest import ACCESS_KEY, BUCKET, SECRET_KEY
from file_dataset import (
    AccessDeniedError,
    FileDataset,
    FileDatasetError,
    InvalidURIError,
    ObjectNotFoundError,
)


def test_repr_and_str_never_show_secrets(moto_endpoint: str) -> None:
    ds = FileDataset(
        credentials=ReadOnlyCredentials(ACCESS_KEY, SECRET_KEY, "session-token-secret"),
        endpoint_url=moto_endpoint,
    )
    for text in (repr(ds), str(ds)):
        assert SECRET_KEY not in text
        assert "session-token-secret" not in text
        assert ACCESS_KEY not in text
        assert "credentials='explicit'" in text


def test_endpoint_url_defaults_to_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1234")
    assert FileDataset().endpoint_url == "http://127.0.0.1:1234"
    assert FileDataset(endpoint_url="http://127.0.0.1:9").endpoint_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    "url", ["http://user:hunter2@127.0.0.1:9000", "ftp://127.0.0.1", "127.0.0.1:9000", "http://"]
)
def test_bad_endpoint_urls_raise_without_echoing_them(url: str) -> None:
    with pytest.raises(InvalidURIError) as info:
        FileDataset(endpoint_url=url)
    assert "hunter2" not in str(info.value)


def test_engine_auto_prefers_obstore_and_shows_in_repr() -> None:
    assert FileDataset().engine_name == "obstore"  # the test extra installs it
    assert "engine='boto3'" in repr(FileDataset(engine="boto3"))
    with pytest.raises(ValueError, match="engine"):
        FileDataset(engine="curl")  # type: ignore[arg-type]


def test_one_client_per_dataset_reused_across_calls(
    dataset: FileDataset, s3_client: object, tmp_path: Path
) -> None:
    s3_client.put_object(Bucket=BUCKET, Key="k", Body=b"v")  # type: ignore[attr-defined]
    client = dataset.client
    for i in range(3):
        dataset.downloader({"k": f"s3://{BUCKET}/k"}).into_dir(tmp_path / str(i))
    assert dataset.client is client
    assert client.meta.config.max_pool_connections >= dataset.max_concurrency


def test_client_is_configured_for_servers_without_flexible_checksums(dataset: FileDataset) -> None:
    config = dataset.client.meta.config
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"


def test_dataset_pickles_and_works_after_unpickling(
    dataset: FileDataset, s3_client: object, tmp_path: Path
) -> None:
    s3_client.put_object(Bucket=BUCKET, Key="k", Body=b"after pickle")  # type: ignore[attr-defined]
    _ = dataset.client  # a live runtime must not break pickling
    clone = pickle.loads(pickle.dumps(dataset))
    assert repr(clone) == repr(dataset)
    got = clone.downloader({"k": f"s3://{BUCKET}/k"}).into_dir(tmp_path)
    assert got["k"].read_bytes() == b"after pickle"
    assert clone.client is dataset.client  # same configuration, same process: one client


def test_dataset_from_session_pickles_with_its_credentials(
    moto_endpoint: str, s3_client: object, tmp_path: Path
) -> None:
    s3_client.put_object(Bucket=BUCKET, Key="k", Body=b"s")  # type: ignore[attr-defined]
    session = boto3.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name="us-east-1"
    )
    ds = FileDataset(session=session, endpoint_url=moto_endpoint)
    clone = pickle.loads(pickle.dumps(ds))
    assert clone.region_name == "us-east-1"
    assert clone.downloader({"k": f"s3://{BUCKET}/k"}).into_dir(tmp_path)["k"].read_bytes() == b"s"


def test_missing_bucket_is_file_not_found(dataset: FileDataset, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no-such-bucket"):
        dataset.downloader({"a": "s3://no-such-bucket/k"}).into_dir(tmp_path)


def test_bad_credentials_are_permission_error_naming_bucket_without_secret(
    moto_endpoint: str, s3_client: object, tmp_path: Path, engine: str
) -> None:
    s3_client.put_object(Bucket=BUCKET, Key="k", Body=b"v")  # type: ignore[attr-defined]
    src = tmp_path / "f"
    src.write_bytes(b"1")
    ds = FileDataset(
        credentials=ReadOnlyCredentials("AKIDUNKNOWN000000000", "wrong-secret-value", None),
        endpoint_url=moto_endpoint,
        engine=engine,  # type: ignore[arg-type]
    )
    with enable_iam_authentication():
        with pytest.raises(AccessDeniedError) as down:
            ds.downloader({"k": f"s3://{BUCKET}/k"}).into_dir(tmp_path / "d")
        with pytest.raises(PermissionError) as up:
            ds.upload_files({"f": src}, f"s3://{BUCKET}/out")
    for info in (down, up):
        message = str(info.value)
        assert BUCKET in message
        assert "wrong-secret-value" not in message
        assert isinstance(info.value, FileDatasetError)
        cause = info.value.__cause__
        assert isinstance(cause, ClientError if engine == "boto3" else ObstoreError)
        assert "wrong-secret-value" not in str(cause)


def test_errors_keep_the_engine_error_as_cause(
    dataset: FileDataset, tmp_path: Path, engine: str
) -> None:
    with pytest.raises(ObjectNotFoundError) as info:
        dataset.downloader({"a": f"s3://{BUCKET}/absent"}).into_dir(tmp_path)
    expected = ClientError if engine == "boto3" else (ObstoreError, FileNotFoundError)
    assert isinstance(info.value.__cause__, expected)
    assert f"s3://{BUCKET}/absent" in str(info.value)
