"""Tar shards: many little files fused into a few large objects, read back with few requests.

Layout (see docs/shards.md):

* ``<into>/shard-000000.tar``: a POSIX (pax) tar; rows in order, a row's files
  adjacent, members named ``<id>/<name>`` (WebDataset reads it as is);
* ``<into>/shard-000000.tar.index.json``: ``{"version": 1, "size": <bytes>,
  "members": {"<id>/<name>": {"offset": <data offset>, "size": <bytes>,
  "sha256": "<hex>"}}}``;
* member URIs ``tar://<id>/<name>::<shard URI>`` (fsspec's chained form).

Reading groups requests by shard, fetches each index once per FileDataset,
merges members that lie close together into one ranged GET, and verifies every
member's SHA-256. A shard made elsewhere is untrusted: names are checked,
offsets must lie inside the shard, and `index_tar` refuses links, devices and
FIFOs. ``tarfile.extractall`` is never used.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tarfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from file_dataset.errors import IntegrityError, InvalidNameError, InvalidURIError
from file_dataset.stores.base import Store
from file_dataset.stores.local import atomic_path
from file_dataset.uri import LocalLocation, S3Location, StoreLocation, TarMember, check_name

__all__ = [
    "INDEX_SUFFIX",
    "MemberEntry",
    "ShardIndex",
    "ShardReader",
    "ShardWriter",
    "coalesce",
    "index_location",
    "index_tar",
    "parse_size",
    "shard_name",
]

INDEX_SUFFIX = ".index.json"
MiB = 1024 * 1024
_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3,
          "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}  # fmt: skip


def parse_size(value: int | str) -> int:
    """``"256MB"`` -> bytes.

    Examples:
        >>> parse_size("256MB"), parse_size("1GiB"), parse_size(4096)
        (256000000, 1073741824, 4096)
    """
    if isinstance(value, int):
        size = value
    else:
        text = value.strip().upper().replace(" ", "")
        number = text.rstrip("KMGIB")
        unit = text[len(number) :]
        if unit not in _UNITS or not number.replace(".", "", 1).isdigit():
            raise ValueError(f"cannot read a size from {value!r} (e.g. '256MB', '1GiB', 4096)")
        size = int(float(number) * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"size must be positive, got {value!r}")
    return size


def shard_name(number: int) -> str:
    """The object name of shard ``number``.

    Examples:
        >>> shard_name(7)
        'shard-000007.tar'
    """
    return f"shard-{number:06d}.tar"


def index_location(shard: StoreLocation) -> StoreLocation:
    """Where the index of ``shard`` lives: beside it, with `INDEX_SUFFIX`."""
    parent, name = _split_last(shard)
    return parent.child(name + INDEX_SUFFIX)


def _split_last(loc: StoreLocation) -> tuple[StoreLocation, str]:
    if isinstance(loc, S3Location):
        head, _, name = loc.key.rpartition("/")
        return S3Location(loc.bucket, head), name
    assert isinstance(loc, LocalLocation)
    return LocalLocation(loc.path.parent), loc.path.name


@dataclass(frozen=True)
class MemberEntry:
    """Where a member's bytes lie in its shard, and their SHA-256."""

    offset: int
    size: int
    sha256: str


@dataclass(frozen=True)
class ShardIndex:
    """Member name -> `MemberEntry`, plus the shard's total size.

    Examples:
        >>> idx = ShardIndex(1024, {"r1/a.txt": MemberEntry(512, 3, "ab" * 32)})
        >>> ShardIndex.from_json(idx.to_json(), "s") == idx
        True
    """

    size: int
    members: dict[str, MemberEntry]

    def to_json(self) -> bytes:
        """The index file's bytes."""
        body = {
            "version": 1,
            "size": self.size,
            "members": {
                name: {"offset": e.offset, "size": e.size, "sha256": e.sha256}
                for name, e in self.members.items()
            },
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes, shard: str) -> ShardIndex:
        """Parse and check an (untrusted) index: names, offsets, sizes, checksums."""
        try:
            body = json.loads(data)
            if body.get("version") != 1:
                raise ValueError(f"unsupported index version {body.get('version')!r}")  # noqa: TRY301
            size = int(body["size"])
            members = {}
            for name, raw in body["members"].items():
                entry = MemberEntry(int(raw["offset"]), int(raw["size"]), str(raw["sha256"]))
                members[check_name(name)] = entry
        except InvalidNameError as err:
            raise IntegrityError(f"index of {shard} names an unsafe member: {err}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise IntegrityError(f"index of {shard} is malformed: {err}") from None
        for name, e in members.items():
            if e.offset < 0 or e.size < 0 or e.offset + e.size > size or len(e.sha256) != 64:
                raise IntegrityError(
                    f"index of {shard}: member {name!r} lies outside the shard "
                    f"(offset {e.offset}, size {e.size}, shard size {size})"
                )
        return cls(size, members)


class _HashingReader:
    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.digest.update(data)
        return data


class ShardWriter:
    """Writes one tar shard on local disk and records its index.

    Examples:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = (d / "a.txt").write_text("hello")
        >>> w = ShardWriter(d / "shard.tar")
        >>> w.add("r1/a.txt", d / "a.txt")
        >>> index = w.close()
        >>> (d / "shard.tar").read_bytes()[index.members["r1/a.txt"].offset:][:5]
        b'hello'
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("wb")
        self._tar = tarfile.open(  # noqa: SIM115 - same
            fileobj=self._file, mode="w", format=tarfile.PAX_FORMAT
        )
        self.members: dict[str, MemberEntry] = {}

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._tar.offset

    def add(self, member: str, src: Path) -> None:
        """Append the regular file ``src`` as ``member``."""
        check_name(member)
        if "::" in member:
            raise InvalidNameError(f"member name {member!r} may not contain '::'")
        if member in self.members:
            raise InvalidNameError(f"member {member!r} is already in {self.path.name}")
        info = tarfile.TarInfo(member)
        info.size = src.stat().st_size
        info.mode = 0o644
        info.mtime = 0  # reproducible shards: same inputs, same bytes
        header = info.tobuf(self._tar.format, self._tar.encoding, self._tar.errors)
        offset = self._tar.offset + len(header)
        with src.open("rb") as raw:
            reader = _HashingReader(raw)
            self._tar.addfile(info, reader)
        self.members[member] = MemberEntry(offset, info.size, reader.digest.hexdigest())

    def close(self) -> ShardIndex:
        """Finish the tar; return its index."""
        self._tar.close()
        self._file.close()
        return ShardIndex(self.path.stat().st_size, dict(self.members))

    def abort(self) -> None:
        """Drop the shard being written."""
        self._tar.close()
        self._file.close()
        self.path.unlink(missing_ok=True)


def index_tar(path: Path) -> ShardIndex:
    """Index a tar made elsewhere (e.g. by WebDataset), refusing anything but safe regular files.

    Raises:
        IntegrityError: a member is a link, device or FIFO, has an unsafe name,
            or the tar is truncated or corrupt.

    Examples:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = (d / "a").write_text("x")
        >>> w = ShardWriter(d / "s.tar"); w.add("k/a", d / "a"); _ = w.close()
        >>> list(index_tar(d / "s.tar").members)
        ['k/a']
    """
    members: dict[str, MemberEntry] = {}
    try:
        with tarfile.open(path, mode="r:") as tar:
            for info in tar:
                if info.isdir():
                    continue
                if not info.isreg():
                    raise IntegrityError(f"{path.name}: member {info.name!r} is not a regular file")
                try:
                    check_name(info.name)
                except InvalidNameError as err:
                    raise IntegrityError(f"{path.name}: unsafe member name: {err}") from None
                data = tar.extractfile(info)
                assert data is not None
                digest = hashlib.sha256(data.read()).hexdigest()
                members[info.name] = MemberEntry(info.offset_data, info.size, digest)
    except (tarfile.TarError, EOFError) as err:
        raise IntegrityError(f"{path.name} is not a readable tar: {err}") from None
    return ShardIndex(path.stat().st_size, members)


def coalesce(
    entries: Sequence[tuple[Any, MemberEntry]],
    *,
    shard_size: int,
    max_gap: int = 1 * MiB,
    max_range: int = 16 * MiB,
) -> list[tuple[int, int, list[tuple[Any, MemberEntry]]]]:
    """Group members into ranged reads: ``[(start, length, [(key, entry), ...]), ...]``.

    Neighbours closer than ``max_gap`` (about bandwidth x first-byte latency)
    share a range; a range grows to at most ``max_range`` (a single larger
    member gets its own). When most of the shard is wanted, gaps are ignored
    and the shard is read whole, in ``max_range`` pieces.

    Examples:
        >>> e = lambda off: ("k", MemberEntry(off, 10, ""))
        >>> [(s, n, len(m)) for s, n, m in coalesce([e(0), e(20), e(10_000_000)], shard_size=10**8)]
        [(0, 30, 2), (10000000, 10, 1)]
    """
    ordered = sorted(entries, key=lambda item: item[1].offset)
    wanted = sum(entry.size for _, entry in ordered)
    gap = shard_size if wanted * 2 >= shard_size else max_gap
    ranges: list[tuple[int, int, list[tuple[Any, MemberEntry]]]] = []
    for item in ordered:
        entry = item[1]
        if ranges:
            start, length, group = ranges[-1]
            end = start + length
            new_end = max(end, entry.offset + entry.size)
            if entry.offset - end <= gap and new_end - start <= max_range:
                ranges[-1] = (start, new_end - start, [*group, item])
                continue
        ranges.append((entry.offset, entry.size, [item]))
    return ranges


def _fetch(store: Store[Any], shard: StoreLocation, size: int, start: int, length: int) -> bytes:
    # The whole object takes a plain GET: some servers answer a range that covers
    # everything with a 200, which strict clients (obstore) refuse.
    if start == 0 and length == size:
        return store.read_all(shard)
    return store.read_range(shard, start, length)


class _BlockCache:
    """Recently read blocks of shards, shared by the rows that need them.

    Rows read one at a time (``map``) then cost one ranged GET per block of
    neighbours, not one per member.

    Bounded: ``max_blocks`` blocks of ``block`` bytes. A block being fetched is
    shared by every reader that wants it (one GET). Shards are never overwritten,
    so a cached block cannot go stale.
    """

    def __init__(self, block: int = 8 * MiB, max_blocks: int = 8) -> None:
        self.block = block
        self._max = max_blocks
        self._lock = threading.Lock()
        self._blocks: OrderedDict[tuple[str, int], Future[bytes]] = OrderedDict()

    def read(
        self, store: Store[Any], shard: StoreLocation, size: int, start: int, length: int
    ) -> bytes:
        first, last = start // self.block, (start + max(length, 1) - 1) // self.block
        if last - first >= 2:  # a large coalesced range: read it straight
            return _fetch(store, shard, size, start, length)
        data = b"".join(self._get(store, shard, size, i) for i in range(first, last + 1))
        offset = start - first * self.block
        if offset + length > len(data):
            raise IntegrityError(f"{shard} is shorter than its index says")
        return data[offset : offset + length]

    def _get(self, store: Store[Any], shard: StoreLocation, size: int, index: int) -> bytes:
        key = (str(shard), index)
        with self._lock:
            future = self._blocks.get(key)
            owner = future is None
            if future is None:
                future = Future()
                self._blocks[key] = future
                while len(self._blocks) > self._max:
                    self._blocks.popitem(last=False)
            else:
                self._blocks.move_to_end(key)
        if owner:
            start = index * self.block
            length = min(self.block, size - start)
            try:
                future.set_result(_fetch(store, shard, size, start, length))
            except BaseException as err:
                with self._lock:
                    self._blocks.pop(key, None)
                future.set_exception(err)
                raise
        return future.result()


class ShardReader:
    """Reads members of shards through a store; caches each shard's index and recent blocks.

    Args:
        store_for: the store serving a shard location.
    """

    def __init__(self, store_for: Callable[[StoreLocation], Store[Any]]) -> None:
        self._store_for = store_for
        self._indexes: dict[str, ShardIndex] = {}
        self._lock = threading.Lock()
        self._blocks = _BlockCache()

    def index(self, shard: StoreLocation) -> ShardIndex:
        """The shard's index, fetched once and then cached."""
        key = str(shard)
        cached = self._indexes.get(key)
        if cached is not None:
            return cached
        where = index_location(shard)
        data = self._store_for(where).read_all(where)
        index = ShardIndex.from_json(data, key)
        with self._lock:
            self._indexes[key] = index
        return index

    def entry(self, member: TarMember) -> MemberEntry:
        """The index entry of ``member``; a missing member is an `InvalidURIError`."""
        entry = self.index(member.shard).members.get(member.member)
        if entry is None:
            raise InvalidURIError(f"{member.shard} has no member {member.member!r}")
        return entry

    def plan(self, jobs: Iterable[tuple[TarMember, Path]]) -> list[Callable[[], None]]:
        """One task per coalesced range; each writes its members to their destinations."""
        by_shard: dict[str, list[tuple[Path, MemberEntry]]] = {}
        shards: dict[str, StoreLocation] = {}
        for member, dest in jobs:
            key = str(member.shard)
            shards[key] = member.shard
            by_shard.setdefault(key, []).append((dest, self.entry(member)))
        tasks: list[Callable[[], None]] = []
        for key, wanted in by_shard.items():
            size = self.index(shards[key]).size
            read = functools.partial(
                self._blocks.read, self._store_for(shards[key]), shards[key], size
            )
            tasks.extend(
                _RangeTask(read, shards[key], start, length, group)
                for start, length, group in coalesce(wanted, shard_size=size)
            )
        return tasks


@dataclass
class _RangeTask:
    read: Callable[[int, int], bytes]
    shard: StoreLocation
    start: int
    length: int
    members: list[tuple[Path, MemberEntry]]

    def __call__(self) -> None:
        data = memoryview(self.read(self.start, self.length))
        for dest, entry in self.members:
            chunk = data[entry.offset - self.start : entry.offset - self.start + entry.size]
            if hashlib.sha256(chunk).hexdigest() != entry.sha256:
                raise IntegrityError(
                    f"a member of {self.shard} does not match its SHA-256 (for {dest.name})"
                )
            with atomic_path(dest) as tmp:
                tmp.write_bytes(chunk)


def iter_chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size``."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
