"""The mechanics of writing a policy file the hub manages: the candidate checked from a
private copy of the directory (so errors name the real file and line), one writer at a time,
and an atomic replace that survives a crash."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path

from hub.errors import Conflict
from hub.policy import Policy
from hub.policy.loader import load_policy
from hub.ports import TargetSpec

__all__ = ["candidate_policy", "locked", "write_atomic"]


def candidate_policy(directory: Path, name: str, content: bytes, *,
                     specs: Mapping[str, type[TargetSpec]],
                     static_lists: Collection[str] | None) -> Policy:
    """The policy ``directory`` would load with file ``name`` holding ``content`` (every other
    policy file as it is now); raises ``PolicyFileInvalid`` naming the file and line, and
    changes nothing on disk."""
    with tempfile.TemporaryDirectory(prefix="hub-candidate-") as tmp:
        copy = Path(tmp) / (directory.resolve().name or "policies")   # the same file names
        copy.mkdir()
        try:
            for path in directory.iterdir():
                if path.suffix in {".yaml", ".yml"} and not path.name.startswith(".") \
                        and path.is_file() and path.name != name:
                    shutil.copyfile(path, copy / path.name)
        except OSError as exc:
            raise Conflict(f"cannot read the policy directory {directory}: "
                           f"{exc.strerror}") from None
        (copy / name).write_bytes(content)
        return load_policy(copy, specs, static_lists=static_lists)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One writer at a time (web threads, the CLI): an exclusive lock on the directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        raise Conflict(f"cannot open the policy directory {directory}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)     # releases the lock


def write_atomic(path: Path, content: bytes, *, refuse: Callable[[str], Exception]) -> None:
    """Replace ``path`` with ``content``: a hidden temporary file beside it (the loader skips
    dot-files), synced, renamed over it, the directory synced. ``refuse(why)`` builds the
    error when the hub may not write there (or ``path`` is a symbolic link); the old file is
    then untouched."""
    directory = path.parent
    if path.is_symlink():     # os.replace would swap the link for a file, silently
        raise refuse("it is a symbolic link, and the hub replaces only a regular file; put "
                     "the file itself there, or edit the file it points to by hand")
    if path.exists() and not os.access(path, os.W_OK):
        raise refuse("the file is read-only")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise refuse("the directory is not writable by the hub")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)        # policy files are not secret; mkstemp made it 0600
        os.replace(tmp, path)
        tmp = None
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)        # the rename itself survives a crash
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
