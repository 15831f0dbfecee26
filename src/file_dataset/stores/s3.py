"""S3 (and S3-compatible servers) as a store.

Small objects take exactly one request (one GET or one PUT, no HEAD, no
s3transfer machinery). Large objects are fetched as parallel ranged GETs pinned
to the first response's ETag (``If-Match``), written in place with ``pwrite``,
and uploaded as a multipart upload of few, large parts that is aborted if
anything fails. Memory never grows with the object's size.

botocore retries the requests themselves (connection errors, 5xx, throttling);
this module also retries a body that is cut or corrupted mid-stream, which
botocore cannot see.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import urllib3.exceptions
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from file_dataset.errors import (
    AccessDeniedError,
    FileDatasetError,
    IntegrityError,
    ObjectExistsError,
    ObjectNotFoundError,
    TransferError,
)
from file_dataset.uri import S3Location

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, GetObjectOutputTypeDef

__all__ = ["MD5_ETAG", "S3Store", "S3Tuning", "expected_etags", "retrying", "translate_error"]

log = logging.getLogger(__name__)
T = TypeVar("T")

MiB = 1024 * 1024
MD5_ETAG = re.compile(r'^"?([0-9a-f]{32})"?$')
_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NotFound", "404"}
_DENIED = {
    "AccessDenied",
    "AllAccessDisabled",
    "ExpiredToken",
    "Forbidden",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "TokenRefreshRequired",
    "403",
}
# Failures that happen while reading a body botocore already handed over.
_BODY_ERRORS: tuple[type[BaseException], ...] = (
    IncompleteReadError,
    ResponseStreamingError,
    ReadTimeoutError,
    ConnectionClosedError,
    urllib3.exceptions.HTTPError,
    ConnectionError,
    IntegrityError,
)


@dataclass(frozen=True)
class S3Tuning:
    """Sizes that shape requests; the defaults suit both loopback and real S3.

    Examples:
        >>> S3Tuning().multipart_threshold // MiB
        16
    """

    multipart_threshold: int = 16 * MiB
    part_size: int = 8 * MiB
    chunk_size: int = 1 * MiB
    max_parts: int = 10_000

    def parts(self, size: int) -> list[tuple[int, int]]:
        """Split ``size`` bytes into (offset, length) parts of at least `part_size`."""
        part = max(self.part_size, -(-size // self.max_parts))
        return [(off, min(part, size - off)) for off in range(0, size, part)]


def translate_error(err: Exception, loc: S3Location, op: str) -> FileDatasetError:
    """Turn a botocore exception into the matching `FileDatasetError`.

    The message names the URI (or the bucket, for access errors) and never any
    credential; callers keep ``err`` as ``__cause__``.

    Examples:
        >>> from botocore.exceptions import ClientError
        >>> e = ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
        >>> translate_error(e, S3Location("b", "k"), "GET")
        ObjectNotFoundError('no such object: s3://b/k')
    """
    if isinstance(err, FileDatasetError):
        return err
    if isinstance(err, NoCredentialsError | PartialCredentialsError):
        return AccessDeniedError(
            f"no usable AWS credentials for bucket {loc.bucket!r}: pass credentials= or "
            "configure boto3's default chain"
        )
    if isinstance(err, ClientError):
        code = str(err.response.get("Error", {}).get("Code", ""))
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _NOT_FOUND or status == 404:
            what = "bucket" if code == "NoSuchBucket" else "object"
            return ObjectNotFoundError(f"no such {what}: {loc}")
        if code in _DENIED or status == 403:
            return AccessDeniedError(
                f"access denied to bucket {loc.bucket!r} ({code or status}) during {op} {loc}"
            )
        precondition = code in ("PreconditionFailed", "ConditionalRequestConflict")
        if op == "PUT" and (precondition or status in (409, 412)):
            return ObjectExistsError(f"{loc} already exists (pass overwrite=True to replace it)")
        if precondition or status == 412:
            return IntegrityError(f"{loc} changed while it was being downloaded ({op})")
        return TransferError(f"{op} {loc} failed: {code or 'error'} (HTTP {status})")
    if isinstance(err, BotoCoreError):
        return TransferError(f"{op} {loc} failed: {type(err).__name__}")
    return TransferError(f"{op} {loc} failed: {type(err).__name__}: {err}")


def retrying(attempts: int, loc: S3Location, op: str, attempt: Callable[[int], T]) -> T:
    """Run ``attempt(n)``; after a body error, again, with capped exponential backoff and jitter.

    Examples:
        >>> retrying(3, S3Location("bkt", "k"), "GET", lambda n: n)
        0
    """
    for n in range(max(1, attempts)):
        try:
            return attempt(n)
        except _BODY_ERRORS as err:
            if n + 1 >= attempts:
                if isinstance(err, IntegrityError):
                    raise
                raise TransferError(
                    f"{op} {loc} failed after {attempts} attempts: {type(err).__name__}"
                ) from err
            delay = random.uniform(0, min(5.0, 0.05 * 2**n))  # noqa: S311 - jitter
            log.debug("%s %s: %s, retrying in %.2fs", op, loc, type(err).__name__, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _expected_md5(resp: Mapping[str, Any]) -> str | None:
    """The MD5 the ETag promises, when it is one (not multipart, not SSE-KMS/SSE-C)."""
    if resp.get("ServerSideEncryption") == "aws:kms" or resp.get("SSECustomerAlgorithm"):
        return None
    match = MD5_ETAG.match(resp.get("ETag", ""))
    return match.group(1) if match else None


def expected_etags(src: Path, tuning: S3Tuning) -> set[str]:
    """The ETags ``src`` gets from a single PUT and from a multipart upload with ``tuning``.

    Examples:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "x"
        >>> _ = p.write_bytes(b"")
        >>> sorted(expected_etags(p, S3Tuning()))
        ['d41d8cd98f00b204e9800998ecf8427e']
    """
    whole = hashlib.md5()  # noqa: S324 - ETag
    parts = []
    size = src.stat().st_size
    with src.open("rb") as f:
        for _, length in tuning.parts(size):
            chunk = f.read(length)
            whole.update(chunk)
            parts.append(hashlib.md5(chunk).digest())  # noqa: S324 - ETag
    tags = {whole.hexdigest()}
    if size > tuning.multipart_threshold:
        tags.add(f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}")  # noqa: S324
    return tags


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """``pwrite`` all of ``data``, continuing after a short write.

    At a file-size limit the first write comes back short; the next one raises
    the error (EFBIG, ENOSPC) instead of bytes being silently lost.
    """
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 - Content-MD5


class S3Store:
    """Objects in S3, through one shared, thread-safe boto3 client.

    Args:
        client: the S3 client (one per FileDataset per process).
        part_pool: executor for the parts of large objects; never the executor
            that runs whole-file transfers, so a part never waits on a file.
        attempts: how many times a body cut mid-stream is fetched again.
        tuning: request sizes.
    """

    def __init__(
        self,
        client: S3Client,
        part_pool: Executor,
        *,
        attempts: int = 5,
        tuning: S3Tuning | None = None,
    ) -> None:
        self.client = client
        self._parts = part_pool
        self._attempts = max(1, attempts)
        self._tuning = tuning or S3Tuning()

    # -- requests ---------------------------------------------------------

    def _call(self, loc: S3Location, op: str, fn: Callable[..., T], **kwargs: Any) -> T:
        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as err:
            raise translate_error(err, loc, op) from err

    def _retrying(self, loc: S3Location, op: str, attempt: Callable[[int], T]) -> T:
        return retrying(self._attempts, loc, op, attempt)

    # -- get --------------------------------------------------------------

    def _write_body(
        self, body: Any, fd: int, offset: int, length: int, loc: S3Location, md5: str | None
    ) -> None:
        """Stream ``length`` bytes of ``body`` to ``fd`` at ``offset``; check size and MD5."""
        digest = hashlib.md5() if md5 else None  # noqa: S324 - ETag check
        done = 0
        try:
            while done < length:
                chunk = body.read(min(self._tuning.chunk_size, length - done))
                if not chunk:
                    break
                if digest is not None:
                    digest.update(chunk)
                _pwrite_all(fd, chunk, offset + done)
                done += len(chunk)
        finally:
            body.close()
        if done != length:
            raise IntegrityError(f"GET {loc}: got {done} bytes, expected {length}")
        if digest is not None and digest.hexdigest() != md5:
            raise IntegrityError(f"GET {loc}: MD5 of the body does not match its ETag")

    def _get_range(
        self, loc: S3Location, fd: int, offset: int, length: int, etag: str, first: Any = None
    ) -> None:
        def attempt(n: int) -> None:
            body = first if n == 0 and first is not None else None
            if body is None:
                resp = self._call(
                    loc,
                    "GET",
                    self.client.get_object,
                    Bucket=loc.bucket,
                    Key=loc.key,
                    Range=f"bytes={offset}-{offset + length - 1}",
                    IfMatch=etag,
                )
                if resp.get("ContentLength") != length:
                    resp["Body"].close()
                    raise IntegrityError(f"GET {loc}: ranged response of the wrong length")
                body = resp["Body"]
            self._write_body(body, fd, offset, length, loc, None)

        self._retrying(loc, "GET", attempt)

    def get(self, loc: S3Location, dest: Path) -> None:
        """Download ``loc`` into the file ``dest`` (created or truncated)."""
        resp = self._retrying(loc, "GET", lambda _: self._first_get(loc))
        size, etag = resp["ContentLength"], resp.get("ETag", "")
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if size <= self._tuning.multipart_threshold:
                self._get_whole(loc, fd, resp)
            else:
                self._get_parts(loc, fd, size, etag, resp["Body"])
        finally:
            os.close(fd)

    def _first_get(self, loc: S3Location) -> GetObjectOutputTypeDef:
        resp = self._call(loc, "GET", self.client.get_object, Bucket=loc.bucket, Key=loc.key)
        if "ContentLength" not in resp:  # a reply cut inside its headers parses as a short one
            resp["Body"].close()
            raise IntegrityError(f"GET {loc}: reply without Content-Length")
        return resp

    def _get_whole(self, loc: S3Location, fd: int, first: GetObjectOutputTypeDef) -> None:
        def attempt(n: int) -> None:
            resp = first
            if n > 0:
                extra = {"IfMatch": first["ETag"]} if first.get("ETag") else {}
                resp = self._call(
                    loc, "GET", self.client.get_object, Bucket=loc.bucket, Key=loc.key, **extra
                )
                os.ftruncate(fd, 0)
                if "ContentLength" not in resp:
                    resp["Body"].close()
                    raise IntegrityError(f"GET {loc}: reply without Content-Length")
            self._write_body(resp["Body"], fd, 0, resp["ContentLength"], loc, _expected_md5(resp))

        self._retrying(loc, "GET", attempt)

    def _get_parts(self, loc: S3Location, fd: int, size: int, etag: str, first: Any) -> None:
        os.ftruncate(fd, size)
        parts = self._tuning.parts(size)
        (off0, len0), rest = parts[0], parts[1:]
        futures = [
            self._parts.submit(self._get_range, loc, fd, off, length, etag) for off, length in rest
        ]
        self._run_parts(futures, lambda: self._get_range(loc, fd, off0, len0, etag, first))

    @staticmethod
    def _run_parts(futures: list[Future[Any]], inline: Callable[[], object]) -> list[Any]:
        """Run ``inline`` here while ``futures`` run; on any failure cancel the rest."""
        try:
            inline()
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            wait(futures)
            raise

    # -- put --------------------------------------------------------------

    def put(self, src: Path, loc: S3Location, *, overwrite: bool = False) -> None:
        """Upload ``src`` to ``loc``: one PUT with Content-MD5, or a multipart upload.

        Without ``overwrite`` the write is conditional (``If-None-Match: *``); if
        the object exists, it counts as ours only when its size and ETag match
        ``src`` (a retried PUT whose first reply was lost), else `ObjectExistsError`.
        """
        size = src.stat().st_size
        condition: dict[str, Any] = {} if overwrite else {"IfNoneMatch": "*"}
        try:
            if size <= self._tuning.multipart_threshold:
                data = src.read_bytes()
                self._call(
                    loc,
                    "PUT",
                    self.client.put_object,
                    Bucket=loc.bucket,
                    Key=loc.key,
                    Body=data,
                    ContentMD5=_b64md5(data),
                    **condition,
                )
            else:
                self._put_multipart(src, loc, size, condition)
        except (ObjectExistsError, ObjectNotFoundError):
            # 412: it exists. 404 NoSuchUpload: a retried complete whose first reply was lost.
            if overwrite or not self._is_same(loc, src):
                raise
            log.debug("PUT %s: the object is already ours (a retried request landed)", loc)

    def _is_same(self, loc: S3Location, src: Path) -> bool:
        """Whether the object at ``loc`` has ``src``'s size and ETag."""
        for _ in range(self._attempts):
            try:
                head = self.client.head_object(Bucket=loc.bucket, Key=loc.key)
            except (ClientError, BotoCoreError):
                return False
            size, etag = head.get("ContentLength"), head.get("ETag")
            if size is None or etag is None:
                continue  # a reply cut inside its headers parses as a short one: ask again
            if size != src.stat().st_size:
                return False
            return etag.strip('"') in expected_etags(src, self._tuning)
        return False

    def _put_multipart(
        self, src: Path, loc: S3Location, size: int, condition: dict[str, Any]
    ) -> None:
        upload = self._call(
            loc, "PUT", self.client.create_multipart_upload, Bucket=loc.bucket, Key=loc.key
        )
        upload_id = upload["UploadId"]
        fd = os.open(src, os.O_RDONLY)
        try:

            def send(number: int, offset: int, length: int) -> CompletedPartTypeDef:
                data = os.pread(fd, length, offset)
                resp = self._call(
                    loc,
                    "PUT",
                    self.client.upload_part,
                    Bucket=loc.bucket,
                    Key=loc.key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                    ContentMD5=_b64md5(data),
                )
                return {"PartNumber": number, "ETag": resp["ETag"]}

            parts = self._tuning.parts(size)
            futures = [
                self._parts.submit(send, i + 1, off, length)
                for i, (off, length) in enumerate(parts)
            ]
            done = self._run_parts(futures, lambda: None)
            self._call(
                loc,
                "PUT",
                self.client.complete_multipart_upload,
                Bucket=loc.bucket,
                Key=loc.key,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
                **condition,
            )
        except BaseException:
            self._abort(loc, upload_id)
            raise
        finally:
            os.close(fd)

    def list_keys(self, prefix: S3Location) -> list[str]:
        """Keys under the prefix ``prefix/``, relative to it (one LIST per 1,000 keys)."""
        base = f"{prefix.key.rstrip('/')}/" if prefix.key else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=prefix.bucket, Prefix=base
        )
        try:
            return [obj["Key"][len(base) :] for page in pages for obj in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as err:
            raise translate_error(err, prefix, "LIST") from err

    def _abort(self, loc: S3Location, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=loc.bucket, Key=loc.key, UploadId=upload_id)
        except (ClientError, BotoCoreError):
            log.warning("could not abort multipart upload of %s; a lifecycle rule will", loc)

    # -- ranges -----------------------------------------------------------

    def read_range(self, loc: S3Location, start: int, length: int) -> bytes:
        """Bytes ``[start, start + length)`` of the object, in one ranged GET (retried)."""
        data = self._read(loc, Range=f"bytes={start}-{start + length - 1}")
        if len(data) != length:  # the object is shorter: not worth retrying
            raise IntegrityError(f"GET {loc}: wanted {length} bytes at {start}, got {len(data)}")
        return data

    def read_all(self, loc: S3Location) -> bytes:
        """The whole object in one GET (retried)."""
        return self._read(loc)

    def _read(self, loc: S3Location, **extra: Any) -> bytes:
        def attempt(_: int) -> bytes:
            resp = self._call(
                loc, "GET", self.client.get_object, Bucket=loc.bucket, Key=loc.key, **extra
            )
            body = resp["Body"]
            try:
                data = body.read()
            finally:
                body.close()
            if len(data) != resp.get("ContentLength"):
                raise IntegrityError(f"GET {loc}: body shorter than its Content-Length")
            return bytes(data)

        return self._retrying(loc, "GET", attempt)

    # -- head -------------------------------------------------------------

    def etag_is_md5(self, loc: S3Location) -> bool:
        """Whether ``loc``'s ETag should be the MD5 of its bytes.

        False only when the server says the object is SSE-KMS or SSE-C encrypted;
        anything else (a multipart ETag is recognised by its form elsewhere)
        keeps the check, so a failed or odd HEAD never waives it.
        """
        resp = self._call(loc, "HEAD", self.client.head_object, Bucket=loc.bucket, Key=loc.key)
        log.debug("HEAD %s for its encryption: ETag %s", loc, resp.get("ETag"))
        return not (
            resp.get("ServerSideEncryption") == "aws:kms" or resp.get("SSECustomerAlgorithm")
        )

    def exists(self, loc: S3Location) -> bool:
        """Whether the object exists (one HEAD request)."""
        try:
            self.client.head_object(Bucket=loc.bucket, Key=loc.key)
        except ClientError as err:
            translated = translate_error(err, loc, "HEAD")
            if isinstance(translated, ObjectNotFoundError):
                return False
            raise translated from err
        except BotoCoreError as err:
            raise translate_error(err, loc, "HEAD") from err
        return True
