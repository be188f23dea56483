"""The term's commands: ``course release --exchange``, ``collect``, ``export``, ``similarity``
and ``grade --config``; what each prints, and one sentence for each bad input with nothing
already written touched. The last test walks a whole term with nbgrader's own student commands."""

import csv
import datetime as dt
import io
import json
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.course_config import read_config
from autograder.deadlines import format_timestamp, parse_timestamp
from notebook_text import ROOT

A = "01_gradient_descent"
SOURCE = ROOT / "notebooks" / A / f"{A}.ipynb"
UTC = dt.timezone.utc
ROSTER = "student_id,name,canvas_id,email,id_number\nalice,\"Doe, Alice\",4021,alice@uni.example,1001\nbob,Bob B,4022,bob@uni.example,1002\n"
TOML = """course_id = "optim-t"
roster = "roster.csv"
timezone = "UTC"

[late_policy]
percent_per_day = 10
max_percent = 50

[assignments."01_gradient_descent"]
due = "{due}"

[extensions.bob]
"01_gradient_descent" = 2
"""


def _course(tmp_path, due="2026-09-14 23:59", toml=TOML, roster=ROSTER):
    root = tmp_path / "course"
    shutil.copytree(ROOT / "notebooks" / A, root / "notebooks" / A)
    if toml is not None:
        (root / "course.toml").write_text(toml.format(due=due))
    if roster is not None:
        (root / "roster.csv").write_text(roster)
    return root


def _run(capsys, root, *args):
    rc = main(["--course-dir", str(root), *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def _fails(capsys, root, *args, words=()):
    """The command exits 2 with one sentence ``course <command>: ...`` on stderr, no traceback."""
    try:
        rc = main(["--course-dir", str(root), *map(str, args)])
    except SystemExit as e:      # argparse's own refusals
        rc = e.code
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"course {args[0]}: "), err
    assert "Traceback" not in err and all(w in err for w in words), err
    return err


def _tree(folder):
    """Every file under ``folder`` with its bytes: to show that nothing changed."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else None


def _nb(answer_source=None):
    """The source notebook as a student would hand it in: each solution cell answered (the
    reference solution by default), the markers gone."""
    nb = nbformat.read(str(SOURCE), as_version=4)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("solution"):
            c.source = "\n".join(ln for ln in c.source.splitlines() if "### " not in ln)
    return nbformat.writes(nb)


# ---------------------------------------------------------------- release --exchange

def test_release_refuses_a_past_or_malformed_due_date_before_writing(tmp_path, capsys):
    root = _course(tmp_path, due="2020-01-01 23:59")
    ex = tmp_path / "exchange"
    _fails(capsys, root, "release", "--exchange", ex, words=["2020-01-01 23:59 UTC", "has passed", "--force"])
    assert not ex.exists()
    (root / "course.toml").write_text(TOML.format(due="14/09/2026"))
    _fails(capsys, root, "release", "--exchange", ex, words=["is not a date and time", "2026-09-14 23:59"])
    assert not ex.exists()


@pytest.mark.parametrize("args, words", [
    (["--exchange", "EX", "--out", "rel"], ["not both"]),
    (["--course-id", "x"], ["go with --exchange"]),
    (["--exchange", "EX", "99_nothing"], ["There is no assignment '99_nothing'"]),
    (["--exchange", "EX", "--course-id", "a/b"], ["is not a course id"]),
    (["--exchange", "FILE"], ["is not a folder"]),
    (["--exchange", "HOME"], ["is not an exchange", "writable by everyone"]),
    (["--exchange", "EX", "--config", "nowhere.toml"], ["There is no course configuration at"]),
])
def test_release_bad_options_are_one_sentence(tmp_path, capsys, args, words):
    root = _course(tmp_path, due="2099-01-01 23:59")
    (tmp_path / "FILE").write_text("mine")
    (tmp_path / "HOME" / "work").mkdir(parents=True)       # somebody's folder, not an exchange
    (tmp_path / "HOME").chmod(0o700)
    args = [str(tmp_path / a) if a in ("EX", "FILE", "HOME", "rel", "nowhere.toml") else a for a in args]
    _fails(capsys, root, "release", *args, words=words)
    assert not (tmp_path / "EX").exists() and not (tmp_path / "rel").exists()
    assert (tmp_path / "FILE").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "HOME").iterdir()) == ["work"] and (tmp_path / "HOME").stat().st_mode & 0o777 == 0o700


# ---------------------------------------------------------------- collect --exchange

def _inbound(ex, student, when, nb_text, course="optim-t"):
    """An entry as ``nbgrader submit`` writes it: ``student+assignment+time+random/`` with timestamp.txt."""
    stamp = format_timestamp(when)
    entry = ex / course / "inbound" / f"{student}+{A}+{stamp}+{abs(hash(stamp)) % 10**8}"
    entry.mkdir(parents=True)
    (entry / f"{A}.ipynb").write_text(nb_text)
    (entry / "timestamp.txt").write_text(stamp)
    return entry


def test_collect_from_the_exchange_marks_late_ones_and_keeps_what_was_there(tmp_path, capsys, monkeypatch):
    from autograder import exchange

    # these entries are written now with times in September: collect would take their files' time
    # instead (exchange._checked_time, tested in test_exchange.py); here the stated times are the subject
    monkeypatch.setattr(exchange, "CHANGED_AFTER_S", 10**10)
    root = _course(tmp_path)                         # due 2026-09-14 23:59 UTC, bob has two more days
    ex = tmp_path / "exchange"
    due = dt.datetime(2026, 9, 14, 23, 59, tzinfo=UTC)
    _inbound(ex, "alice", due + dt.timedelta(hours=5), _nb())
    _inbound(ex, "bob", due + dt.timedelta(hours=30), _nb())
    _inbound(ex, "carol", due - dt.timedelta(hours=1), _nb())
    (ex / "optim-t" / "inbound" / "junk").mkdir()
    subs = tmp_path / "SUBMISSIONS"
    (subs / "dave" / A).mkdir(parents=True)
    (subs / "dave" / A / "mine.txt").write_text("keep")
    rc, out, err = _run(capsys, root, "collect", "--exchange", ex, "--out", subs)
    assert rc == 0, err
    lines = out.splitlines()
    alice = next(ln for ln in lines if ln.strip().startswith(f"alice/{A}"))
    assert "LATE by 5.00h" in alice and "10% of the score will be deducted" in alice
    bob = next(ln for ln in lines if ln.strip().startswith(f"bob/{A}"))
    assert "within the extension" in bob and "LATE" not in bob
    assert "on time" in next(ln for ln in lines if ln.strip().startswith(f"carol/{A}"))
    assert "Collected 3 submission(s)" in lines[-1] and "(1 late, 0 replacing" in lines[-1] and "1 item(s) skipped" in lines[-1]
    assert "skipped: junk is not a submission nbgrader made" in err
    for s in ("alice", "bob", "carol"):
        assert parse_timestamp((subs / s / A / "timestamp.txt").read_text()) is not None
    assert (subs / "dave" / A / "mine.txt").read_text() == "keep"

    # again: nothing new, nothing lost; a later submission of alice replaces hers, the old one kept
    _inbound(ex, "alice", due + dt.timedelta(hours=6), _nb().replace("gd_step", "gd_step", 1) + " ")
    rc, out, _ = _run(capsys, root, "collect", "--exchange", ex, "--out", subs)
    assert rc == 0 and "Collected 1 submission(s)" in out and "2 already there kept" in out and "1 replacing" in out
    assert "LATE by 6.00h" in out and f"the one collected before is kept in {subs / '.replaced'}/alice/{A}/" in out
    kept = list((subs / ".replaced" / "alice" / A).glob("*/timestamp.txt"))
    assert len(kept) == 1 and parse_timestamp(kept[0].read_text()) == due + dt.timedelta(hours=5)


def test_collect_leaves_the_release_s_own_files_and_nbgrader_s_secret_in_the_exchange(tmp_path, capsys):
    root = _course(tmp_path)
    ex = tmp_path / "exchange"
    released = ex / "optim-t" / "outbound" / A
    (released / "course_lib").mkdir(parents=True)
    (released / "course_lib" / "checks.py").write_text("as released\n")
    (released / "course_lib" / "plots.py").write_text("as released\n")
    (released / "data.txt").write_text("as released\n")
    (released / f"{A}.ipynb").write_text(_nb())
    entry = _inbound(ex, "alice", dt.datetime(2026, 9, 14, 20, 0, tzinfo=UTC), _nb())   # the notebook as released: still taken
    (entry / "course_lib").mkdir()
    (entry / "course_lib" / "checks.py").write_text("as released\n")
    (entry / "course_lib" / "plots.py").write_text("alice changed this\n")
    (entry / "data.txt").write_text("as released\n")
    (entry / "notes.md").write_text("alice's own\n")
    (entry / "submission_secret.txt").write_text("ab" * 64)
    subs = tmp_path / "SUBMISSIONS"
    assert _run(capsys, root, "collect", "--exchange", ex, "--out", subs)[0] == 0
    assert sorted(_tree(subs / "alice" / A)) == [f"{A}.ipynb", "course_lib/plots.py", "notes.md", "timestamp.txt"]
    assert (entry / "submission_secret.txt").exists() and (entry / "course_lib" / "checks.py").exists()


def test_what_collect_says_of_each_submission_time():
    from autograder.cli import _collected_line
    from autograder.course_config import CourseConfig, LatePolicy

    due = dt.datetime(2026, 9, 14, 23, 59, tzinfo=UTC)
    cfg = CourseConfig(late_policy=LatePolicy(percent_per_day=10, grace_minutes=5), due={A: due},
                       extensions={("bob", A): due + dt.timedelta(days=2)})
    said = lambda student, when, policy=cfg, canvas=False: _collected_line(policy, student, A, when, canvas)
    assert said("alice", None) == (f"  alice/{A}: no submission time (no timestamp.txt), so no late penalty can apply", False)
    assert said("alice", due - dt.timedelta(hours=1)) == (f"  alice/{A}: submitted 2026-09-14 22:59 UTC, on time", False)
    assert said("alice", due + dt.timedelta(minutes=3)) == (
        f"  alice/{A}: submitted 2026-09-15 00:02 UTC, 3 minutes after 2026-09-14 23:59 UTC, within the grace period: on time", False)
    assert said("alice", due + dt.timedelta(hours=30), canvas=True) == (
        f"  alice/{A}: submitted 2026-09-16 05:59 UTC, LATE by 30.00h (due 2026-09-14 23:59 UTC): "
        "20% of the score will be deducted (Canvas marked it late)", True)
    assert "within the extension to 2026-09-16 23:59 UTC: on time" in said("bob", due + dt.timedelta(hours=30))[0]
    free = CourseConfig(due={A: due})
    assert said("alice", due + dt.timedelta(hours=2), free) == (
        f"  alice/{A}: submitted 2026-09-15 01:59 UTC, LATE by 2.00h (due 2026-09-14 23:59 UTC), no penalty under the late policy", True)
    assert said("alice", due, CourseConfig()) == (f"  alice/{A}: submitted 2026-09-14 23:59 UTC", False)   # no due date
    from zoneinfo import ZoneInfo

    due_berlin = dt.datetime(2026, 9, 14, 23, 59, tzinfo=ZoneInfo("Europe/Berlin"))
    berlin = CourseConfig(timezone="Europe/Berlin", due={A: due_berlin})
    utc_time = (due_berlin - dt.timedelta(hours=1)).astimezone(UTC)       # as nbgrader's timestamp.txt gives it
    assert said("alice", utc_time, berlin) == (f"  alice/{A}: submitted 2026-09-14 22:59 CEST, on time", False)   # beside its due date
    assert said("bob", utc_time, CourseConfig(timezone="Europe/Berlin")) == (f"  bob/{A}: submitted 2026-09-14 22:59 CEST", False)


@pytest.mark.parametrize("make, args, words", [
    (lambda t: (t / "EX").mkdir(), ["--exchange", "EX"], ["has no inbound folder for the course 'optim-t'"]),
    (lambda t: (t / "EX").write_text("x"), ["--exchange", "EX"], ["is not a folder"]),
    (lambda t: None, ["--exchange", "EX"], ["There is no exchange folder"]),
    (lambda t: None, [], ["give --exchange DIR", "or --canvas ZIP"]),
    (lambda t: (t / "EX").mkdir(), ["--exchange", "EX", "--assignment", "07_nope"], ["There is no assignment '07_nope'"]),
])
def test_collect_bad_exchange_input_is_one_sentence(tmp_path, capsys, make, args, words):
    root = _course(tmp_path)
    make(tmp_path)
    subs = tmp_path / "SUBMISSIONS"
    (subs / "alice" / A).mkdir(parents=True)
    (subs / "alice" / A / f"{A}.ipynb").write_text("hers")
    args = [str(tmp_path / a) if a == "EX" else a for a in args]
    _fails(capsys, root, "collect", *args, "--out", subs, words=words)
    assert _tree(subs) == {f"alice/{A}/{A}.ipynb": b"hers"}


# ---------------------------------------------------------------- collect --canvas

def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, when in entries:
            zf.writestr(zipfile.ZipInfo(name, date_time=when), data)
    return path


def test_collect_a_canvas_download_maps_the_roster_and_marks_late(tmp_path, capsys):
    root = _course(tmp_path)
    z = _zip(tmp_path / "submissions.zip", [
        (f"doealice_4021_9001_{A}.ipynb", _nb(), (2026, 9, 14, 20, 0, 0)),
        (f"bbob_LATE_4022_9002_{A}.ipynb", _nb(), (2026, 9, 16, 9, 15, 0)),       # within bob's two extra days
        (f"zed_9999_9003_{A}.ipynb", _nb(), (2026, 9, 14, 1, 0, 0)),              # not in the roster
    ])
    subs = tmp_path / "SUBMISSIONS"
    (subs / "alice" / A).mkdir(parents=True)
    (subs / "alice" / A / f"{A}.ipynb").write_text("an earlier one")
    rc, out, err = _run(capsys, root, "collect", "--canvas", z, "--assignment", A, "--out", subs)
    assert rc == 0, err
    assert f"alice/{A}: submitted 2026-09-14 20:00 UTC, on time; the one collected before is kept in" in out
    bob = next(ln for ln in out.splitlines() if f"bob/{A}" in ln)
    assert "within the extension" in bob and "(Canvas marked it late)" in bob
    assert "Canvas user 9999 is not in the roster" in err
    assert parse_timestamp((subs / "bob" / A / "timestamp.txt").read_text()) == dt.datetime(2026, 9, 16, 9, 15, tzinfo=UTC)
    earlier = list((subs / ".replaced" / "alice" / A).rglob(f"{A}.ipynb"))
    assert [p.read_text() for p in earlier] == ["an earlier one"]


@pytest.mark.parametrize("zip_bytes, args, roster, words", [
    (b"not a zip at all", ["--assignment", A], ROSTER, ["is not a zip file"]),
    ("notes", ["--assignment", A], ROSTER, ["holds no file named like a Canvas download"]),
    ("empty", ["--assignment", A], ROSTER, ["holds no file named like a Canvas download"]),
    ("good", [], ROSTER, ["needs exactly one --assignment"]),
    ("good", ["--assignment", A, "--assignment", A + "x"], ROSTER, ["There is no assignment"]),
    ("good", ["--assignment", A], "student_id,canvas_id\nalice,4021\nalice,4022\n", ["lists student_id 'alice' twice"]),
    ("good", ["--assignment", A], "student_id,canvas_id\nalice,4021\n,4022\n", ["row 3, has no student_id"]),
    ("good", ["--assignment", A], "student_id,name\nalice,A\nbob,B\n", ["no canvas_id column"]),
    ("good", ["--assignment", A], None, ["needs the roster"]),
    ("good", ["--assignment", A, "--course-id", "x"], ROSTER, ["--course-id goes with --exchange"]),
])
def test_collect_bad_canvas_input_is_one_sentence(tmp_path, capsys, zip_bytes, args, roster, words):
    toml = TOML if roster is not None else TOML.replace('roster = "roster.csv"\n', "")
    root = _course(tmp_path, toml=toml, roster=roster)
    z = tmp_path / "download.zip"
    if zip_bytes == "good":
        _zip(z, [(f"doealice_4021_9001_{A}.ipynb", _nb(), (2026, 9, 14, 20, 0, 0))])
    elif zip_bytes == "notes":
        _zip(z, [("notes.txt", b"x", (2026, 9, 14, 20, 0, 0))])
    elif zip_bytes == "empty":
        _zip(z, [])
    else:
        z.write_bytes(zip_bytes)
    subs = tmp_path / "SUBMISSIONS"
    (subs / "alice" / A).mkdir(parents=True)
    (subs / "alice" / A / f"{A}.ipynb").write_text("hers")
    _fails(capsys, root, "collect", "--canvas", z, *args, "--out", subs, words=words)
    assert _tree(subs) == {f"alice/{A}/{A}.ipynb": b"hers"}


def test_collect_into_a_file_is_one_sentence(tmp_path, capsys):
    root = _course(tmp_path)
    (tmp_path / "ex" / "optim-t" / "inbound").mkdir(parents=True)
    (tmp_path / "subs").write_text("mine")
    _fails(capsys, root, "collect", "--exchange", tmp_path / "ex", "--out", tmp_path / "subs", words=["is not a folder"])
    assert (tmp_path / "subs").read_text() == "mine"


# ---------------------------------------------------------------- export

def _graded(tmp_path):
    """A graded folder as ``course grade`` leaves it: one saved record per student and assignment."""
    from dataclasses import asdict

    from autograder.grading import STATE_DIR, Result, record_name

    graded = tmp_path / "graded"
    for student, score, when in (("alice", 8, "2026-09-15 04:59:00.000000 UTC"),     # 5 hours late: -10%
                                 ("bob", 10, "2026-09-16 09:00:00.000000 UTC"),      # within his extension
                                 ("zoe", 3, "2026-09-14 12:00:00.000000 UTC")):      # not in the roster
        cells = [[A, "test_gd_step", 1, 1, ""], [A, "test_should_stop", score - 1, 9, ""]]
        res = Result(student, A, score, 10, cells=cells)
        record = {"key": "k", "result": {**{k: v for k, v in asdict(res).items() if k != "feedback"}, "submitted_at": when}}
        path = graded / STATE_DIR / record_name(student) / f"{record_name(A)}.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(record))
    (graded / "grades.csv").write_text("student_id,assignment,score,max_score\n")
    return graded


def _rows(path):
    return list(csv.reader(io.StringIO(Path(path).read_text())))


def test_export_canvas_moodle_and_csv_from_a_graded_folder(tmp_path, capsys):
    root = _course(tmp_path, roster=ROSTER + "dave,Dave D,4024,dave@uni.example,1004\n")
    graded = _graded(tmp_path)
    before = _tree(graded)
    rc, out, err = _run(capsys, root, "export", graded, "--format", "canvas", "--out", tmp_path / "canvas.csv")
    assert rc == 0, err
    rows = _rows(tmp_path / "canvas.csv")
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", A]
    assert rows[1] == ["    Points Possible", "", "", "", "", "10"]
    assert rows[2:] == [["Doe, Alice", "4021", "", "", "", "7.2"], ["Bob B", "4022", "", "", "", "10"],
                        ["Dave D", "4024", "", "", "", ""]]
    assert "  not in the roster, so not exported: zoe" in out.splitlines()
    assert "  in the roster but not graded (exported with empty cells): dave" in out.splitlines()
    assert "1 late penalty applied" in out.splitlines()[-1]

    rc, out, err = _run(capsys, root, "export", graded, "--format", "moodle", "--out", tmp_path / "moodle.csv")
    assert rc == 0, err
    assert _rows(tmp_path / "moodle.csv")[:2] == [["Email address", "ID number", "Full name", A],
                                                  ["alice@uni.example", "1001", "Doe, Alice", "7.2"]]
    rc, out, err = _run(capsys, root, "export", graded, "--format", "csv", "--per-exercise", "--out", tmp_path / "all.csv")
    assert rc == 0, err
    rows = _rows(tmp_path / "all.csv")
    assert rows[0] == ["student_id", "name", A, f"{A}: test_gd_step", f"{A}: test_should_stop", "total"]
    assert rows[-1] == ["zoe", "", "3", "1", "2", "3"]
    assert "  not in the roster, exported by student id only: zoe" in out.splitlines()
    assert "(csv): 4 student(s)" in out       # alice, bob, dave of the roster, and zoe
    assert _tree(graded) == before, "course export changed the graded folder"

    # a changed extension changes the export, with nothing graded again
    (root / "course.toml").write_text(TOML.format(due="2026-09-14 23:59").replace("[extensions.bob]", "[extensions.alice]"))
    rc, _, _ = _run(capsys, root, "export", graded, "--format", "csv", "--out", tmp_path / "all.csv", "--force")
    rows = {r[0]: r for r in _rows(tmp_path / "all.csv")}
    assert rc == 0 and rows["alice"][2] == "8" and rows["bob"][2] == "8"     # bob now a day and more late: -20%


@pytest.mark.parametrize("setup, args, words", [
    (lambda t, g: shutil.rmtree(g), [], ["There is no graded folder"]),
    (lambda t, g: shutil.rmtree(g / ".course-grading"), [], ["holds no grading records"]),
    (lambda t, g: (t / "out.csv").write_text("mine"), [], ["already exists", "--force"]),
    (lambda t, g: None, ["--out-inside"], ["inside the graded folder"]),
    (lambda t, g: None, ["--format", "blackboard"], ["--format must be one of canvas, moodle, csv"]),
    (lambda t, g: (t / "course" / "roster.csv").write_text("student_id,canvas_id\nalice,1\nalice,2\n"), [], ["twice"]),
    (lambda t, g: (t / "course" / "roster.csv").write_text("student_id,canvas_id\nalice,1\nbob,\n"), [], ["no canvas_id for bob"]),
    (lambda t, g: (t / "course" / "course.toml").write_text("[late_policy]\npercent_per_day = 200\n"), [], ["between 0 and 100"]),
])
def test_export_bad_input_is_one_sentence_and_destroys_nothing(tmp_path, capsys, setup, args, words):
    root = _course(tmp_path)
    graded = _graded(tmp_path)
    setup(tmp_path, graded)
    before, mine = _tree(graded), (tmp_path / "out.csv").read_bytes() if (tmp_path / "out.csv").exists() else None
    out = graded / "canvas.csv" if "--out-inside" in args else tmp_path / "out.csv"
    fmt = args[1] if "--format" in args else "canvas"
    _fails(capsys, root, "export", graded, "--format", fmt, "--out", out, words=words)
    assert _tree(graded) == before
    assert ((tmp_path / "out.csv").read_bytes() if (tmp_path / "out.csv").exists() else None) == mine


def test_export_notes_show_a_student_id_on_one_line():
    from autograder.course_config import Student
    from autograder.export import export
    from autograder.final_grades import FinalGrade

    forged = "zoe\n  in the roster but not graded (exported with empty cells): alice"
    _, notes = export([FinalGrade(forged, A, 1, 1, 1)], [Student("alice", canvas_id="1")], [A], "canvas")
    assert all("\n" not in n for n in notes) and len(notes) == 2 and "'zoe\\n" in notes[0]


# ---------------------------------------------------------------- similarity

def test_similarity_writes_the_report_and_prints_the_summary(tmp_path, capsys):
    from test_similarity import COPIED, OTHER, OWN, _submission

    subs = tmp_path / "SUBMISSIONS"
    for student, code in (("alice", OWN), ("bob", COPIED), ("zed", OTHER)):
        _submission(subs, student, code)
    rc, out, err = _run(capsys, ROOT, "similarity", subs, "--out", tmp_path / "graded")
    assert rc == 0, err
    assert out.splitlines()[0] == f"similarity: 1 pair(s) of similar solutions: {A} numerical_gradient (1)"
    page = (tmp_path / "graded" / "similarity.html").read_text()
    assert "alice" in page and "bob" in page and "zed" not in page
    rc, out, _ = _run(capsys, ROOT, "similarity", subs, "--out", tmp_path / "graded", "--threshold", "1")
    assert rc == 0 and "no pair of solutions is unusually alike" in out


@pytest.mark.parametrize("args, words", [
    (["MISSING", "--out", "OUT"], ["is not a folder"]),
    (["SUBS", "--out", "OUT", "--threshold", "0"], ["--threshold 0 is not a share"]),
    (["SUBS", "--out", "OUT", "--threshold", "1.5"], ["--threshold 1.5 is not a share"]),
    (["SUBS", "--out", "OUT", "--threshold", "abc"], ["invalid float value"]),
    (["SUBS", "--out", "FILE"], ["is not a folder"]),
    (["SUBS"], ["--out"]),
    (["SUBS", "--out", "SUBS"], ["must not be inside the submissions folder"]),
])
def test_similarity_bad_input_is_one_sentence(tmp_path, capsys, args, words):
    (tmp_path / "SUBS" / "alice" / A).mkdir(parents=True)
    (tmp_path / "FILE").write_text("mine")
    args = [str(tmp_path / a) if a in ("MISSING", "OUT", "SUBS", "FILE") else a for a in args]
    _fails(capsys, ROOT, "similarity", *args, words=words)
    assert not (tmp_path / "OUT").exists() and (tmp_path / "FILE").read_text() == "mine"
    assert _tree(tmp_path / "SUBS") == {}


# ---------------------------------------------------------------- grade --config and course.toml

def test_grade_passes_the_configuration_it_was_given(tmp_path, capsys, monkeypatch):
    import autograder.grading as grading

    seen = []

    def fake_grade_class(course_root, submissions, out, progress=True, workers=None, dask_address=None, options=None,
                         config_path=None):
        seen.append(config_path)
        return [], [], 0

    monkeypatch.setattr(grading, "grade_class", fake_grade_class)
    subs = tmp_path / "subs"
    subs.mkdir()
    assert _run(capsys, ROOT, "grade", subs, "--out", tmp_path / "g", "--config", tmp_path / "term.toml")[0] == 0
    assert _run(capsys, ROOT, "grade", subs, "--out", tmp_path / "g")[0] == 0
    assert seen == [str(tmp_path / "term.toml"), None]     # None: course.toml at the course root, if any


def test_grade_with_a_missing_or_malformed_configuration_grades_nothing(tmp_path, capsys):
    root = _course(tmp_path, due="14/09/2026")
    subs = tmp_path / "subs"
    (subs / "alice" / A).mkdir(parents=True)
    (subs / "alice" / A / f"{A}.ipynb").write_text(_nb())
    _fails(capsys, root, "grade", subs, "--out", tmp_path / "g", "--isolation", "none", words=["is not a date and time"])
    _fails(capsys, root, "grade", subs, "--out", tmp_path / "g", "--isolation", "none", "--config", tmp_path / "term.toml",
           words=["There is no course configuration at"])
    assert not (tmp_path / "g").exists()


def test_the_documented_example_configuration_reads():
    from autograder.course_dir import list_assignments

    path = ROOT / "docs" / "course.example.toml"
    cfg = read_config(ROOT, list_assignments(ROOT), path=path)
    assert cfg.course_id == "optim-dl-2026" and cfg.timezone == "Europe/Berlin"
    assert cfg.late_policy.percent_per_day == 10 and cfg.late_policy.cutoff_days == 7
    assert cfg.due[A].isoformat() == "2026-09-14T23:59:00+02:00"          # Berlin in summer
    assert cfg.due["02_sgd_minibatch"].utcoffset() == dt.timedelta(hours=-4)   # its own zone: New York in summer
    assert cfg.due_for("alice", "02_sgd_minibatch") - cfg.due["02_sgd_minibatch"] == dt.timedelta(days=2)
    assert cfg.lms_columns == {A: "Gradient descent (12345)"}
    assert cfg.roster_path == path.parent / "roster.csv"


def test_the_readme_shows_the_example_configuration_as_it_is():
    import re

    blocks = re.findall(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    example = (ROOT / "docs" / "course.example.toml").read_text()
    body = "".join(ln for ln in example.splitlines(keepends=True) if not ln.startswith("#")).lstrip("\n")
    assert blocks and blocks[0] == body, "README.md's course.toml example and docs/course.example.toml differ"


# ---------------------------------------------------------------- a whole term, as an instructor runs it

def _student(args, home, exchange):
    """nbgrader's own student command, run in the student's home folder."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, HOME=str(home), JUPYTER_DATA_DIR=str(home / ".jupyter-data"))
    env.pop("JUPYTER_CONFIG_DIR", None)
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--Exchange.root={exchange}",
                           "--CourseDirectory.course_id=optim-t"], cwd=home, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _course_cmd(*args):
    from conftest import run_course

    proc = run_course(*args)
    print(f"$ course {' '.join(str(a) for a in args[2:])}\n{proc.stdout}{proc.stderr}")    # the walk-through, for the record
    return proc


@pytest.mark.slow
def test_a_term_release_fetch_submit_collect_grade_export(tmp_path):
    from zoneinfo import ZoneInfo

    from notebook_text import html_text

    berlin = ZoneInfo("Europe/Berlin")
    term = TOML.replace('timezone = "UTC"', 'timezone = "Europe/Berlin"')
    later = (dt.datetime.now(berlin) + dt.timedelta(days=3)).strftime("%Y-%m-%d %H:%M")
    root = _course(tmp_path, due=later, toml=term)
    course = ["--course-dir", root]
    ex, subs, graded = tmp_path / "exchange", tmp_path / "SUBMISSIONS", tmp_path / "graded"

    proc = _course_cmd(*course, "release", "--exchange", ex)
    assert proc.returncode == 0 and f"{A}: due {later} CE" in proc.stdout, proc.stderr
    # two students fetch the release and hand in the reference solution with nbgrader's own commands
    for student in ("alice", "bob"):
        home = tmp_path / "home" / student
        home.mkdir(parents=True)
        _student(["fetch_assignment", A], home, ex)
        (home / A / f"{A}.ipynb").write_text(_nb())
        _student(["submit", A, f"--student={student}"], home, ex)

    # the term's clock: both handed in just now; the due date is put five hours (and a minute) before
    # that, so alice is five hours late and bob, with two days' extension, is in time
    due = (dt.datetime.now(berlin) - dt.timedelta(hours=5, minutes=1)).strftime("%Y-%m-%d %H:%M")
    (root / "course.toml").write_text(term.format(due=due))
    before = _tree(ex)
    proc = _course_cmd(*course, "release", "--exchange", ex, "--force")
    assert proc.returncode == 0 and "already past: released with --force" in proc.stdout, proc.stderr
    proc = _course_cmd(*course, "release", "--exchange", ex)
    assert proc.returncode == 2 and "which has passed" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert _tree(ex).keys() == before.keys()

    proc = _course_cmd(*course, "collect", "--exchange", ex, "--out", subs)
    assert proc.returncode == 0, proc.stderr
    alice = next(ln for ln in proc.stdout.splitlines() if f"alice/{A}" in ln)
    bob = next(ln for ln in proc.stdout.splitlines() if f"bob/{A}" in ln)
    assert "LATE by 5.0" in alice and "10% of the score will be deducted" in alice, alice
    assert "within the extension" in bob, bob
    assert all(parse_timestamp((subs / s / A / "timestamp.txt").read_text()) for s in ("alice", "bob"))

    proc = _course_cmd(*course, "grade", subs, "--out", graded, "--workers", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Graded 2 submission(s) (0 with problems" in proc.stdout     # nothing of nbgrader's or the release's is a stray file
    with open(graded / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert {"raw_score", "late_by", "penalty"} <= set(rows["alice"]), rows["alice"]
    full = float(rows["alice"]["max_score"])
    assert float(rows["alice"]["raw_score"]) == float(rows["bob"]["raw_score"]) == full     # the reference solution
    assert float(rows["alice"]["penalty"]) == 10 and float(rows["alice"]["score"]) == pytest.approx(0.9 * full)
    assert rows["alice"]["late_by"].startswith("5.0") and rows["bob"]["late_by"] == ""
    assert float(rows["bob"]["penalty"]) == 0 and float(rows["bob"]["score"]) == full
    assert (graded / "summary.html").is_file()
    assert "deducted" in html_text(next((graded / "feedback" / "alice" / A).glob("*.html")))

    for fmt in ("canvas", "moodle"):
        proc = _course_cmd(*course, "export", graded, "--format", fmt, "--out", tmp_path / f"{fmt}.csv")
        assert proc.returncode == 0, proc.stderr
    canvas = _rows(tmp_path / "canvas.csv")
    assert canvas[0][5:] == [A] and [r[1] for r in canvas[2:]] == ["4021", "4022"]
    assert float(canvas[2][5]) == pytest.approx(0.9 * full) and float(canvas[3][5]) == full
    moodle = _rows(tmp_path / "moodle.csv")
    assert moodle[1][:3] == ["alice@uni.example", "1001", "Doe, Alice"] and float(moodle[1][3]) == pytest.approx(0.9 * full)

    proc = _course_cmd(*course, "similarity", subs, "--out", graded)
    assert proc.returncode == 0 and "no pair of solutions is unusually alike" in proc.stdout    # the reference is no flag
