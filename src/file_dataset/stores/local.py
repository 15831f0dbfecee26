"""The local file system as a store."""

from __future__ import annotations

import contextlib
import filecmp
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from file_dataset.errors import (
    AccessDeniedError,
    IntegrityError,
    ObjectExistsError,
    ObjectNotFoundError,
    TransferError,
)
from file_dataset.uri import LocalLocation

__all__ = ["LocalStore", "atomic_path"]


@contextlib.contextmanager
def atomic_path(dest: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it to ``dest`` if the body succeeds.

    The file is never visible under its final name until it is complete, and
    the temporary file is removed when the body raises (KeyboardInterrupt too).
    Without ``overwrite``, an existing ``dest`` is kept (it is linked, not
    renamed, into place) and `ObjectExistsError` raised unless it holds the
    same bytes.

    Examples:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> with atomic_path(d / "a.txt") as tmp:
        ...     _ = tmp.write_text("hello")
        >>> (d / "a.txt").read_text()
        'hello'
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name[:200]}.{uuid.uuid4().hex[:12]}.part")
    try:
        yield tmp
        if overwrite:
            tmp.replace(dest)
            return
        try:
            os.link(tmp, dest)
        except FileExistsError:
            if not filecmp.cmp(tmp, dest, shallow=False):
                raise ObjectExistsError(
                    f"{dest} already exists (pass overwrite=True to replace it)"
                ) from None
        tmp.unlink()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _translate(err: OSError, path: Path) -> Exception:
    if isinstance(err, ObjectExistsError):
        return err
    if isinstance(err, FileNotFoundError):
        return ObjectNotFoundError(f"no such file: {path}")
    if isinstance(err, PermissionError):
        return AccessDeniedError(f"permission denied: {path}")
    return TransferError(f"copying {path} failed: {err.strerror or err}")


class LocalStore:
    """Files on local disk; `get` and `put` are copies.

    Examples:
        >>> store = LocalStore()
        >>> store.exists(LocalLocation(Path("/no/such/file")))
        False
    """

    def get(self, loc: LocalLocation, dest: Path) -> None:
        """Copy ``loc`` to ``dest``."""
        if not loc.path.is_file():
            raise ObjectNotFoundError(f"no such file: {loc.path}")
        try:
            shutil.copyfile(loc.path, dest)
        except OSError as err:
            raise _translate(err, loc.path) from err

    def put(self, src: Path, loc: LocalLocation, *, overwrite: bool = False) -> None:
        """Copy ``src`` to ``loc`` under a temporary name, then move it into place."""
        try:
            with atomic_path(loc.path, overwrite=overwrite) as tmp:
                shutil.copyfile(src, tmp)
        except OSError as err:
            raise _translate(err, src if not src.exists() else loc.path) from err

    def exists(self, loc: LocalLocation) -> bool:
        """Whether ``loc`` is an existing regular file."""
        return loc.path.is_file()

    def list_keys(self, prefix: LocalLocation) -> list[str]:
        """Files under the directory ``prefix``, relative to it (``/``-separated)."""
        if not prefix.path.is_dir():
            return []
        return [
            p.relative_to(prefix.path).as_posix()
            for p in prefix.path.rglob("*")
            if p.is_file() and not p.name.endswith(".part")
        ]

    def read_range(self, loc: LocalLocation, start: int, length: int) -> bytes:
        """Bytes ``[start, start + length)`` of the file."""
        try:
            with loc.path.open("rb") as f:
                f.seek(start)
                data = f.read(length)
        except OSError as err:
            raise _translate(err, loc.path) from err
        if len(data) != length:
            raise IntegrityError(f"{loc.path} is truncated: wanted {length} bytes at {start}")
        return data

    def read_all(self, loc: LocalLocation) -> bytes:
        """The whole file."""
        try:
            return loc.path.read_bytes()
        except OSError as err:
            raise _translate(err, loc.path) from err
