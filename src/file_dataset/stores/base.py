"""The interface every storage backend implements."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, TypeVar

from file_dataset.uri import StoreLocation

__all__ = ["Store"]

L_contra = TypeVar("L_contra", bound=StoreLocation, contravariant=True)


class Store(Protocol[L_contra]):
    """A place objects live: S3, or the local file system.

    The engine (`file_dataset.transfer`) builds everything else on these three
    primitives: it handles concurrency, temporary names and renames.
    """

    def get(self, loc: L_contra, dest: Path) -> None:
        """Write the object's bytes to ``dest`` (a temporary path the caller renames).

        Raises:
            ObjectNotFoundError: the object does not exist.
        """

    def put(self, src: Path, loc: L_contra, *, overwrite: bool = False) -> None:
        """Store the local file ``src`` at ``loc``; the object appears whole or not at all.

        Raises:
            ObjectExistsError: ``loc`` exists with other bytes and ``overwrite`` is False.
        """

    def list_keys(self, prefix: L_contra) -> list[str]:
        """The objects under the directory or prefix ``prefix``, as relative names."""

    def exists(self, loc: L_contra) -> bool:
        """Whether the object exists."""

    def read_range(self, loc: L_contra, start: int, length: int) -> bytes:
        """Bytes ``[start, start + length)`` of the object; fewer is an `IntegrityError`."""

    def read_all(self, loc: L_contra) -> bytes:
        """The whole object, in memory (small objects only: shard indexes)."""
