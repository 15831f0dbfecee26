"""Writing shards: `ShardSink` appends rows' files to tar shards and uploads each when full."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from file_dataset.errors import ObjectExistsError
from file_dataset.shards import INDEX_SUFFIX, ShardWriter, index_location, shard_name
from file_dataset.transfer import TransferEngine
from file_dataset.uri import StoreLocation, TarMember

__all__ = ["ShardSink"]


class ShardSink:
    """Fuses files into shards ``<into>/shard-NNNNNN.tar`` (+ index) and uploads them.

    A row's files stay adjacent in one shard; a shard is closed and uploaded
    once it reaches ``shard_size`` and at `close`. The shard goes up first and
    its index last, so a shard is never readable before it is complete.
    Thread-safe: rows may be added from several threads.

    Args:
        engine: uploads the finished shards.
        into: the destination prefix or directory.
        shard_size: the size at which a shard is closed, in bytes.

    Raises:
        ObjectExistsError: ``into`` already holds shards (checked at construction).
    """

    def __init__(self, engine: TransferEngine, into: StoreLocation, shard_size: int) -> None:
        self._engine = engine
        self._into = into
        self._shard_size = shard_size
        self._lock = threading.Lock()
        self._work = Path(tempfile.mkdtemp(prefix="file-dataset-shards-"))
        self._number = 0
        self._writer: ShardWriter | None = None
        if engine.exists([index_location(into.child(shard_name(0)))])[0]:
            shutil.rmtree(self._work, ignore_errors=True)
            raise ObjectExistsError(
                f"{into} already holds shards; pack into a new prefix "
                "(shards are never overwritten)"
            )

    def add_row(self, row_id: str, files: Sequence[tuple[str, Path]]) -> dict[str, TarMember]:
        """Append a row's files as members ``<row_id>/<name>``; return their locations.

        The locations are readable once the shard is uploaded (when full, or at `close`).
        """
        with self._lock:
            if self._writer is None:
                self._writer = ShardWriter(self._work / shard_name(self._number))
            shard = self._into.child(shard_name(self._number))
            members = {}
            for name, path in files:
                member = f"{row_id}/{name}" if row_id else name
                self._writer.add(member, path)
                members[name] = TarMember(shard, member)
            if self._writer.size >= self._shard_size:
                self._flush()
            return members

    def _flush(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        index = writer.close()
        shard = self._into.child(shard_name(self._number))
        index_file = writer.path.with_name(writer.path.name + INDEX_SUFFIX)
        index_file.write_bytes(index.to_json())
        self._number += 1
        try:
            self._engine.upload([(writer.path, shard)], overwrite=False)
            self._engine.upload([(index_file, index_location(shard))], overwrite=False)
        finally:
            writer.path.unlink(missing_ok=True)
            index_file.unlink(missing_ok=True)

    def close(self) -> None:
        """Upload the shard being built, and remove the local work dir."""
        try:
            with self._lock:
                self._flush()
        finally:
            shutil.rmtree(self._work, ignore_errors=True)

    def abort(self) -> None:
        """Drop the shard being built (nothing of it is uploaded)."""
        with self._lock:
            if self._writer is not None:
                self._writer.abort()
                self._writer = None
        shutil.rmtree(self._work, ignore_errors=True)
