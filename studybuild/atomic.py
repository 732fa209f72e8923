"""Atomic output: a file or a whole folder appears complete or not at all.

- :func:`atomic_file` yields a temporary path beside the target; on success it is fsynced and
  renamed over the target (``os.replace`` is atomic on POSIX within one filesystem).
- :func:`staged_dir` yields an empty temporary folder beside the target folder; on success the
  old folder is swapped out and the new one moved into place, so a build killed part-way leaves
  the previous outputs intact, and two builds into different folders never share temp paths.
  On Linux the swap is one ``renameat2(RENAME_EXCHANGE)``, so the target is never missing,
  not even for an instant; elsewhere two renames.

Temporary names carry the host and process id (``.dm.xpt.host-4242.x1y2.tmp``,
``.OUT.staging-host-4242-x1y2``): what a killed process left behind (SIGKILL runs no
cleanup) is removed by the next write to the same target once that process is gone, and a
target that a kill between the two renames of the fallback swap left missing is restored
from its aside copy.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
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


def _owner() -> str:
    """host-pid, the part of temporary names that says whose they are."""
    host = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:32] or "host"
    return f"{host}-{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:          # e.g. EPERM: someone else's live process
        return True
    return True


def _stale(folder: Path, pattern: str) -> list[Path]:
    """Entries of ``folder`` matching ``pattern`` (a regex with a ``pid`` group, after the
    host) left by a process of this host that no longer runs."""
    host = _owner().rsplit("-", 1)[0]
    rx = re.compile(pattern.format(host=re.escape(host)))
    out = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return out
    for p in entries:
        m = rx.fullmatch(p.name)
        if m and int(m.group("pid")) != os.getpid() and not _alive(int(m.group("pid"))):
            out.append(p)
    return sorted(out)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            p.unlink()


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path in the target's folder; rename it over ``target`` if the block ends
    without an exception, delete it otherwise."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for p in _stale(target.parent, rf"\.{re.escape(target.name)}\.{{host}}-(?P<pid>\d+)\..+\.tmp"):
        _remove(p)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{_owner()}.", suffix=".tmp",
                               dir=target.parent)
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


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2 RENAME_EXCHANGE); False when the
    system or file system cannot, so the caller falls back to two renames."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _recover(target: Path) -> None:
    """Clean up after processes killed inside :func:`staged_dir`: their staging folders go,
    and if the target is missing (killed between the two renames of the fallback swap) the
    newest aside copy of the old output is put back."""
    name = re.escape(target.name)
    for p in _stale(target.parent, rf"\.{name}\.staging-{{host}}-(?P<pid>\d+)-.+"):
        _remove(p)
    asides = _stale(target.parent, rf"\.{name}\.old-{{host}}-(?P<pid>\d+)-.+")
    if asides and not target.exists():
        newest = max(asides, key=lambda p: p.stat().st_mtime)
        os.replace(newest, target)
        asides.remove(newest)
    for p in asides:
        _remove(p)


@contextlib.contextmanager
def staged_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh folder next to ``target``; on success replace ``target`` with it.

    The swap exchanges the two folders in one step where the system can (else renames the
    old folder aside and the new one into place), then deletes the old one: at every instant
    ``target`` is either the complete old or the complete new output.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _recover(target)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-{_owner()}-",
                                  dir=target.parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    os.chmod(stage, 0o755)
    if target.exists() and _exchange(stage, target):
        _fsync_dir(target.parent)
        shutil.rmtree(stage, ignore_errors=True)      # now holds the old output
        return
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{_owner()}-",
                                    dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
    os.replace(stage, target)
    _fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
