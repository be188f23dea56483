"""The term on JupyterHub: release into nbgrader's exchange, students fetch and submit with
nbgrader's own commands, the instructor collects into the folder ``course grade`` reads."""

import datetime as dt
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import CourseError
from autograder.deadlines import parse_timestamp
from autograder.exchange import collect_from_exchange, release_to_exchange
from notebook_text import ROOT

A = "01_gradient_descent"
COURSE = "optim-test"
NBGRADER = [sys.executable, "-m", "nbgrader"]
pytestmark = pytest.mark.slow


def _nbgrader(args, home, exchange):
    env = dict(os.environ, HOME=str(home), JUPYTER_DATA_DIR=str(home / ".jupyter-data"))
    env.pop("JUPYTER_CONFIG_DIR", None)
    done = subprocess.run(NBGRADER + args + [f"--Exchange.root={exchange}", f"--CourseDirectory.course_id={COURSE}"],
                          cwd=home, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def exchange(tmp_path_factory):
    ex = tmp_path_factory.mktemp("exchange")
    written = release_to_exchange(ROOT, ex, COURSE, [A])
    assert written == [ex / COURSE / "outbound" / A]
    return ex


def _student_work(home, exchange, student, answer):
    _nbgrader(["fetch_assignment", A], home, exchange)
    nb_path = home / A / f"{A}.ipynb"
    nb = nbformat.read(str(nb_path), as_version=4)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "gd_step":
            c.source = answer
    nbformat.write(nb, str(nb_path))
    _nbgrader(["submit", A, f"--student={student}"], home, exchange)


def test_release_fetch_submit_collect_end_to_end(exchange, tmp_path):
    assert (exchange / COURSE / "outbound" / A / f"{A}.ipynb").is_file()
    assert not (exchange / COURSE / "outbound" / A / "course_lib" / "solutions").exists()
    homes = {s: tmp_path / "home" / s for s in ("alice", "bob")}
    for h in homes.values():
        h.mkdir(parents=True)
    _student_work(homes["alice"], exchange, "alice", "def gd_step(w, grad, lr):\n    return w + lr * grad\n")
    time.sleep(1.1)   # nbgrader's submission folders are named by their time
    _student_work(homes["bob"], exchange, "bob", "def gd_step(w, grad, lr):\n    return w - lr * grad\n")
    time.sleep(1.1)
    # alice hands in again: her later submission is the one collected
    nb_path = homes["alice"] / A / f"{A}.ipynb"
    nb = nbformat.read(str(nb_path), as_version=4)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "gd_step":
            c.source = "def gd_step(w, grad, lr):\n    return w - lr * grad  # fixed\n"
    nbformat.write(nb, str(nb_path))
    _nbgrader(["submit", A, "--student=alice"], homes["alice"], exchange)

    out = tmp_path / "SUBMISSIONS"
    got = collect_from_exchange(exchange, COURSE, out, [A])
    assert sorted(s for s, _, _ in got.written) == ["alice", "bob"]
    assert got.notes == [], "nbgrader's own submit was taken for a changed submission"
    for s in ("alice", "bob"):
        folder = out / s / A
        assert (folder / f"{A}.ipynb").is_file()
        when = parse_timestamp((folder / "timestamp.txt").read_text())
        assert when is not None and abs(when - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=30)
    alice = nbformat.read(str(out / "alice" / A / f"{A}.ipynb"), as_version=4)
    assert any("# fixed" in c.source for c in alice.cells), "the collected submission is not alice's latest"

    # collecting again changes nothing and loses nothing
    again = collect_from_exchange(exchange, COURSE, out, [A])
    assert again.written == [] and len(again.kept) == 2


def test_hostile_inbound_entries_are_not_collected(exchange, tmp_path):
    inbound = exchange / COURSE / "inbound"
    later = "2099-01-01 00:00:00.000000 UTC"
    # a forged "submission" with a link to a host file in it, and one that claims to be a user's but is not theirs
    forged = inbound / f"carol+{A}+{later}+x"
    forged.mkdir()
    (forged / f"{A}.ipynb").symlink_to("/etc/passwd")
    (forged / "timestamp.txt").write_text(later)
    nobody = pwd.getpwnam("nobody")
    claimed = inbound / f"nobody+{A}+{later}+y"
    claimed.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), str(claimed / f"{A}.ipynb"))
    junk = inbound / "not-a-submission"
    junk.mkdir()
    try:
        out = tmp_path / "SUBMISSIONS"
        got = collect_from_exchange(exchange, COURSE, out, [A])
        assert not (out / "carol" / A / f"{A}.ipynb").exists(), "a link in the exchange was followed"
        assert not (out / "nobody").exists(), "a submission claiming to be another user's was collected"
        assert any("claims to be nobody's submission but belongs to" in s for s in got.skipped), got.skipped
        assert any("not-a-submission" in s and "not a submission nbgrader made" in s for s in got.skipped), got.skipped
        if os.geteuid() == 0:
            os.chown(claimed, nobody.pw_uid, nobody.pw_gid)   # now it is nobody's own: collected
            got = collect_from_exchange(exchange, COURSE, out, [A])
            assert (out / "nobody" / A / f"{A}.ipynb").is_file()
    finally:
        import shutil
        for p in (forged, claimed, junk):
            shutil.rmtree(p, ignore_errors=True)


def test_a_folder_that_is_not_an_exchange_is_one_sentence(tmp_path):
    with pytest.raises(CourseError, match="has no inbound folder"):
        collect_from_exchange(tmp_path, COURSE, tmp_path / "out", [A])
    (tmp_path / "file").write_text("x")
    with pytest.raises(CourseError, match="is not a folder"):
        collect_from_exchange(tmp_path / "file", COURSE, tmp_path / "out", [A])


def test_releasing_twice_needs_force(exchange):
    with pytest.raises(CourseError, match="already in the exchange.*--force"):
        release_to_exchange(ROOT, exchange, COURSE, [A])


def test_an_early_timestamp_on_files_changed_later_is_not_believed(exchange, tmp_path):
    """A student owns their inbound folder and writes its timestamp.txt: an entry that says it was
    handed in long ago but whose files were written now gets the time of its files."""
    inbound = exchange / COURSE / "inbound"
    early = "2020-01-01 00:00:00.000000 UTC"
    entry = inbound / f"dave+{A}+{early}+z"
    entry.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), str(entry / f"{A}.ipynb"))
    (entry / "timestamp.txt").write_text(early)
    honest = inbound / f"erin+{A}+2020-01-01 00:00:00.000000 UTC+w"
    honest.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), str(honest / f"{A}.ipynb"))
    now = dt.datetime.now(dt.timezone.utc)
    (honest / "timestamp.txt").write_text(now.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    try:
        out = tmp_path / "SUBMISSIONS"
        got = collect_from_exchange(exchange, COURSE, out, [A])
        taken = parse_timestamp((out / "dave" / A / "timestamp.txt").read_text())
        assert abs((taken - now).total_seconds()) < 120, f"the forged early time was kept: {taken}"
        assert any(n.startswith(f"dave/{A}: its timestamp.txt says 2020-01-01") for n in got.notes), got.notes
        assert parse_timestamp((out / "erin" / A / "timestamp.txt").read_text()) == parse_timestamp(
            (honest / "timestamp.txt").read_text()), "an honest submission's time was changed"
        assert not any(n.startswith("erin/") for n in got.notes)
    finally:
        import shutil
        for p in (entry, honest):
            shutil.rmtree(p, ignore_errors=True)
