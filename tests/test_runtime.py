import os
import shutil
import subprocess
import sys
from pathlib import Path

from autograder.release import MARKER
from course_lib import runtime

ROOT = Path(__file__).resolve().parent.parent


def test_grading_mode_follows_the_environment(monkeypatch):
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    monkeypatch.delenv("NBGRADER_VALIDATING", raising=False)
    assert not runtime.is_grading()
    monkeypatch.setenv("COURSE_GRADING", "1")
    assert runtime.is_grading()
    monkeypatch.setenv("COURSE_GRADING", "0")
    assert not runtime.is_grading()


def test_validate_button_counts_as_grading(monkeypatch):
    # nbgrader's Validate runs the notebook with NBGRADER_VALIDATING=1: demos shrink there too
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    monkeypatch.setenv("NBGRADER_VALIDATING", "1")
    assert runtime.is_grading()
    monkeypatch.setenv("NBGRADER_VALIDATING", "0")
    assert not runtime.is_grading()


def test_demo_size_shrinks_when_grading():
    assert runtime.demo_size(1000, 100, grading=True) == 10
    assert runtime.demo_size(1000, 5, grading=True) == 1
    assert runtime.demo_size(1000, 100, grading=False) in (100, 1000)


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA", raising=False)
    monkeypatch.delenv("COURSE_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)  # a kernel in some notebook's folder: still the checkout's data/
    assert runtime.data_dir() == str(ROOT / "data")
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    assert runtime.data_dir() == os.path.join(str(tmp_path), "data")
    monkeypatch.setenv("COURSE_DATA", "/elsewhere")
    assert runtime.data_dir() == "/elsewhere"


def _data_dir_seen_from(folder):
    """``data_dir()`` of the ``course_lib`` in ``folder``, asked from a new process run in ``folder``."""
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_DATA", "COURSE_ROOT")}
    out = subprocess.run([sys.executable, "-c", "import course_lib, course_lib.runtime as r; "
                          "print(course_lib.__file__); print(r.data_dir())"],
                         cwd=folder, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    where, data = out.stdout.splitlines()
    assert Path(where).resolve().parent == (folder / "course_lib").resolve()  # the copy, not the checkout's
    return data


def test_a_released_folder_keeps_its_data_beside_its_notebook(tmp_path):
    assert runtime.RELEASE_MARKER == MARKER
    folder = tmp_path / "01_gradient_descent"
    shutil.copytree(ROOT / "course_lib", folder / "course_lib", ignore=shutil.ignore_patterns("__pycache__", "solutions"))
    assert _data_dir_seen_from(folder) == "data"  # not ours, not in a checkout: the working directory's
    (folder / MARKER).write_text("{}\n")
    assert _data_dir_seen_from(folder) == str(folder.resolve() / "data")
