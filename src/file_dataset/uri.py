"""One parsed, frozen location type for everything a URI can name.

Supported forms:

* ``s3://bucket/key`` -> `S3Location`
* a local path (``str`` or `pathlib.Path`) or ``file:///abs/path`` -> `LocalLocation`
* ``tar://<member>::<shard URI>`` -> `TarMember`, a member of a tar shard

Anything else that looks like ``scheme:...`` (``http://x/y``, ``s3:/b/k``) is an
`InvalidURIError`, so that a typo never turns into a local path by accident.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeAlias
from urllib.parse import unquote, urlsplit

from file_dataset.errors import InvalidNameError, InvalidURIError

__all__ = [
    "LocalLocation",
    "Location",
    "S3Location",
    "StoreLocation",
    "TarMember",
    "check_id",
    "check_name",
    "check_names",
    "parse_prefix",
    "parse_uri",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_IP_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_MAX_SEGMENT_BYTES = 255


@dataclass(frozen=True, slots=True)
class S3Location:
    """An S3 object (or, for a prefix, a "directory") ``s3://bucket/key``.

    Examples:
        >>> loc = parse_uri("s3://my-bucket/images/a.mha")
        >>> loc.bucket, loc.key
        ('my-bucket', 'images/a.mha')
        >>> str(loc.child("x", "y.txt"))
        's3://my-bucket/images/a.mha/x/y.txt'
    """

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def child(self, *parts: str) -> S3Location:
        """The location ``self/part/part...`` (a prefix is treated as a directory)."""
        base = self.key.rstrip("/")
        key = "/".join([base, *parts]) if base else "/".join(parts)
        return S3Location(self.bucket, key)

    def output(self) -> str:
        """The form in which results are returned to the user (a ``str``)."""
        return str(self)


@dataclass(frozen=True, slots=True)
class LocalLocation:
    """A file or directory on the local file system.

    Examples:
        >>> parse_uri("file:///tmp/a%20b.txt").path
        PosixPath('/tmp/a b.txt')
    """

    path: Path

    def __str__(self) -> str:
        return str(self.path)

    def child(self, *parts: str) -> LocalLocation:
        """The location ``self/part/part...``."""
        return LocalLocation(self.path.joinpath(*parts))

    def output(self) -> Path:
        """The form in which results are returned to the user (a `pathlib.Path`)."""
        return self.path


StoreLocation: TypeAlias = S3Location | LocalLocation
"""A whole object or file: what a store serves."""


@dataclass(frozen=True, slots=True)
class TarMember:
    """One member of a tar shard: ``tar://<member>::<shard URI>``.

    The form is fsspec's chained URL, so ``fsspec.open(str(member))`` reads it
    too. It is a plain string: it round-trips through CSV and Parquet.

    Examples:
        >>> m = parse_uri("tar://r1/image.mha::s3://bucket/packed/shard-000000.tar")
        >>> m.member, str(m.shard)
        ('r1/image.mha', 's3://bucket/packed/shard-000000.tar')
    """

    shard: StoreLocation
    member: str

    def __str__(self) -> str:
        return f"tar://{self.member}::{self.shard}"

    def output(self) -> str:
        """The form in which results are returned to the user (a ``str``)."""
        return str(self)


Location: TypeAlias = S3Location | LocalLocation | TarMember


def _check_bucket(bucket: str, raw: str) -> None:
    if not _BUCKET.match(bucket) or ".." in bucket or _IP_LIKE.match(bucket):
        raise InvalidURIError(
            f"invalid bucket name {bucket!r} in {raw!r}: 3-63 characters of lowercase "
            "letters, digits, '.' and '-', starting and ending with a letter or digit"
        )


def _parse_s3(raw: str, *, prefix: bool) -> S3Location:
    if not raw.startswith("s3://"):
        raise InvalidURIError(f"malformed S3 URI {raw!r}: expected s3://bucket/key")
    rest = raw[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise InvalidURIError(f"malformed S3 URI {raw!r}: missing bucket name")
    _check_bucket(bucket, raw)
    if not key and not prefix:
        raise InvalidURIError(f"malformed S3 URI {raw!r}: missing object key after the bucket")
    if "\x00" in key:
        raise InvalidURIError(f"malformed S3 URI {raw!r}: key contains a NUL byte")
    if len(key.encode()) > 1024:
        raise InvalidURIError(f"S3 key longer than 1024 bytes in {raw[:80]!r}...")
    return S3Location(bucket, key)


def _parse_file(raw: str) -> LocalLocation:
    parts = urlsplit(raw)
    if parts.netloc not in ("", "localhost"):
        raise InvalidURIError(
            f"file URI {raw!r} names a remote host; only local files are supported"
        )
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise InvalidURIError(f"file URI {raw!r} must hold an absolute path (file:///abs/path)")
    return LocalLocation(Path(path))


def _parse_tar(raw: str) -> TarMember:
    member, sep, shard = raw[len("tar://") :].partition("::")
    if not sep or not shard:
        raise InvalidURIError(f"malformed member URI {raw!r}: expected tar://<member>::<shard URI>")
    try:
        check_name(member)
    except InvalidNameError as err:
        raise InvalidURIError(f"malformed member URI {raw!r}: {err}") from None
    location = _parse(shard, prefix=False)
    if isinstance(location, TarMember):
        raise InvalidURIError(f"malformed member URI {raw!r}: shards do not nest")
    return TarMember(location, member)


def _parse(value: str | os.PathLike[str] | Location, *, prefix: bool) -> Location:
    if isinstance(value, S3Location | LocalLocation | TarMember):
        return value
    if isinstance(value, os.PathLike):
        raw_path = os.fspath(value)
        if not raw_path or "\x00" in raw_path:
            raise InvalidURIError(f"invalid local path {raw_path!r}")
        return LocalLocation(Path(raw_path))
    if not isinstance(value, str):
        raise InvalidURIError(f"expected a URI string or a path, got {type(value).__name__}")
    if not value:
        raise InvalidURIError("empty URI ''")
    if "\x00" in value:
        raise InvalidURIError(f"URI {value!r} contains a NUL byte")
    match = _SCHEME.match(value)
    if match is None:
        return LocalLocation(Path(value))
    scheme = match.group(1).lower()
    if scheme == "s3":
        return _parse_s3(value, prefix=prefix)
    if scheme == "file":
        return _parse_file(value)
    if scheme == "tar" and not prefix:
        return _parse_tar(value)
    raise InvalidURIError(
        f"unsupported URI scheme {scheme!r} in {value!r} "
        "(supported: s3://, file://, tar://<member>::<shard>, local paths)"
    )


def parse_uri(value: str | os.PathLike[str] | Location) -> Location:
    """Parse the URI of one object or file.

    Args:
        value: ``s3://bucket/key``, ``file:///path``, a local path string, or a `Path`.

    Returns:
        An `S3Location` or a `LocalLocation`.

    Raises:
        InvalidURIError: for ``''``, ``s3://b``, ``s3:/b/k``, ``http://x/y``,
            an invalid bucket name, and so on.

    Examples:
        >>> parse_uri("s3://bucket/a/b.txt")
        S3Location(bucket='bucket', key='a/b.txt')
        >>> parse_uri("data/a.txt")
        LocalLocation(path=PosixPath('data/a.txt'))
    """
    return _parse(value, prefix=False)


def parse_prefix(value: str | os.PathLike[str] | Location) -> StoreLocation:
    """Parse a destination "directory": ``s3://bucket/prefix/`` or a local directory.

    The trailing slash is optional and ``s3://bucket`` names the bucket's root.

    Examples:
        >>> parse_prefix("s3://bucket/out/")
        S3Location(bucket='bucket', key='out')
    """
    loc = _parse(value, prefix=True)
    if isinstance(loc, S3Location):
        return S3Location(loc.bucket, loc.key.rstrip("/"))
    if isinstance(loc, TarMember):
        raise InvalidURIError(f"a destination must be a directory or prefix, not {value!s}")
    return loc


def check_name(name: object) -> str:
    """Check that a file name is a safe relative path and return it.

    Names may contain ``/`` (sub-directories). Rejected: empty names, absolute
    paths, ``.``/``..``/empty segments, backslashes, NUL bytes, and segments
    longer than 255 bytes.

    Raises:
        InvalidNameError: naming the offending name.

    Examples:
        >>> check_name("scans/image 1.mha")
        'scans/image 1.mha'
        >>> check_name("file..txt")
        'file..txt'
    """
    if not isinstance(name, str):
        raise InvalidNameError(f"file name must be a str, got {type(name).__name__}: {name!r}")

    def bad(why: str) -> InvalidNameError:
        return InvalidNameError(f"unsafe file name {name!r}: {why}")

    if not name:
        raise bad("empty")
    if "\x00" in name:
        raise bad("contains a NUL byte")
    if "\\" in name:
        raise bad("contains a backslash")
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        raise bad("absolute path")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise bad("empty, '.' or '..' path segment")
        if len(segment.encode()) > _MAX_SEGMENT_BYTES:
            raise bad(f"path segment longer than {_MAX_SEGMENT_BYTES} bytes")
    return name


def check_names(names: list[str]) -> None:
    """Check every name, and that no name is also a directory of another (``a`` and ``a/b``).

    Examples:
        >>> check_names(["a", "a/b"])
        Traceback (most recent call last):
        ...
        file_dataset.errors.InvalidNameError: file name 'a' is also a directory in 'a/b'
    """
    for name in names:
        check_name(name)
    files = set(names)
    for name in names:
        parts = name.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in files:
                raise InvalidNameError(f"file name {parent!r} is also a directory in {name!r}")


def check_id(value: object) -> str:
    r"""Check a row or upload id and return it as a string.

    An id becomes one path segment, so it must be non-empty and may not contain
    ``/``, ``\``, NUL, ``?`` or ``#``, nor be ``.`` or ``..``.

    Examples:
        >>> check_id(7)
        '7'
        >>> check_id("a/b")
        Traceback (most recent call last):
        ...
        file_dataset.errors.InvalidNameError: invalid id 'a/b': ...
    """
    if value is None or (isinstance(value, float) and value != value):
        raise InvalidNameError("invalid id: null")
    text = str(value)
    forbidden = [c for c in ("/", "\\", "\x00", "?", "#") if c in text]
    if not text or text in (".", "..") or forbidden:
        raise InvalidNameError(
            f"invalid id {text!r}: ids must be non-empty, not '.' or '..', "
            "and contain none of / \\ ? # or NUL"
        )
    if len(text.encode()) > _MAX_SEGMENT_BYTES:
        raise InvalidNameError(
            f"invalid id {text[:40]!r}...: longer than {_MAX_SEGMENT_BYTES} bytes"
        )
    return text
