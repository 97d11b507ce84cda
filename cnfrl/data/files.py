"""File-system rules shared by every writer (datasets, checkpoints, models, configs): never overwrite unless
asked, and never leave half a file."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cnfrl.errors import dataset_error


def refuse_overwrite(path: Path, overwrite: bool) -> None:
    """Raise unless `path` is free or the caller explicitly asked to replace it."""
    if path.exists() and not overwrite:
        raise dataset_error(path, "already exists", "pass overwrite=True (CLI: --overwrite) or choose another path")


@contextlib.contextmanager
def atomic_output(path: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename, on error it vanishes."""
    path = Path(path)
    refuse_overwrite(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) / path.name
    try:
        yield temporary
        if path.is_dir():
            shutil.rmtree(path)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary.parent, ignore_errors=True)


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
