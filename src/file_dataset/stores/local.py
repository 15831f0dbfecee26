"""The local file system as a store."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from file_dataset.errors import AccessDeniedError, ObjectNotFoundError, TransferError
from file_dataset.uri import LocalLocation

__all__ = ["LocalStore", "atomic_path"]


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it to ``dest`` if the body succeeds.

    The file is never visible under its final name until it is complete, and
    the temporary file is removed when the body raises (KeyboardInterrupt too).

    Example:
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
        tmp.replace(dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _translate(err: OSError, path: Path) -> Exception:
    if isinstance(err, FileNotFoundError):
        return ObjectNotFoundError(f"no such file: {path}")
    if isinstance(err, PermissionError):
        return AccessDeniedError(f"permission denied: {path}")
    return TransferError(f"copying {path} failed: {err.strerror or err}")


class LocalStore:
    """Files on local disk; `get` and `put` are copies.

    Example:
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

    def put(self, src: Path, loc: LocalLocation) -> None:
        """Copy ``src`` to ``loc`` under a temporary name, then rename it into place."""
        try:
            with atomic_path(loc.path) as tmp:
                shutil.copyfile(src, tmp)
        except OSError as err:
            raise _translate(err, src if not src.exists() else loc.path) from err

    def exists(self, loc: LocalLocation) -> bool:
        """Whether ``loc`` is an existing regular file."""
        return loc.path.is_file()
