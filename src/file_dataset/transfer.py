"""The transfer engine: batches of gets and puts, concurrent and all-or-nothing.

The engine knows stores and locations, never DataFrames. Each download lands
under a temporary name beside its destination and is renamed only when
complete. A batch stops at its first failure: the files not yet started are
cancelled, the ones in flight finish or fail, and the first error is raised.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, wait
from pathlib import Path
from typing import Any, TypeVar

from file_dataset.errors import (
    FileDatasetError,
    InvalidNameError,
    ObjectExistsError,
    ObjectNotFoundError,
    TransferError,
)
from file_dataset.shards import ShardReader
from file_dataset.stores.base import Store
from file_dataset.stores.local import atomic_path
from file_dataset.uri import Location, StoreLocation, TarMember

__all__ = ["TransferEngine", "safe_destination"]

T = TypeVar("T")


def safe_destination(root: Path, name: str) -> Path:
    """``root / name``, after checking that it resolves inside ``root``.

    ``name`` is already a checked relative name; this also catches a symlinked
    directory inside ``root`` that points elsewhere.

    Examples:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> safe_destination(root, "a/b.txt") == root / "a/b.txt"
        True
    """
    dest = root / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    real_root = root.resolve()
    if not dest.parent.resolve().is_relative_to(real_root):
        raise InvalidNameError(f"file name {name!r} resolves outside {root}")
    if dest.is_symlink():
        raise InvalidNameError(f"refusing to write through the symlink {dest}")
    return dest


class TransferEngine:
    """Runs batches of transfers on a shared thread pool.

    Args:
        store_for: returns the store that serves a location.
        pool: the executor for whole-file transfers, shared by every batch of
            one FileDataset in one process.

    Shard members (`TarMember`) are read through `shards`, which caches each
    shard's index and recent blocks (one cache per FileDataset) and coalesces
    neighbouring members into one ranged read.
    """

    def __init__(
        self,
        store_for: Callable[[StoreLocation], Store[Any]],
        pool: Executor,
        shards: ShardReader | None = None,
    ) -> None:
        self._store_for = store_for
        self._pool = pool
        self.shards = shards or ShardReader(store_for)

    def run(self, tasks: Sequence[Callable[[], T]]) -> list[T]:
        """Run every task, concurrently; return results in order or raise the first error."""
        if len(tasks) <= 1:
            return [task() for task in tasks]
        futures: list[Future[T]] = [self._pool.submit(task) for task in tasks]
        try:
            _, pending = wait(futures, return_when=FIRST_EXCEPTION)
            if pending:  # something failed: stop what has not started
                for f in pending:
                    f.cancel()
                wait(pending)
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            wait(futures)
            raise

    def download_one(self, src: StoreLocation, dest: Path) -> Path:
        """Fetch ``src`` to ``dest`` through a temporary file; return ``dest``."""
        try:
            with atomic_path(dest) as tmp:
                self._store_for(src).get(src, tmp)
        except FileDatasetError:
            raise
        except OSError as err:  # the local side: disk full, file too large, permissions
            raise TransferError(
                f"writing {dest.name} (from {src}) failed: {err.strerror or err}"
            ) from err
        return dest

    def upload_one(
        self, src: Path, dest: StoreLocation, *, overwrite: bool = False
    ) -> StoreLocation:
        """Store the local file ``src`` at ``dest``; return ``dest``."""
        self._store_for(dest).put(src, dest, overwrite=overwrite)
        return dest

    def download(self, jobs: Sequence[tuple[Location, Path]]) -> None:
        """Download every (source, destination) pair concurrently."""
        members = [(src, dest) for src, dest in jobs if isinstance(src, TarMember)]
        tasks: list[Callable[[], object]] = [
            _bind(self.download_one, src, dest)
            for src, dest in jobs
            if not isinstance(src, TarMember)
        ]
        if members:
            shards = {str(m.shard): m.shard for m, _ in members}
            self.run([_bind(self.shards.index, shard) for shard in shards.values()])
            tasks.extend(self.shards.plan(members))
        self.run(tasks)

    def upload(
        self, jobs: Sequence[tuple[Path, StoreLocation]], *, overwrite: bool = False
    ) -> list[StoreLocation]:
        """Upload every (local file, destination) pair concurrently.

        Without ``overwrite`` no existing object is replaced (`ObjectExistsError`).
        """
        upload = functools.partial(self.upload_one, overwrite=overwrite)
        return self.run([_bind(upload, src, dest) for src, dest in jobs])

    def read_bytes(self, loc: StoreLocation) -> bytes:
        """A small object's bytes, in memory."""
        return self._store_for(loc).read_all(loc)

    def list_keys(self, prefix: StoreLocation) -> set[str]:
        """The names of the objects under ``prefix``, relative to it (one LIST per 1,000)."""
        return set(self._store_for(prefix).list_keys(prefix))

    def refuse_existing(self, prefix: StoreLocation, names: Sequence[str]) -> None:
        """Raise `ObjectExistsError` before any transfer if any ``prefix/<name>`` exists.

        One LIST of ``prefix`` rather than a HEAD per object, and not the only
        guard: each PUT is conditional too, but some S3-compatible servers
        ignore ``If-None-Match``.
        """
        if not names:
            return
        taken = sorted(set(names) & self.list_keys(prefix))
        if taken:
            shown = ", ".join(repr(n) for n in taken[:5]) + (" ..." if len(taken) > 5 else "")
            raise ObjectExistsError(
                f"{len(taken)} destination(s) under {prefix} already exist ({shown}); "
                "pass overwrite=True to replace them"
            )

    def exists(self, locs: Sequence[Location]) -> list[bool]:
        """Whether each location exists, checked concurrently."""
        return self.run([_bind(self._exists_one, loc) for loc in locs])

    def _exists_one(self, loc: Location) -> bool:
        if isinstance(loc, TarMember):
            try:
                return loc.member in self.shards.index(loc.shard).members
            except ObjectNotFoundError:
                return False
        return self._store_for(loc).exists(loc)


def _bind(fn: Callable[..., T], *args: Any) -> Callable[[], T]:
    return lambda: fn(*args)
