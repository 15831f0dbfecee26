"""S3 through obstore (Rust's object_store), an optional engine: ``FileDataset(engine="obstore")``.

boto3 spends about a millisecond of CPU per request while holding the GIL, so
thousands of small transfers are CPU-bound in Python. obstore does the HTTP
work in Rust with the GIL released, so the engine's threads really run in
parallel. Install with ``pip install 'file-dataset[fast]'``.

Integrity: every download's size is checked against the object's metadata, and
a single-part object's MD5 against its ETag. obstore does not report
server-side encryption (under SSE-KMS an ETag is not an MD5), so a mismatch is
double-checked with ``etag_is_md5`` (a HEAD through boto3) before it counts.
A retried download is pinned to the first response's ETag (If-Match).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import (
    AlreadyExistsError,
    BaseError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionError,
    UnauthenticatedError,
)

from file_dataset.errors import (
    AccessDeniedError,
    FileDatasetError,
    IntegrityError,
    ObjectExistsError,
    ObjectNotFoundError,
    TransferError,
)
from file_dataset.stores.s3 import MD5_ETAG, S3Tuning, expected_etags, retrying
from file_dataset.uri import S3Location

if TYPE_CHECKING:
    from obstore.store import S3Store as ObS3Store

__all__ = ["ObstoreStore"]


class _NotPartialError(Exception):
    """The server answered a range request with a 200."""


def _translate(err: Exception, loc: S3Location, op: str) -> FileDatasetError:
    if isinstance(err, FileDatasetError):
        return err
    if isinstance(err, NotFoundError | FileNotFoundError):
        return ObjectNotFoundError(f"no such object: {loc}")
    if isinstance(err, AlreadyExistsError) or (op == "PUT" and isinstance(err, PreconditionError)):
        return ObjectExistsError(f"{loc} already exists (pass overwrite=True to replace it)")
    if isinstance(err, PreconditionError):
        return IntegrityError(f"{loc} changed while it was being downloaded ({op})")
    # object_store reports some HTTP statuses (e.g. a LIST's 403) only as text.
    status = next((code for code in ("403", "404") if f"status code: {code}" in str(err)), None)
    if status == "404":
        return ObjectNotFoundError(f"no such object or bucket: {loc}")
    if isinstance(err, PermissionDeniedError | UnauthenticatedError) or status == "403":
        return AccessDeniedError(
            f"access denied to bucket {loc.bucket!r} ({type(err).__name__}) during {op} {loc}"
        )
    return TransferError(f"{op} {loc} failed: {type(err).__name__}")


class ObstoreStore:
    """Objects in S3 through obstore; one obstore S3Store per bucket per process.

    Args:
        make_store: builds the obstore store of a bucket (credentials, endpoint).
        attempts: how many times a download whose body fails is tried.
        tuning: request sizes.
        etag_is_md5: whether an object's ETag is its MD5 (False under SSE-KMS/SSE-C).
        range_fallback: reads a byte range another way, for servers that answer
            range requests with 200 instead of 206.
    """

    def __init__(
        self,
        make_store: Callable[[str], ObS3Store],
        *,
        attempts: int = 5,
        tuning: S3Tuning | None = None,
        etag_is_md5: Callable[[S3Location], bool] = lambda _: True,
        range_fallback: Callable[[S3Location, int, int], bytes] | None = None,
    ) -> None:
        self._make_store = make_store
        self._range_fallback = range_fallback
        self._plain_range_buckets: set[str] = set()
        self._etag_is_md5 = etag_is_md5
        self._stores: dict[str, ObS3Store] = {}
        self._lock = threading.Lock()
        self._attempts = attempts
        self._tuning = tuning or S3Tuning()
        # obstore buffers each in-flight part or chunk: bound large transfers so
        # that memory stays near 2 x 4 parts whatever the number of files in a batch.
        self._large = threading.BoundedSemaphore(2)

    def _store(self, bucket: str) -> ObS3Store:
        store = self._stores.get(bucket)
        if store is None:
            with self._lock:
                store = self._stores.setdefault(bucket, self._make_store(bucket))
        return store

    def _call(self, loc: S3Location, op: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            return fn(self._store(loc.bucket), *args, **kw)
        except (BaseError, OSError) as err:
            raise _translate(err, loc, op) from err

    def get(self, loc: S3Location, dest: Path) -> None:
        """Download ``loc`` into ``dest``, streaming large objects in big chunks."""
        pinned: dict[str, str] = {}

        def attempt(_: int) -> None:
            options: dict[str, Any] = {"if_match": pinned["etag"]} if pinned else {}
            result = self._call(loc, "GET", obstore.get, loc.key, options=options)
            size, etag = int(result.meta["size"]), result.meta.get("e_tag") or ""
            if etag:
                pinned.setdefault("etag", etag)
            digest = hashlib.md5() if size <= self._tuning.multipart_threshold else None  # noqa: S324
            written = 0
            try:
                with dest.open("wb") as out:
                    if digest is not None:
                        view = memoryview(result.bytes())
                        digest.update(view)
                        written = out.write(view)
                    else:
                        with self._large:
                            for chunk in result.stream(min_chunk_size=self._tuning.chunk_size):
                                written += out.write(memoryview(chunk))
            except BaseError as err:
                raise ConnectionError(f"body of {loc} cut: {type(err).__name__}") from err
            if written != size:
                raise IntegrityError(f"GET {loc}: got {written} bytes, expected {size}")
            expected = MD5_ETAG.match(etag)
            if (
                digest is not None
                and expected
                and digest.hexdigest() != expected.group(1)
                and self._etag_is_md5(loc)
            ):
                raise IntegrityError(f"GET {loc}: MD5 of the body does not match its ETag")

        retrying(self._attempts, loc, "GET", attempt)

    def put(self, src: Path, loc: S3Location, *, overwrite: bool = False) -> None:
        """Upload ``src`` to ``loc`` (multipart above the threshold, 4 parts in flight).

        Without ``overwrite`` a single PUT is conditional (``If-None-Match: *``).
        obstore cannot make a multipart upload conditional (it would fall back
        to one PUT of the whole file, in memory), so a large object is checked
        with a HEAD first. An existing object counts as ours only when its size
        and ETag match ``src`` (a retried PUT whose first reply was lost).
        """
        multipart = src.stat().st_size > self._tuning.multipart_threshold
        options: dict[str, Any] = {"use_multipart": multipart}
        if multipart:
            options.update(chunk_size=self._tuning.part_size, max_concurrency=4)
        elif not overwrite:
            options["mode"] = "create"

        def attempt(_: int) -> None:
            if multipart and not overwrite and self.exists(loc):
                raise ObjectExistsError(f"{loc} already exists (pass overwrite=True to replace it)")
            try:
                if multipart:
                    with self._large:
                        obstore.put(self._store(loc.bucket), loc.key, src, **options)
                else:
                    obstore.put(self._store(loc.bucket), loc.key, src, **options)
            except BaseError as err:
                translated = _translate(err, loc, "PUT")
                if type(translated) is TransferError:  # transient: obstore gave up on it
                    raise ConnectionError(f"PUT {loc}: {type(err).__name__}") from err
                raise translated from err

        try:
            retrying(self._attempts, loc, "PUT", attempt)
        except ObjectExistsError:
            if overwrite or not self._is_same(loc, src):
                raise

    def _is_same(self, loc: S3Location, src: Path) -> bool:
        try:
            meta = self._call(loc, "HEAD", obstore.head, loc.key)
        except FileDatasetError:
            return False
        if int(meta["size"]) != src.stat().st_size:
            return False
        return (meta.get("e_tag") or "").strip('"') in expected_etags(src, self._tuning)

    def list_keys(self, prefix: S3Location) -> list[str]:
        """Keys under the prefix ``prefix/``, relative to it."""
        base = prefix.key.rstrip("/")
        keys: list[str] = []
        try:
            for batch in obstore.list(self._store(prefix.bucket), base or None, chunk_size=1000):
                keys.extend(str(meta["path"])[len(base) + 1 if base else 0 :] for meta in batch)
        except (BaseError, OSError) as err:
            raise _translate(err, prefix, "LIST") from err
        return keys

    def read_range(self, loc: S3Location, start: int, length: int) -> bytes:
        """Bytes ``[start, start + length)`` of the object, in one ranged GET."""
        if self._range_fallback is not None and loc.bucket in self._plain_range_buckets:
            return self._range_fallback(loc, start, length)

        def attempt(_: int) -> bytes:
            try:
                raw = obstore.get_range(
                    self._store(loc.bucket), loc.key, start=start, length=length
                )
            except BaseError as err:
                if "non-partial" in str(err) and self._range_fallback is not None:
                    raise _NotPartialError from err
                raise _translate(err, loc, "GET") from err
            data = bytes(raw)
            if len(data) != length:
                raise IntegrityError(
                    f"GET {loc}: wanted {length} bytes at {start}, got {len(data)}"
                )
            return data

        try:
            return retrying(self._attempts, loc, "GET", attempt)
        except _NotPartialError:
            # The server answers ranges with 200 instead of 206 (rclone's S3 server
            # does): obstore refuses that, boto3 does not. Use boto3 for this bucket.
            assert self._range_fallback is not None
            self._plain_range_buckets.add(loc.bucket)
            return self._range_fallback(loc, start, length)

    def read_all(self, loc: S3Location) -> bytes:
        """The whole object in one GET."""

        def attempt(_: int) -> bytes:
            result = self._call(loc, "GET", obstore.get, loc.key)
            data = bytes(result.bytes())
            if len(data) != int(result.meta["size"]):
                raise IntegrityError(f"GET {loc}: body shorter than the object")
            return data

        return retrying(self._attempts, loc, "GET", attempt)

    def exists(self, loc: S3Location) -> bool:
        """Whether the object exists (one HEAD request)."""
        try:
            self._call(loc, "HEAD", obstore.head, loc.key)
        except ObjectNotFoundError:
            return False
        return True
