"""The copy of ``course_lib`` that students receive: the package without ``course_lib/solutions/``.

It is placed inside each released assignment folder (nbgrader releases an assignment folder as
a whole), so a notebook's kernel, whose working directory is that folder, imports it ahead of
any installed ``course_lib``. Importing ``course_lib.solutions`` from it fails with ImportError.
"""

import ast
import hashlib
import shutil
from pathlib import Path

import course_lib

PACKAGE_DIR = Path(course_lib.__file__).resolve().parent
SOLUTIONS = course_lib.SOLUTIONS_PACKAGE


def student_modules():
    """File names of the modules that ship to students (every top-level module of ``course_lib``)."""
    return sorted(p.name for p in PACKAGE_DIR.glob("*.py"))


_CHECKED = {}   # a module's bytes' checksum -> whether it imports a solution (parsed once per version)


def _imports_solution(path):
    """True if the support module at ``path`` imports from ``course_lib.solutions`` (a packaging bug).
    Parsed once per process and version of the file: each grading job copies the package."""
    text = path.read_bytes()
    key = hashlib.sha256(text).digest()
    if key not in _CHECKED:
        _CHECKED[key] = _parse_imports_solution(text.decode("utf-8"), path)
    return _CHECKED[key]


def _parse_imports_solution(text, path):
    tree = ast.parse(text, filename=str(path))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if node.level:
                names += [f"course_lib.{node.module}"]
        elif isinstance(node, ast.ImportFrom) and node.level:
            names = [f"course_lib.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        if any(n == f"course_lib.{SOLUTIONS}" or n.startswith(f"course_lib.{SOLUTIONS}.") for n in names):
            return True
    return False


def copy_student_lib(dest_parent):
    """Write ``dest_parent/course_lib/`` with the support modules only; return its path."""
    dest = Path(dest_parent) / "course_lib"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in student_modules():
        src = PACKAGE_DIR / name
        if _imports_solution(src):
            raise RuntimeError(f"course_lib/{name} imports from course_lib.{SOLUTIONS}; support modules must not.")
        shutil.copy2(src, dest / name)
    return dest
