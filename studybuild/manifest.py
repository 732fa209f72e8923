"""The package manifest: ``OUT/ID/manifest.json``, what was built from what, with checksums.

A reviewer or a CI job can tell from the manifest alone which studybuild version built the
package, from which spec files (SHA-256 each) and CT version, whether the conformance gate was
overridden, and — for every file in the package — its size and SHA-256. :func:`verify_manifest`
recomputes the checksums and names every file that changed, vanished or appeared since.

The manifest is deterministic: no clock time, host name or absolute output path; files sorted
by their POSIX relative path; JSON with sorted keys. Two builds from the same inputs therefore
give byte-identical manifests, and ``tree_sha256`` (one hash over the file list) is a single
fingerprint of the whole package. Write it last: it describes the folder as it is then.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.txt").write_text("hello\\n")
    >>> p = write_manifest(d, tool_version="0.1.0", spec_files=[], ct_version="2025-03-28",
    ...                    gate_overridden=False)
    >>> verify_manifest(d)
    []
    >>> _ = (d / "a.txt").write_text("changed\\n")
    >>> verify_manifest(d)
    ['a.txt']
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from studybuild.atomic import write_text
from studybuild.errors import InputError, UsageError

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _package_files(study_dir: Path) -> list[Path]:
    """Every regular file under ``study_dir`` except the manifest itself and hidden files
    (the temporary files of atomic writes start with a dot), sorted by relative path."""
    out = []
    for root, dirs, files in os.walk(study_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith("."):
                continue
            p = Path(root) / name
            rel = p.relative_to(study_dir)
            if rel.as_posix() == MANIFEST_NAME or not p.is_file():
                continue
            out.append(p)
    return sorted(out, key=lambda p: p.relative_to(study_dir).as_posix())


def _spec_path(path: Path) -> str:
    """How a spec file is named in the manifest: relative to the specs folder when inside it
    (``specs/studies/ID/study.yaml``), else relative to the working folder, else absolute."""
    from studybuild.paths import specs_dir

    p = Path(path).resolve()
    root = specs_dir()
    for base, prefix in ((root, "specs/"), (Path.cwd().resolve(), "")):
        try:
            return prefix + p.relative_to(base).as_posix()
        except ValueError:
            continue
    return p.as_posix()


def _entry(path: Path, name: str) -> dict[str, Any]:
    return {"path": name, "sha256": sha256_file(path), "size": path.stat().st_size}


def _entries(items: list[tuple[Path, str]]) -> list[dict[str, Any]]:
    """:func:`_entry` of every (path, name), in order, hashed by two threads: hashlib and
    file reads release the GIL, so a package of large files hashes in about half the time."""
    if len(items) < 2:
        return [_entry(p, n) for p, n in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2, thread_name_prefix="sha256") as pool:
        return list(pool.map(lambda item: _entry(*item), items))


def _tree_hash(files: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f['sha256']}  {f['size']}  {f['path']}\n".encode("utf-8"))
    return h.hexdigest()


def build_manifest(study_dir: Path, *, tool_version: str, spec_files: Sequence[Path],
                   ct_version: str, gate_overridden: bool,
                   extra: Mapping | None = None, study: str | None = None) -> dict[str, Any]:
    """The manifest as a dict (what :func:`write_manifest` writes). ``study`` names the
    package (default: the folder's name; give it when writing into a staging folder)."""
    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        raise UsageError(f"{study_dir}: not a folder; the manifest describes a built package")
    specs = []
    for s in spec_files:
        s = Path(s)
        if not s.is_file():
            raise InputError("spec file not found", path=s,
                             hint="pass the spec files the build actually read")
        specs.append(_entry(s, _spec_path(s)))
    specs = sorted({d["path"]: d for d in specs}.values(), key=lambda d: d["path"])
    files = _entries([(p, p.relative_to(study_dir).as_posix())
                      for p in _package_files(study_dir)])
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "tool": "studybuild",
        "tool_version": tool_version,
        "study": study or study_dir.name,
        "ct_version": ct_version,
        "gate_overridden": bool(gate_overridden),
        "specs": specs,
        "files": files,
        "file_count": len(files),
        "total_bytes": sum(f["size"] for f in files),
        "tree_sha256": _tree_hash(files),
    }
    if extra:
        try:
            json.dumps(extra, sort_keys=True)
        except TypeError as e:
            raise UsageError(f"manifest 'extra' must be JSON data (str, number, bool, None, "
                             f"list, dict): {e}") from None
        manifest["extra"] = dict(extra)
    return manifest


def write_manifest(study_dir: Path, *, tool_version: str, spec_files: Sequence[Path],
                   ct_version: str, gate_overridden: bool,
                   extra: Mapping | None = None, study: str | None = None) -> Path:
    """Write ``study_dir/manifest.json`` atomically and return its path.

    Lists every file under ``study_dir`` (relative POSIX path, SHA-256, size; sorted), the
    SHA-256 of each spec file, the tool and CT versions and the gate-override flag. ``extra``
    (JSON data) is stored under ``"extra"``. Call it after everything else is written.
    """
    manifest = build_manifest(study_dir, tool_version=tool_version, spec_files=spec_files,
                              ct_version=ct_version, gate_overridden=gate_overridden,
                              extra=extra, study=study)
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return write_text(Path(study_dir) / MANIFEST_NAME, text)


@dataclass(frozen=True)
class ManifestCheck:
    """What :func:`check_manifest` found: relative paths, each list sorted."""

    changed: list[str]       # listed, present, but size or SHA-256 differ
    missing: list[str]       # listed, no longer there
    added: list[str]         # there, not listed

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.added)

    def problems(self) -> list[str]:
        return sorted(self.changed + self.missing + self.added)


def read_manifest(study_dir: Path) -> dict[str, Any]:
    path = Path(study_dir) / MANIFEST_NAME
    if not path.is_file():
        raise InputError("manifest not found", path=path,
                         hint="build the package first (studybuild build)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"manifest is not valid JSON: {e}", path=path) from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list) or not all(
            isinstance(f, dict) and {"path", "sha256", "size"} <= set(f) for f in data["files"]):
        raise InputError("not a studybuild manifest (no 'files' list of path/sha256/size)",
                         path=path)
    return data


def check_manifest(study_dir: Path) -> ManifestCheck:
    """Compare the folder with its manifest: changed, missing and added files."""
    study_dir = Path(study_dir)
    listed = {f["path"]: f for f in read_manifest(study_dir)["files"]}
    present = {p.relative_to(study_dir).as_posix(): p for p in _package_files(study_dir)}
    changed, missing = [], []
    for name, f in sorted(listed.items()):
        p = present.get(name)
        if p is None:
            missing.append(name)
        elif p.stat().st_size != f["size"] or sha256_file(p) != f["sha256"]:
            changed.append(name)
    added = sorted(set(present) - set(listed))
    return ManifestCheck(changed, missing, added)


def verify_manifest(study_dir: Path) -> list[str]:
    """Relative paths of the files that no longer match the manifest — changed, missing, or
    not listed — sorted; empty when the package is intact. Raises InputError when the
    manifest is absent or unreadable."""
    return check_manifest(study_dir).problems()
