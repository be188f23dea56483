"""The student copy of course_lib: the support modules only, and a support module that imports a
reference solution is a packaging bug that stops the copy (checked again whenever a file changes)."""

import pytest

from autograder import student_lib


@pytest.fixture
def package(tmp_path, monkeypatch):
    pkg = tmp_path / "course_lib"
    (pkg / "solutions").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "plots.py").write_text("import numpy as np\n")
    (pkg / "solutions" / "optim.py").write_text("def adam(): pass\n")
    monkeypatch.setattr(student_lib, "PACKAGE_DIR", pkg)
    return pkg


def test_the_copy_holds_the_support_modules_and_no_solutions(package, tmp_path):
    dest = student_lib.copy_student_lib(tmp_path / "out")
    assert sorted(p.name for p in dest.iterdir()) == ["__init__.py", "plots.py"]


@pytest.mark.parametrize("line", ["from course_lib.solutions import optim\n", "from .solutions.optim import adam\n",
                                  "import course_lib.solutions.optim\n", "from . import solutions\n"])
def test_a_support_module_that_imports_a_solution_stops_the_copy_even_after_a_clean_copy(package, tmp_path, line):
    student_lib.copy_student_lib(tmp_path / "first")          # clean: its check is remembered...
    (package / "plots.py").write_text("import numpy as np\n" + line)
    with pytest.raises(RuntimeError, match="plots.py imports from course_lib.solutions"):
        student_lib.copy_student_lib(tmp_path / "second")     # ...but the changed file is checked again
