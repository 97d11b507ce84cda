"""File-system rules shared by every writer (datasets, checkpoints, models, configs): never overwrite unless
asked, and never leave half a file."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cnfrl.errors import CnfrlError, dataset_error


def refuse_overwrite(path: Path, overwrite: bool) -> None:
    """Raise unless `path` is free or the caller explicitly asked to replace it."""
    if path.exists() and not overwrite:
        raise dataset_error(path, "already exists", "pass overwrite=True (CLI: --overwrite) or choose another path")


@contextlib.contextmanager
def atomic_output(path: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename, on error it vanishes."""
    path = Path(path)
    refuse_overwrite(path, overwrite)
    temporary = staging_dir(path.parent, f".{path.name}.") / path.name
    try:
        yield temporary
        if path.is_dir():
            shutil.rmtree(path)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary.parent, ignore_errors=True)


def staging_dir(parent: Path, prefix: str) -> Path:
    """A new temporary folder in `parent` named after this process, for a file or dataset to be moved into place
    when complete. Folders with the same prefix that a killed process of this host left behind (its PID no longer
    running) are removed first, so the next write of the same output clears what a kill -9 left."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    for entry in parent.glob(glob.escape(prefix) + "*"):
        pid, _, rest = entry.name[len(prefix) :].partition("-")
        if pid.isdigit() and rest.startswith(f"{host}-") and not _running(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-{host}-", dir=parent))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the block: processes that would produce the same
    file (two Ray workers pre-training the same flow) take turns, the second finding the first's result. The
    lock dies with its holder, so a killed process blocks nobody."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class DirectoryBusy(CnfrlError):
    """Another live process holds the directory's lock."""


_HELD: dict[Path, Any] = {}
OWNER_FILE = "owner.lock"


@contextlib.contextmanager
def owned(directory: Path, what: str) -> Iterator[None]:
    """Hold `directory` for this process for the block (an exclusive, non-blocking lock on DIRECTORY/owner.lock,
    which names the holder's pid and host): a second process that would write there is refused at once with
    that pid and host. The lock dies with its holder, so a killed process leaves nothing to clean up: the next
    writer takes it over. Re-entrant within one process (a run's training and its evaluation)."""
    directory = Path(directory).absolute()
    if directory in _HELD:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / OWNER_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "a process that has not said which"
        handle.close()
        raise DirectoryBusy(
            f"{directory}: {what} is in use by another cnfrl process ({holder}); wait for it to end, or stop it, "
            "then run again (a process that died leaves no lock behind)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on host {socket.gethostname()}")
    handle.flush()
    _HELD[directory] = handle
    try:
        yield
    finally:
        del _HELD[directory]
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def write_atomically(path: Path, content: bytes | str) -> Path:
    """Replace `path` with `content` in one rename: a killed writer leaves the previous file (or none)."""
    with atomic_output(Path(path), overwrite=True) as temporary:
        if isinstance(content, str):
            temporary.write_text(content)
        else:
            temporary.write_bytes(content)
    return Path(path)


def check_writable(directory: Path, fix: str) -> None:
    """Fail now, in one line, if files cannot be written under `directory`, rather than after the work that
    would fill it. Nothing is created: the nearest existing folder on the way is what gets tested."""
    existing = Path(directory).absolute()
    while not existing.exists():
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "a file stands where a folder is needed", str(existing))
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".cnfrl-write-check-"):
            pass
    except OSError as error:
        raise dataset_error(directory, f"cannot be written to ({error.strerror or error})", fix) from error


def require_file(path: Path, kind: str) -> None:
    """Raise a one-line error when a dataset path is missing or is a directory where a file was expected."""
    if not path.exists():
        raise dataset_error(path, "no such file", "check the path, or name a built-in dataset or a Minari id instead")
    if not path.is_file():
        raise dataset_error(path, f"is a directory, not a {kind} file", f"point to the {kind} file itself")
