"""Atomic output: a file or a whole folder appears complete or not at all.

- :func:`atomic_file` yields a temporary path beside the target; on success it is fsynced and
  renamed over the target (``os.replace`` is atomic on POSIX within one filesystem).
- :func:`staged_dir` yields an empty temporary folder beside the target folder; on success the
  old folder is swapped out and the new one moved into place, so a build killed part-way leaves
  the previous outputs intact, and two builds into different folders never share temp paths.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path in the target's folder; rename it over ``target`` if the block ends
    without an exception, delete it otherwise."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, target)
        _fsync_dir(target.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    target = Path(target)
    with atomic_file(target) as tmp:
        tmp.write_bytes(data)
    return target


def write_text(target: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text with ``\\n`` line ends, atomically."""
    return write_bytes(target, text.encode("utf-8"))


@contextlib.contextmanager
def staged_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh folder next to ``target``; on success replace ``target`` with it.

    The swap renames the old folder aside, renames the new one into place, then deletes the
    old one: at every instant ``target`` is either the complete old or the complete new output.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
    os.replace(stage, target)
    os.chmod(target, 0o755)
    _fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
