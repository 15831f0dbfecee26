"""The transfer engine: batches of gets and puts, concurrent and all-or-nothing.

The engine knows stores and locations, never DataFrames. Each download lands
under a temporary name beside its destination and is renamed only when
complete. A batch stops at its first failure: the files not yet started are
cancelled, the ones in flight finish or fail, and the first error is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, wait
from pathlib import Path
from typing import Any, TypeVar

from file_dataset.errors import InvalidNameError
from file_dataset.stores.base import Store
from file_dataset.stores.local import atomic_path
from file_dataset.uri import Location

__all__ = ["TransferEngine", "safe_destination"]

T = TypeVar("T")


def safe_destination(root: Path, name: str) -> Path:
    """``root / name``, after checking that it resolves inside ``root``.

    ``name`` is already a checked relative name; this also catches a symlinked
    directory inside ``root`` that points elsewhere.

    Example:
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
    """

    def __init__(self, store_for: Callable[[Location], Store[Any]], pool: Executor) -> None:
        self._store_for = store_for
        self._pool = pool

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

    def download_one(self, src: Location, dest: Path) -> Path:
        """Fetch ``src`` to ``dest`` through a temporary file; return ``dest``."""
        with atomic_path(dest) as tmp:
            self._store_for(src).get(src, tmp)
        return dest

    def upload_one(self, src: Path, dest: Location) -> Location:
        """Store the local file ``src`` at ``dest``; return ``dest``."""
        self._store_for(dest).put(src, dest)
        return dest

    def download(self, jobs: Sequence[tuple[Location, Path]]) -> list[Path]:
        """Download every (source, destination) pair concurrently."""
        return self.run([_bind(self.download_one, src, dest) for src, dest in jobs])

    def upload(self, jobs: Sequence[tuple[Path, Location]]) -> list[Location]:
        """Upload every (local file, destination) pair concurrently."""
        return self.run([_bind(self.upload_one, src, dest) for src, dest in jobs])

    def exists(self, locs: Sequence[Location]) -> list[bool]:
        """Whether each location exists, checked concurrently."""
        return self.run([_bind(self._exists_one, loc) for loc in locs])

    def _exists_one(self, loc: Location) -> bool:
        return self._store_for(loc).exists(loc)


def _bind(fn: Callable[..., T], *args: Any) -> Callable[[], T]:
    return lambda: fn(*args)
