"""The student workspace of ``course lab``, kept in sync with the release without losing work.

``workspace/.course-manifest.json`` records the checksum of every file as it was last
released. On the next ``course lab`` a file is replaced only if it still has that checksum
(the student never changed it); a changed file is kept, and new notebooks are added.
"""

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from autograder.release import MARKER, release

MANIFEST = ".course-manifest.json"


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def sync_workspace(course_root, workspace):
    """Bring ``workspace`` up to the current release; return ``(added, updated, kept)`` relative paths."""
    workspace = Path(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    manifest_path = workspace / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    except json.JSONDecodeError:
        manifest = {}  # a damaged manifest only means every existing file counts as changed: kept
    added, updated, kept = [], [], []
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        release(course_root, tmp)
        for src in sorted(Path(tmp).rglob("*")):
            if src.is_dir() or src.name == MARKER:
                continue
            rel = src.relative_to(tmp).as_posix()
            dest = workspace / rel
            new_sha = _sha(src)
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
                added.append(rel)
            elif _sha(dest) == new_sha:
                pass
            elif manifest.get(rel) == _sha(dest):
                shutil.copy2(src, dest)
                updated.append(rel)
            else:
                kept.append(rel)
                continue  # the student's version stays; the manifest keeps the old release checksum
            manifest[rel] = new_sha
    tmp_manifest = manifest_path.with_suffix(".tmp")
    tmp_manifest.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    tmp_manifest.replace(manifest_path)
    return added, updated, kept
