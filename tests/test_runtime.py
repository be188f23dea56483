import os

from course_lib import runtime


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
    assert runtime.data_dir() == "data"
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path))
    assert runtime.data_dir() == os.path.join(str(tmp_path), "data")
    monkeypatch.setenv("COURSE_DATA", "/elsewhere")
    assert runtime.data_dir() == "/elsewhere"
