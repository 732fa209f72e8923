"""manifest.json: checksums of every output, spec hashes, determinism, verification."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from studybuild.errors import InputError, UsageError
from studybuild.manifest import check_manifest, verify_manifest, write_manifest
from studybuild.paths import studies_dir

SPEC = studies_dir() / "surufatinib-sts" / "study.yaml"
DM = "m5/datasets/surufatinib-sts/tabulations/sdtm/dm.xpt"


def _package(root: Path) -> Path:
    d = root / "surufatinib-sts"
    (d / DM).parent.mkdir(parents=True)
    (d / "figures").mkdir()
    (d / DM).write_bytes(b"HEADER RECORD" + b"\0" * 67)
    (d / "report.html").write_text("<html>report</html>\n", encoding="utf-8")
    (d / "figures" / "km_pfs.png").write_bytes(b"\x89PNG fake")
    (d / ".report.html.abc.tmp").write_text("half-written temp file")   # hidden: not listed
    return d


def _write(d: Path, **kw) -> Path:
    args = dict(tool_version="0.1.0", spec_files=[SPEC], ct_version="2025-03-28",
                gate_overridden=False)
    args.update(kw)
    return write_manifest(d, **args)


def test_manifest_content(tmp_path):
    d = _package(tmp_path)
    m = json.loads(_write(d, gate_overridden=True, extra={"formats": ["xpt", "json"]})
                   .read_text(encoding="utf-8"))
    assert m["tool"] == "studybuild" and m["tool_version"] == "0.1.0"
    assert m["ct_version"] == "2025-03-28" and m["gate_overridden"] is True
    assert m["study"] == "surufatinib-sts" and m["extra"] == {"formats": ["xpt", "json"]}
    # files sorted by relative POSIX path; the hidden temp file and the manifest are not listed
    assert [f["path"] for f in m["files"]] == ["figures/km_pfs.png", DM, "report.html"]
    report = next(f for f in m["files"] if f["path"] == "report.html")
    body = b"<html>report</html>\n"
    assert report == {"path": "report.html", "sha256": hashlib.sha256(body).hexdigest(),
                      "size": len(body)}
    assert m["file_count"] == 3 and m["total_bytes"] == 80 + len(body) + 9
    # spec files named relative to the specs folder, with their hash
    assert m["specs"] == [{"path": "specs/studies/surufatinib-sts/study.yaml",
                           "sha256": hashlib.sha256(SPEC.read_bytes()).hexdigest(),
                           "size": SPEC.stat().st_size}]
    # tree hash: SHA-256 over "sha256  size  path\n" lines in file order
    lines = "".join(f"{f['sha256']}  {f['size']}  {f['path']}\n" for f in m["files"])
    assert m["tree_sha256"] == hashlib.sha256(lines.encode()).hexdigest()


def test_manifest_is_deterministic(tmp_path):
    a = _write(_package(tmp_path / "a")).read_bytes()
    b = _write(_package(tmp_path / "b")).read_bytes()
    assert a == b                       # no clock, no absolute output path
    d = tmp_path / "a" / "surufatinib-sts"
    assert _write(d).read_bytes() == a  # rewriting ignores the old manifest
    assert a.endswith(b"\n") and b"\r" not in a


def test_verify_detects_changed_missing_and_added(tmp_path):
    d = _package(tmp_path)
    _write(d)
    assert verify_manifest(d) == []
    (d / "report.html").write_text("<html>tampered</html>\n", encoding="utf-8")
    assert verify_manifest(d) == ["report.html"]
    (d / "figures" / "km_pfs.png").unlink()
    (d / "extra.txt").write_text("new")
    check = check_manifest(d)
    assert (check.changed, check.missing, check.added) == \
        (["report.html"], ["figures/km_pfs.png"], ["extra.txt"])
    assert verify_manifest(d) == ["extra.txt", "figures/km_pfs.png", "report.html"]
    assert not check.ok


def test_same_size_change_is_detected(tmp_path):
    d = _package(tmp_path)
    _write(d)
    p = d / DM
    data = bytearray(p.read_bytes())
    data[-1] = 1                         # one byte flipped, size unchanged
    p.write_bytes(bytes(data))
    assert verify_manifest(d) == [DM]


def test_errors(tmp_path):
    with pytest.raises(UsageError, match="not a folder"):
        _write(tmp_path / "nope")
    d = _package(tmp_path)
    with pytest.raises(InputError, match="spec file not found"):
        _write(d, spec_files=[tmp_path / "missing.yaml"])
    with pytest.raises(UsageError, match="must be JSON data"):
        _write(d, extra={"when": object()})
    with pytest.raises(InputError, match="manifest not found"):
        verify_manifest(d)
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        verify_manifest(d)
    (d / "manifest.json").write_text('{"files": 3}')
    with pytest.raises(InputError, match="not a studybuild manifest"):
        verify_manifest(d)
