from pathlib import Path

import pytest

from file_dataset import InvalidNameError, InvalidURIError
from file_dataset.uri import (
    LocalLocation,
    S3Location,
    check_id,
    check_name,
    check_names,
    parse_prefix,
    parse_uri,
)


def test_s3_uri_parses_bucket_and_key() -> None:
    assert parse_uri("s3://my-bucket/a/b c.mha") == S3Location("my-bucket", "a/b c.mha")


def test_local_forms_parse_to_paths() -> None:
    assert parse_uri("data/x.txt") == LocalLocation(Path("data/x.txt"))
    assert parse_uri(Path("/tmp/x")) == LocalLocation(Path("/tmp/x"))
    assert parse_uri("file:///tmp/a%20b.txt") == LocalLocation(Path("/tmp/a b.txt"))
    assert parse_uri("file://localhost/tmp/a") == LocalLocation(Path("/tmp/a"))


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "s3://",
        "s3:///k",
        "s3://b",
        "s3://bucket",
        "s3://bucket/",
        "s3:/b/k",
        "http://x/y",
        "https://bucket.s3.amazonaws.com/k",
        "s3://Bad_Bucket/k",
        "s3://ab/k",
        "s3://-bucket/k",
        "s3://192.168.1.1/k",
        "file://otherhost/x",
        "file:relative",
        "a\x00b",
    ],
)
def test_invalid_uris_raise_value_error_subclass(bad: str) -> None:
    with pytest.raises(InvalidURIError) as info:
        parse_uri(bad)
    assert isinstance(info.value, ValueError)


def test_prefix_allows_bucket_root_and_strips_trailing_slash() -> None:
    assert parse_prefix("s3://bucket") == S3Location("bucket", "")
    assert parse_prefix("s3://bucket/out/") == S3Location("bucket", "out")
    assert str(parse_prefix("s3://bucket/").child("id", "x.txt")) == "s3://bucket/id/x.txt"


@pytest.mark.parametrize("good", ["a", "file..txt", "sub/dir/x.mha", "image 1.mha", "ü/日本.txt"])
def test_safe_names_pass(good: str) -> None:
    assert check_name(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "/etc/passwd",
        "../evil",
        "a/../../evil",
        "..\\evil",
        "a//b",
        ".",
        "a/./b",
        "a\x00b",
        "x" * 300,
        "a/",
        "C:\\x",
    ],
)
def test_unsafe_names_raise(bad: str) -> None:
    with pytest.raises(InvalidNameError):
        check_name(bad)


def test_file_and_directory_with_same_name_conflict() -> None:
    with pytest.raises(InvalidNameError, match="also a directory"):
        check_names(["a", "a/b"])


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a\\b", "a?b", "a#b", None, float("nan")])
def test_invalid_ids_raise(bad: object) -> None:
    with pytest.raises(InvalidNameError):
        check_id(bad)


def test_ids_are_stringified() -> None:
    assert check_id(3) == "3"
    assert check_id("abc-01") == "abc-01"
