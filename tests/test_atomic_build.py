"""Atomic, repeatable output: a build killed part-way (SIGKILL, which runs no cleanup) leaves the
previous output intact and no half-written file in it; the next build cleans up what the
killed one left; two builds of the same inputs are byte-identical, manifest included, also
when they run at the same time into different folders.

The commands run as real subprocesses on a small simulated study (3 subjects). Kill points
are found by watching the file system (no timing asserted): while the command still imports
and maps, when its staging folder appears, and when the staging folder holds part of the
XPT files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bad_inputs import corpus
from studybuild.export.layout import layout

REPO = Path(__file__).resolve().parent.parent
SDTM = Path(layout(corpus.STUDY).sdtm)            # the SDTM folder inside a package


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return corpus.make_base(tmp_path_factory.mktemp("atomic-base")) / "raw"


def tree(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file (hidden ones included)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("STUDYBUILD_SPECS", None)
    return env


def studybuild(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "studybuild", *args], cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def sdtm_here(raw: Path, out: Path) -> int:
    """`studybuild sdtm` in this process (the builds that are not killed)."""
    from click.testing import CliRunner

    from studybuild.cli import cli

    res = CliRunner().invoke(cli, ["sdtm", "--study", corpus.STUDY, "--raw", str(raw),
                                   "--out", str(out)])
    assert "Traceback" not in res.output, res.output
    return res.exit_code


def _staging(parent: Path, name: str) -> list[Path]:
    return [p for p in parent.iterdir() if p.name.startswith(f".{name}.staging-")] \
        if parent.is_dir() else []


def kill_when(proc: subprocess.Popen, ready, limit: float = 300.0) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()`` is true; False if it ended first."""
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < limit:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            return proc.returncode == -signal.SIGKILL
        time.sleep(0.002)
    proc.communicate()
    return False


def test_sdtm_killed_part_way_leaves_the_previous_output(raw, tmp_path):
    out = tmp_path / "sdtm"                      # the previous output (any content will do)
    (out / "traceability").mkdir(parents=True)
    (out / "ae.xpt").write_bytes(b"previous AE\n" * 500)
    (out / "traceability" / "lineage.csv").write_text("DOMAIN,RECORD\nAE,1\n")
    before = tree(out)

    prev = tmp_path / "prev"
    shutil.copytree(out, prev)

    def xpts_in_stage() -> int:
        return sum(len(list(s.glob("*.xpt"))) for s in _staging(tmp_path, "sdtm"))

    points = {
        "while it imports and maps": lambda t0: time.monotonic() - t0 > 1.0,
        "when its staging folder appears": lambda t0: bool(_staging(tmp_path, "sdtm")),
        "with part of the XPT files written": lambda t0: xpts_in_stage() >= 5,
    }
    for what, ready in points.items():
        for _attempt in range(3):
            proc = studybuild("sdtm", "--study", corpus.STUDY, "--raw", str(raw),
                              "--out", str(out))
            t0 = time.monotonic()
            if kill_when(proc, lambda: ready(t0)):
                break
            shutil.rmtree(out)              # it finished before the kill: put back, retry
            shutil.copytree(prev, out)
        else:
            pytest.fail(f"could not kill the build {what}")
        assert tree(out) == before, f"killed {what}: the previous output changed"
        hidden = [p.name for p in out.rglob("*") if p.name.startswith(".")]
        assert not hidden, f"killed {what}: half-written files in the output: {hidden}"
    # the killed builds left staging folders beside the output; the next build removes them
    # and writes the new output completely
    assert _staging(tmp_path, "sdtm")
    assert sdtm_here(raw, out) == 0
    assert not _staging(tmp_path, "sdtm")
    after = tree(out)
    assert {"ae.xpt", "dm.xpt", "tr.xpt", "traceability/accounting.csv",
            "traceability/exclusions.csv", "traceability/findings.json"} <= after.keys()
    assert after["ae.xpt"] != before["ae.xpt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prev", "sdtm"]


def test_staged_dir_restores_an_output_left_aside_by_a_killed_swap(tmp_path):
    """Where the one-step exchange is not available the swap is two renames; a kill between
    them leaves the old output aside and none in place: the next staged_dir puts it back
    before it starts."""
    from studybuild import atomic

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()                                  # a process id that no longer runs
    host = atomic._owner().rsplit("-", 1)[0]
    aside = tmp_path / f".out.old-{host}-{dead.pid}-x1"
    aside.mkdir()
    (aside / "dm.xpt").write_text("previous")
    stale = tmp_path / f".out.staging-{host}-{dead.pid}-x2"
    stale.mkdir()
    (stale / "half.xpt").write_text("half")
    with pytest.raises(RuntimeError):
        with atomic.staged_dir(tmp_path / "out"):
            raise RuntimeError("this build fails too")
    assert (tmp_path / "out" / "dm.xpt").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_file_cleans_temp_files_of_killed_writers(tmp_path):
    from studybuild import atomic

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = atomic._owner().rsplit("-", 1)[0]
    (tmp_path / f".dm.xpt.{host}-{dead.pid}.abc.tmp").write_text("half")
    alive = tmp_path / f".dm.xpt.{host}-1.abc.tmp"        # pid 1 runs: not ours to remove
    alive.write_text("busy")
    atomic.write_text(tmp_path / "dm.xpt", "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, "dm.xpt"]


@pytest.mark.slow
def test_whole_pipeline_killed_concurrent_and_repeated(raw, tmp_path):
    """`studybuild build` three times on the same inputs:

    1. A into a/ and, at the same time, C into b/, which holds a previous package; C is
       SIGKILLed once its package is being written (its staging folder has the SDTM XPT
       files). b/ still holds exactly the previous package, nothing half-written in it.
    2. B into b/ afterwards (another wall-clock time): it replaces the previous package and
       removes what C left. Every file of A and B, manifest and define.xml included, is byte
       for byte the same, so the build running beside A (C) did not disturb it either.
    """
    a, b = tmp_path / "a", tmp_path / "b"
    old = b / corpus.STUDY                      # a previous package (any content will do)
    (old / SDTM).mkdir(parents=True)
    (old / SDTM / "dm.xpt").write_bytes(b"previous DM\n" * 300)
    (old / "manifest.json").write_text('{"study": "previous"}\n')
    previous = tree(old)

    def exporting() -> bool:
        return any(len(list((s / SDTM).glob("*.xpt"))) >= 3
                   for s in _staging(b, corpus.STUDY))

    args = ("build", "--study", corpus.STUDY, "--raw", str(raw), "--allow-errors", "--out")
    proc_a = studybuild(*args, str(a))
    proc_c = studybuild(*args, str(b))
    killed = kill_when(proc_c, exporting, limit=900)
    out_a, err_a = proc_a.communicate(timeout=900)
    assert proc_a.returncode in (0, 1) and "Traceback" not in err_a, err_a
    assert killed, "the build in b/ ended before its package was being written"
    assert tree(old) == previous, "the killed build changed the previous package"
    assert _staging(b, corpus.STUDY)            # what the killed build left beside it
    proc_b = studybuild(*args, str(b))
    out_b, err_b = proc_b.communicate(timeout=900)
    assert proc_b.returncode == proc_a.returncode and "Traceback" not in err_b, err_b
    ta, tb = tree(a / corpus.STUDY), tree(b / corpus.STUDY)
    assert "manifest.json" in ta and any(k.endswith("define.xml") for k in ta)
    assert any(k.endswith(".xpt") for k in ta) and any(k.endswith(".json") for k in ta)
    assert ta == tb, sorted(k for k in ta.keys() | tb.keys() if ta.get(k) != tb.get(k))
    for o in (a, b):
        assert sorted(p.name for p in o.iterdir()) == [corpus.STUDY]
