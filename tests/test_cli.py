"""The ``course`` command on bad input: one clear sentence, a non-zero exit, nothing overwritten."""

import json
import os

from conftest import ROOT, run_course


def _one_sentence(proc):
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert len(err.splitlines()) == 1, err
    return err


def test_check_a_missing_path(tmp_path):
    err = _one_sentence(run_course("check", tmp_path / "nope.ipynb"))
    assert "does not exist" in err


def test_check_a_file_that_is_not_a_notebook(tmp_path):
    assert "is not a notebook" in _one_sentence(run_course("check", ROOT / "pyproject.toml"))
    bad = tmp_path / "01_gradient_descent.ipynb"
    bad.write_text("{ not json")
    assert "not valid notebook JSON" in _one_sentence(run_course("check", bad))
    other = tmp_path / "other.ipynb"
    other.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "1", "metadata": {}, "outputs": [], "execution_count": None}],
                                 "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert "is not a notebook of this course" in _one_sentence(run_course("check", other))


def test_release_an_assignment_that_does_not_exist(tmp_path):
    err = _one_sentence(run_course("release", "--out", tmp_path / "rel", "99_nothing"))
    assert "There is no assignment '99_nothing'" in err
    assert not (tmp_path / "rel").exists()


def test_release_never_overwrites_a_folder_it_did_not_write(tmp_path):
    mine = tmp_path / "01_gradient_descent"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    err = _one_sentence(run_course("release", "--out", tmp_path, "01_gradient_descent"))
    assert "was not written by `course release`" in err
    assert (mine / "notes.txt").read_text() == "keep me"


def test_grade_a_missing_folder_and_an_empty_one(tmp_path):
    assert "is not a folder" in _one_sentence(run_course("grade", tmp_path / "missing", "--out", tmp_path / "o"))
    (tmp_path / "empty").mkdir()
    assert "No submissions found" in _one_sentence(run_course("grade", tmp_path / "empty", "--out", tmp_path / "o"))


def test_a_wrong_course_dir(tmp_path):
    assert "No course found" in _one_sentence(run_course("--course-dir", tmp_path, "release"))


def test_lab_sync_keeps_the_students_work(tmp_path):
    ws = tmp_path / "ws"
    first = run_course("lab", "--sync-only", "--workspace", ws)
    assert first.returncode == 0, first.stderr
    nb = next(ws.glob("01_*/*.ipynb"))
    lib_file = next(ws.glob("01_*/course_lib/landscapes.py"))
    nb.write_text(nb.read_text().replace("raise NotImplementedError()", "return 42", 1))
    mine = nb.read_text()
    lib_file.unlink()
    again = run_course("lab", "--sync-only", "--workspace", ws)
    assert again.returncode == 0, again.stderr
    assert nb.read_text() == mine, "course lab overwrote a notebook the student changed"
    assert lib_file.exists(), "a deleted helper file was not restored"
    assert f"kept your version of {nb.relative_to(ws).as_posix()}" in again.stdout


def test_a_new_release_adds_notebooks_and_leaves_the_students_own_alone(tmp_path):
    import shutil

    course, ws = tmp_path / "course", tmp_path / "ws"
    shutil.copytree(ROOT / "notebooks" / "01_gradient_descent", course / "notebooks" / "01_gradient_descent")
    first = run_course("--course-dir", course, "lab", "--sync-only", "--workspace", ws)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in ws.iterdir() if not p.name.startswith(".")) == ["01_gradient_descent"]
    nb = ws / "01_gradient_descent" / "01_gradient_descent.ipynb"
    nb.write_text(nb.read_text().replace("raise NotImplementedError()", "return w - lr * grad", 1))
    mine = nb.read_text()
    # the instructor releases notebook 02 and also edits notebook 01
    shutil.copytree(ROOT / "notebooks" / "02_sgd_minibatch", course / "notebooks" / "02_sgd_minibatch")
    src = course / "notebooks" / "01_gradient_descent" / "01_gradient_descent.ipynb"
    src.write_text(src.read_text().replace("# 01 · Gradient descent", "# 01 · Gradient descent (revised)", 1))
    again = run_course("--course-dir", course, "lab", "--sync-only", "--workspace", ws)
    assert again.returncode == 0, again.stderr
    assert (ws / "02_sgd_minibatch" / "02_sgd_minibatch.ipynb").exists(), "the new notebook was not added"
    assert nb.read_text() == mine, "a new release overwrote the student's notebook"
    assert "kept your version of 01_gradient_descent/01_gradient_descent.ipynb" in again.stdout
    # and a third run changes nothing
    third = run_course("--course-dir", course, "lab", "--sync-only", "--workspace", ws)
    assert nb.read_text() == mine and "0 file(s) added" in third.stdout, third.stdout


def test_lab_writes_a_student_configuration_for_jupyterlab(tmp_path):
    from autograder.lab import lab_command

    argv, env = lab_command(ROOT, tmp_path / "ws", port=8890, open_browser=False)
    conf = tmp_path / "ws" / ".course" / "jupyter"
    assert str(conf) == env["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0]
    server = json.loads((conf / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
    assert server["nbgrader.server_extensions.formgrader"] is False
    assert server["nbgrader.server_extensions.validate_assignment"] is False and server["autograder.validate"] is True
    page = json.loads((conf / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert page["@jupyterlab/apputils-extension:announcements"] and page["@jupyter/nbgrader:create-assignment"]
    assert "@jupyter/nbgrader:validate-assignment" not in page
    assert "--ServerApp.ip=127.0.0.1" in argv and "--no-browser" in argv and "--ServerApp.port=8890" in argv
    # the student's own JupyterLab settings survive the next start
    settings = tmp_path / "ws" / ".course" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    settings.write_text('{"fetchNews": "true"}')
    lab_command(ROOT, tmp_path / "ws")
    assert settings.read_text() == '{"fetchNews": "true"}'
