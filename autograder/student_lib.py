"""The copy of ``course_lib`` that students receive: every support module, no reference solutions.

It is placed inside each released assignment folder (nbgrader releases an assignment folder as
a whole), so a notebook's kernel, whose working directory is that folder, imports it ahead of
any installed ``course_lib``. Importing a solution module from it fails with ImportError.
"""

import ast
import shutil
from pathlib import Path

import course_lib

PACKAGE_DIR = Path(course_lib.__file__).resolve().parent
SOLUTION_MODULES = frozenset(course_lib.SOLUTION_MODULES)


def student_modules():
    """File names of the modules that ship to students."""
    return sorted(p.name for p in PACKAGE_DIR.glob("*.py") if p.stem not in SOLUTION_MODULES)


def _imports_solution(path):
    """Names of solution modules imported by the support module at ``path`` (a packaging bug if any)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] == "course_lib" and len(parts) > 1 and parts[1] in SOLUTION_MODULES:
                found.add(parts[1])
            if node.module == "course_lib":
                found |= {a.name for a in node.names if a.name in SOLUTION_MODULES}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "course_lib" and len(parts) > 1 and parts[1] in SOLUTION_MODULES:
                    found.add(parts[1])
    return found


def copy_student_lib(dest_parent):
    """Write ``dest_parent/course_lib/`` with the support modules only; return its path."""
    dest = Path(dest_parent) / "course_lib"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in student_modules():
        src = PACKAGE_DIR / name
        leaked = _imports_solution(src)
        if leaked:
            raise RuntimeError(f"course_lib/{name} imports the solution module(s) {sorted(leaked)}; support modules must not.")
        shutil.copy2(src, dest / name)
    return dest
