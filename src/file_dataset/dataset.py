"""`FileDataset`: the seed's API for moving files between S3 and local directories."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.credentials import Credentials, ReadOnlyCredentials

from file_dataset.errors import InvalidURIError, ObjectNotFoundError
from file_dataset.redaction import register_secret
from file_dataset.shards import ShardReader
from file_dataset.stores.base import Store
from file_dataset.stores.local import LocalStore
from file_dataset.stores.s3 import S3Store
from file_dataset.transfer import TransferEngine, safe_destination
from file_dataset.uri import (
    LocalLocation,
    Location,
    S3Location,
    check_id,
    check_names,
    parse_prefix,
    parse_uri,
)

if TYPE_CHECKING:
    import pandas as pd
    from mypy_boto3_s3 import S3Client
    from obstore.store import S3Store as ObS3Store

    from file_dataset.pipeline import RowFn
    from file_dataset.stores.objectstore import ObstoreStore

__all__ = ["Downloader", "Engine", "FileDataset", "URILike", "default_dataset"]

Engine = Literal["auto", "boto3", "obstore"]
"""The S3 transfer engine: ``"boto3"``, ``"obstore"`` (Rust; extra ``fast``), or ``"auto"``
(obstore when installed, else boto3)."""

URILike = str | os.PathLike[str] | Location
"""A URI: ``"s3://bucket/key"``, a local path string, a `Path`, ``"file:///..."``, or a parsed
`file_dataset.uri.Location`."""


def _check_endpoint(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidURIError(
            f"endpoint URL must be http:// or https:// with a host, got scheme {parts.scheme!r}"
        )
    if parts.username is not None or parts.password is not None:
        # Never echo the URL: it holds a secret.
        raise InvalidURIError(
            "endpoint URL must not contain user:password@; pass credentials= instead"
        )
    return url


_RUNTIMES: dict[tuple[object, ...], _Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()


@dataclass
class _Runtime:
    """What one process needs to transfer: built lazily, never pickled."""

    pid: int
    client: S3Client
    files: ThreadPoolExecutor
    parts: ThreadPoolExecutor
    s3: S3Store
    fast: ObstoreStore | None

    def close(self) -> None:
        self.files.shutdown(wait=False, cancel_futures=True)
        self.parts.shutdown(wait=False, cancel_futures=True)


class FileDataset:
    """Moves files between S3 (or local directories) and local directories.

    Every transfer reuses one S3 client per process (shared by FileDatasets of
    the same configuration, e.g. the copies a dask worker unpickles), with a
    connection pool sized to ``max_concurrency``. It pickles (worker
    processes build their own client) and its repr never shows a secret.

    Args:
        credentials: botocore credentials, e.g.
            ``boto3.Session().get_credentials().get_frozen_credentials()``; None
            uses boto3's default chain (environment, profile, instance role).
        session: a boto3 Session to take credentials and region from.
        endpoint_url: an S3-compatible endpoint (MinIO, moto, rclone); defaults
            to the ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` environment variable.
        region_name: defaults to the session's or environment's region, else us-east-1.
        max_concurrency: files transferred at once; default 64 with obstore, 16 with boto3.
        retries: attempts per request (and per body cut mid-stream) before giving up.
        engine: ``"boto3"``, ``"obstore"`` (several times faster for many small
            files; ``pip install 'file-dataset[fast]'``) or ``"auto"`` (obstore
            when installed, else boto3).

    Examples:
        >>> ds = FileDataset(endpoint_url="http://127.0.0.1:9000", region_name="eu-west-1",
        ...                  engine="boto3")
        >>> ds
        FileDataset(endpoint_url='http://127.0.0.1:9000', region_name='eu-west-1', \
max_concurrency=16, engine='boto3', credentials='default chain')
    """

    def __init__(
        self,
        credentials: ReadOnlyCredentials | Credentials | None = None,
        *,
        session: boto3.Session | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        max_concurrency: int | None = None,
        retries: int = 5,
        engine: Engine = "auto",
    ) -> None:
        has_obstore = importlib.util.find_spec("obstore") is not None
        if engine not in ("auto", "boto3", "obstore"):
            raise ValueError(f"engine must be 'auto', 'boto3' or 'obstore', got {engine!r}")
        if engine == "obstore" and not has_obstore:
            raise ImportError("engine='obstore' needs obstore: pip install 'file-dataset[fast]'")
        self.engine_name = (
            "obstore" if engine == "obstore" or (engine == "auto" and has_obstore) else "boto3"
        )
        if max_concurrency is None:
            # obstore's requests cost little CPU and release the GIL, so it can keep
            # many in flight (latency-bound on real S3); boto3's threads contend for
            # the GIL beyond about 16.
            max_concurrency = 64 if self.engine_name == "obstore" else 16
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if retries < 1:
            raise ValueError(f"retries must be >= 1, got {retries}")
        if isinstance(credentials, Credentials):
            credentials = credentials.get_frozen_credentials()
        if credentials is not None:
            register_secret(credentials.secret_key, credentials.token)
        self._credentials = credentials
        self._session = session
        endpoint = (
            endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
        )
        self._endpoint_url = _check_endpoint(endpoint) if endpoint else None
        self._region_name = (
            region_name
            or (session.region_name if session is not None else None)
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
        )
        self._max_concurrency = max_concurrency
        self._retries = retries
        self._runtime: _Runtime | None = None
        self._shards: ShardReader | None = None
        self._shards_pid = 0
        self._local = LocalStore()

    # -- identity ---------------------------------------------------------

    @property
    def max_concurrency(self) -> int:
        """Files transferred at once (fixed at construction)."""
        return self._max_concurrency

    @property
    def retries(self) -> int:
        """Attempts per request and per body before giving up (fixed at construction)."""
        return self._retries

    @property
    def endpoint_url(self) -> str | None:
        """The S3 endpoint in use (None: AWS)."""
        return self._endpoint_url

    @property
    def region_name(self) -> str | None:
        """The region in use (None: boto3 decides)."""
        return self._region_name

    def __repr__(self) -> str:
        source = (
            "explicit"
            if self._credentials is not None
            else ("session" if self._session is not None else "default chain")
        )
        return (
            f"FileDataset(endpoint_url={self._endpoint_url!r}, region_name={self._region_name!r}, "
            f"max_concurrency={self.max_concurrency}, engine={self.engine_name!r}, "
            f"credentials={source!r})"
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._credentials is not None:  # e.g. in a dask worker: keep them out of its logs
            register_secret(self._credentials.secret_key, self._credentials.token)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_runtime"] = None
        state["_shards"] = None
        if self._session is not None:
            # A Session does not pickle; ship what it resolves to.
            creds = self._session.get_credentials()
            state["_credentials"] = creds.get_frozen_credentials() if creds else None
            state["_session"] = None
        return state

    # -- per-process runtime ------------------------------------------------

    def _make_client(self) -> S3Client:
        session = self._session or boto3.Session()
        resolved = session.get_credentials()
        if resolved is not None:  # the default chain's secrets are redacted from logs too
            frozen = resolved.get_frozen_credentials()
            register_secret(frozen.secret_key, frozen.token)
        kwargs: dict[str, Any] = {}
        if self._credentials is not None:
            kwargs = {
                "aws_access_key_id": self._credentials.access_key,
                "aws_secret_access_key": self._credentials.secret_key,
                "aws_session_token": self._credentials.token,
            }
        config = Config(
            max_pool_connections=self.max_concurrency + self._part_concurrency,
            retries={"max_attempts": self.retries, "mode": "standard"},
            # Some S3-compatible servers mishandle flexible checksums (rclone
            # fails ranged GETs); we verify MD5s and sizes ourselves.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"} if self._endpoint_url else None,
            connect_timeout=10,
            read_timeout=60,
        )
        return session.client(
            "s3",
            endpoint_url=self._endpoint_url,
            region_name=self._region_name or session.region_name or "us-east-1",
            config=config,
            **kwargs,
        )

    @property
    def _part_concurrency(self) -> int:
        return max(2, min(8, self.max_concurrency))

    def _runtime_key(self) -> tuple[object, ...]:
        creds = self._credentials
        fingerprint = hashlib.sha256(repr(tuple(creds)).encode()).hexdigest() if creds else None
        return (
            os.getpid(),
            self._endpoint_url,
            self._region_name,
            self.max_concurrency,
            self.retries,
            self.engine_name,
            fingerprint,
            id(self._session) if self._session is not None else None,
        )

    def _rt(self) -> _Runtime:
        runtime = self._runtime
        if runtime is not None and runtime.pid == os.getpid():
            return runtime
        # One runtime (client, pools) per configuration per process: copies
        # unpickled in a worker (one per dask task) share it.
        key = self._runtime_key()
        with _RUNTIMES_LOCK:
            runtime = _RUNTIMES.get(key)
            if runtime is None:
                runtime = self._build_runtime()
                _RUNTIMES[key] = runtime
            self._runtime = runtime
        return runtime

    def _build_runtime(self) -> _Runtime:
        client = self._make_client()
        files = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="fd-file")
        parts = ThreadPoolExecutor(self._part_concurrency, thread_name_prefix="fd-part")
        s3 = S3Store(client, parts, attempts=self.retries)
        fast = None
        if self.engine_name == "obstore":
            from file_dataset.stores.objectstore import ObstoreStore

            fast = ObstoreStore(
                self._make_obstore,
                attempts=self.retries,
                etag_is_md5=s3.etag_is_md5,
                range_fallback=s3.read_range,
            )
        return _Runtime(os.getpid(), client, files, parts, s3, fast)

    def _make_obstore(self, bucket: str) -> ObS3Store:
        from obstore.auth.boto3 import Boto3CredentialProvider
        from obstore.store import S3Store as ObS3Store

        kwargs: dict[str, Any] = {}
        if self._credentials is not None:
            kwargs = {
                "access_key_id": self._credentials.access_key,
                "secret_access_key": self._credentials.secret_key,
            }
            if self._credentials.token:
                kwargs["token"] = self._credentials.token
        else:
            kwargs["credential_provider"] = Boto3CredentialProvider(
                self._session or boto3.Session()
            )
        if self._endpoint_url:
            kwargs["endpoint"] = self._endpoint_url
            kwargs["virtual_hosted_style_request"] = False
        return ObS3Store(
            bucket,
            region=self._region_name or "us-east-1",
            client_options={
                "allow_http": bool(self._endpoint_url and self._endpoint_url.startswith("http:")),
                "connect_timeout": "10s",
                "timeout": "300s",
            },
            retry_config={"max_retries": self.retries - 1},
            **kwargs,
        )

    def _store_for(self, loc: Location) -> Store[Any]:
        if isinstance(loc, S3Location):
            runtime = self._rt()
            return runtime.fast or runtime.s3
        return self._local

    @property
    def client(self) -> S3Client:
        """The boto3 S3 client of this process (created on first use).

        Examples:
            >>> ds = FileDataset(endpoint_url="http://127.0.0.1:9000")
            >>> ds.client is ds.client
            True
        """
        return self._rt().client

    @property
    def engine(self) -> TransferEngine:
        """The transfer engine: this process's pools and stores, this FileDataset's shard cache.

        Shards are never overwritten, so their indexes and blocks are cached for
        the life of the FileDataset (`close` drops them).
        """
        if self._shards is None or self._shards_pid != os.getpid():
            self._shards, self._shards_pid = ShardReader(self._store_for), os.getpid()
        return TransferEngine(self._store_for, self._rt().files, self._shards)

    def close(self) -> None:
        """Release the client's thread pools; a later transfer builds them again."""
        with _RUNTIMES_LOCK:
            runtime = _RUNTIMES.pop(self._runtime_key(), None)
            self._runtime = None
            self._shards = None
        if runtime is not None:
            runtime.close()

    def __enter__(self) -> FileDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the seed's API -----------------------------------------------------

    def downloader(self, mapping: Mapping[str, URILike]) -> Downloader:
        """Plan a download of ``{file name: URI}``; names and URIs are checked now.

        Raises:
            InvalidNameError: a name is absolute, has a ``..`` segment, is empty, ...
            InvalidURIError: a URI is malformed.

        Examples:
            >>> ds = FileDataset()
            >>> d = ds.downloader({"image.mha": "s3://my-bucket/image.mha"})
            >>> d.names
            ['image.mha']
        """
        return Downloader(self, mapping)

    def upload_files(
        self,
        mapping: Mapping[str, URILike],
        into_path: URILike,
        *,
        id: object = None,
        overwrite: bool = False,
    ) -> dict[str, str | Path]:
        """Upload ``{file name: local path}`` to ``<into_path>/<id>/<name>``.

        Args:
            mapping: file name (may contain ``/``) -> local path or ``file://`` URI.
            into_path: ``s3://bucket/prefix/`` or a local directory (files are copied).
            id: the sub-directory for these files; defaults to a new uuid4 hex.
            overwrite: replace existing objects; without it an existing
                destination is an `ObjectExistsError`, raised before any transfer.

        Returns:
            ``{name: "s3://bucket/prefix/<id>/<name>"}`` for S3, ``{name: Path}``
            for a local ``into_path``.

        Raises:
            InvalidNameError, InvalidURIError: before anything is transferred.
            ObjectNotFoundError: a source file is missing, before anything is transferred.
            ObjectExistsError: a destination exists and ``overwrite`` is False.
            ObjectExistsError: a destination exists and ``overwrite`` is False.

        Examples:
            >>> ds = FileDataset()
            >>> import tempfile; src = Path(tempfile.mkdtemp()) / "a.txt"
            >>> _ = src.write_text("hi")
            >>> out = ds.upload_files({"a.txt": src}, src.parent / "out", id="x1")
            >>> out["a.txt"].read_text()
            'hi'
        """
        check_names(list(mapping))
        prefix = parse_prefix(into_path)
        row_id = uuid.uuid4().hex if id is None else check_id(id)
        sources = {name: _local_source(value) for name, value in mapping.items()}
        jobs = [(src, prefix.child(row_id, name)) for name, src in sources.items()]
        if not overwrite:
            self.engine.refuse_existing(prefix.child(row_id), list(sources))
        self.engine.upload(jobs, overwrite=overwrite)
        return {name: dest.output() for name, (_, dest) in zip(sources, jobs, strict=True)}

    def pack(
        self,
        mapping: Mapping[str, URILike],
        into_path: URILike,
        *,
        shard_size: int | str = "256MB",
    ) -> dict[str, str]:
        """Fuse ``{file name: URI}`` into tar shards under ``into_path``; return member URIs.

        Members are named by the mapping's names. See `FilesAccessor.pack` for the layout.

        Examples:
            >>> ds.pack({"a.txt": "s3://bucket/a.txt"}, "s3://bucket/packed/")  # doctest: +SKIP
            {'a.txt': 'tar://a.txt::s3://bucket/packed/shard-000000.tar'}
        """
        from file_dataset.packing import ShardSink
        from file_dataset.shards import parse_size

        check_names(list(mapping))
        sources = {name: parse_uri(uri) for name, uri in mapping.items()}
        into = parse_prefix(into_path)
        sink = ShardSink(self.engine, into, parse_size(shard_size))
        stage = Path(tempfile.mkdtemp(prefix="file-dataset-stage-"))
        try:
            # Local files go into the shard as they are; only remote ones are staged.
            remote = {n: loc for n, loc in sources.items() if not isinstance(loc, LocalLocation)}
            staged = self.downloader(remote).into_dir(stage)
            files = [
                (name, loc.path if isinstance(loc, LocalLocation) else staged[name])
                for name, loc in sources.items()
            ]
            members = sink.add_row("", files)
        except BaseException:
            sink.abort()
            raise
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        sink.close()
        return {name: member.output() for name, member in members.items()}

    def map_batch(
        self,
        df: pd.DataFrame,
        fn: RowFn,
        upload_options: Mapping[str, Any],
        **options: Any,
    ) -> pd.DataFrame:
        """Seed usage 3: run ``fn`` over every row of ``df``; the same as ``df.files.map``.

        Args:
            df: a DataFrame whose file columns hold URIs, and usually an ``id`` column.
            fn: ``fn(input_dir, output_dir) -> {name: path}``.
            upload_options: ``{"into_path": ...}`` and any other `FilesAccessor.map` option.
            **options: further `FilesAccessor.map` options (``on_error``, ``max_workers``...).

        Returns:
            The DataFrame of output URIs that ``df.files.map`` returns.

        Examples:
            >>> ds.map_batch(df, fn=resample, upload_options={  # doctest: +SKIP
            ...     "into_path": "s3://my-bucket/resampled/"})
        """
        opts = {**upload_options, **options}
        if "into_path" not in opts:
            raise ValueError('map_batch needs upload_options={"into_path": ...}')
        into_path = opts.pop("into_path")
        from file_dataset.accessor import FilesAccessor

        return FilesAccessor(df).map(fn, into_path, dataset=self, **opts)


def _local_source(value: URILike) -> Path:
    loc = parse_uri(value)
    if not isinstance(loc, LocalLocation):
        raise InvalidURIError(f"upload sources must be local files, got {value!s}")
    if not loc.path.is_file():
        raise ObjectNotFoundError(f"no such file: {loc.path}")
    return loc.path


class Downloader:
    """A checked plan to download ``{file name: URI}``; run it with `into_dir` or `into_temp_dir`.

    Examples:
        >>> ds = FileDataset()
        >>> with ds.downloader({}).into_temp_dir() as tmp:
        ...     tmp.is_dir()
        True
    """

    def __init__(self, dataset: FileDataset, mapping: Mapping[str, URILike]) -> None:
        names = list(mapping)
        check_names(names)
        self._dataset = dataset
        self._sources: dict[str, Location] = {name: parse_uri(mapping[name]) for name in names}

    @property
    def names(self) -> list[str]:
        """The file names, in order."""
        return list(self._sources)

    def into_dir(self, path: str | os.PathLike[str]) -> dict[str, Path]:
        """Download every file into ``path`` (created if missing); return ``{name: Path}``.

        Files appear under their final names only when complete.

        Examples:
            >>> ds = FileDataset()
            >>> ds.downloader({}).into_dir(tempfile.mkdtemp())
            {}
        """
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        jobs = [(src, safe_destination(root, name)) for name, src in self._sources.items()]
        self._dataset.engine.download(jobs)
        return {name: dest for name, (_, dest) in zip(self._sources, jobs, strict=True)}

    @contextlib.contextmanager
    def into_temp_dir(self) -> Iterator[Path]:
        """Download into a new private (0700) temp dir, yield it, and remove it on exit.

        The directory is removed also when the body (or the download) raises.

        Examples:
            >>> ds = FileDataset()
            >>> with ds.downloader({}).into_temp_dir() as tmp:
            ...     oct(tmp.stat().st_mode & 0o777)
            '0o700'
        """
        tmp = Path(tempfile.mkdtemp(prefix="file-dataset-"))
        try:
            self.into_dir(tmp)
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


_DEFAULTS: dict[tuple[str | None, ...], FileDataset] = {}
_DEFAULTS_LOCK = threading.Lock()
_ENV_KEYS = (
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
)


def default_dataset() -> FileDataset:
    """The FileDataset built from the environment, shared while the environment is unchanged.

    Used by every `df.files` method called without ``dataset=``.

    Examples:
        >>> default_dataset() is default_dataset()
        True
    """
    key = tuple(os.environ.get(name) for name in _ENV_KEYS)
    with _DEFAULTS_LOCK:
        if key not in _DEFAULTS:
            _DEFAULTS[key] = FileDataset()
        return _DEFAULTS[key]
