"""Submissions from a Canvas "Download Submissions" zip, built here the way Canvas names its files."""

import datetime as dt
import zipfile
from zoneinfo import ZoneInfo

import pytest

from autograder import CourseError
from autograder.canvas_zip import import_canvas_zip
from autograder.course_config import Student
from autograder.deadlines import parse_timestamp

A, NB = "01_gradient_descent", "01_gradient_descent"
ROSTER = [Student("alice", name="Alice A", canvas_id="4021"), Student("bob", name="Bob B", canvas_id="4022"),
          Student("carol", canvas_id="4023")]


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, when in entries:
            info = zipfile.ZipInfo(name, date_time=when)
            zf.writestr(info, data)
    return path


def test_names_late_marks_and_resubmissions_map_to_the_roster(tmp_path):
    z = _zip(tmp_path / "submissions.zip", [
        ("aalice_4021_9001_01_gradient_descent.ipynb", b'{"first": 1}', (2026, 9, 14, 20, 0, 0)),
        ("aalice_4021_9005_01_gradient_descent-1.ipynb", b'{"second": 2}', (2026, 9, 14, 22, 30, 0)),   # uploaded again
        ("bbob_LATE_4022_9002_01_gradient_descent.ipynb", b'{"bob": 1}', (2026, 9, 16, 9, 15, 0)),
        ("zed_9999_9003_01_gradient_descent.ipynb", b"{}", (2026, 9, 14, 1, 0, 0)),                     # not in the roster
        ("ccarol_4023_9004_notes.txt", b"hello", (2026, 9, 14, 1, 0, 0)),                             # not a notebook of it
        ("README.txt", b"hi", (2026, 9, 14, 1, 0, 0)),                                                 # not a Canvas name
    ])
    out = tmp_path / "SUBMISSIONS"
    got = import_canvas_zip(z, out, A, [NB], ROSTER, timezone="America/New_York")
    assert sorted((s, late) for s, _, _, late in got.written) == [("alice", False), ("bob", True)]
    assert (out / "alice" / A / f"{NB}.ipynb").read_bytes() == b'{"second": 2}'     # the latest upload
    ny = ZoneInfo("America/New_York")
    assert parse_timestamp((out / "alice" / A / "timestamp.txt").read_text()) == dt.datetime(2026, 9, 14, 22, 30, tzinfo=ny)
    assert parse_timestamp((out / "bob" / A / "timestamp.txt").read_text()) == dt.datetime(2026, 9, 16, 9, 15, tzinfo=ny)
    text = " ".join(got.skipped)
    assert "Canvas user 9999 is not in the roster" in text
    assert "notes.txt is not a notebook of 01_gradient_descent" in text
    assert "README.txt is not named like a Canvas download" in text
    assert not (out / "carol").exists()


def test_importing_again_keeps_the_earlier_folder(tmp_path):
    entries = [("aalice_4021_9001_01_gradient_descent.ipynb", b"{}", (2026, 9, 14, 20, 0, 0))]
    out = tmp_path / "SUBMISSIONS"
    import_canvas_zip(_zip(tmp_path / "one.zip", entries), out, A, [NB], ROSTER)
    entries = [("aalice_4021_9009_01_gradient_descent.ipynb", b'{"new": 1}', (2026, 9, 15, 20, 0, 0))]
    import_canvas_zip(_zip(tmp_path / "two.zip", entries), out, A, [NB], ROSTER)
    assert (out / "alice" / A / f"{NB}.ipynb").read_bytes() == b'{"new": 1}'
    kept = list((out / ".replaced" / "alice" / A).rglob(f"{NB}.ipynb"))
    assert len(kept) == 1 and kept[0].read_bytes() == b"{}"


def test_a_zip_with_traversal_names_and_links_writes_nothing_outside(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../../aalice_4021_9001_01_gradient_descent.ipynb", b'{"x": 1}')
        link = zipfile.ZipInfo("bbob_4022_9002_01_gradient_descent.ipynb")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/shadow")
    out = tmp_path / "deep" / "SUBMISSIONS"
    got = import_canvas_zip(z, out, A, [NB], ROSTER)
    assert (out / "alice" / A / f"{NB}.ipynb").read_bytes() == b'{"x": 1}'   # by its base name, inside out/
    assert not (tmp_path / f"aalice_4021_9001_{NB}.ipynb").exists()
    assert not (out / "bob").exists() and any("is a link" in s for s in got.skipped)


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_bytes(b"not a zip at all"), "is not a zip file"),
    (lambda p: _zip(p, [("notes.txt", b"x", (2026, 1, 1, 0, 0, 0))]), "holds no file named like a Canvas download"),
])
def test_a_file_that_is_not_a_canvas_download_is_one_sentence(tmp_path, make, words):
    p = tmp_path / "x.zip"
    make(p)
    with pytest.raises(CourseError, match=words):
        import_canvas_zip(p, tmp_path / "out", A, [NB], ROSTER)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_roster_without_canvas_ids_is_named(tmp_path):
    with pytest.raises(CourseError, match="no canvas_id column"):
        import_canvas_zip(tmp_path / "x.zip", tmp_path / "out", A, [NB], [Student("alice")])


def test_a_damaged_entry_skips_that_student_and_keeps_their_earlier_folder(tmp_path):
    out = tmp_path / "SUBMISSIONS"
    import_canvas_zip(_zip(tmp_path / "one.zip", [("aalice_4021_9001_01_gradient_descent.ipynb", b'{"old": 1}',
                                                   (2026, 9, 14, 20, 0, 0))]), out, A, [NB], ROSTER)
    z = tmp_path / "damaged.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("aalice_4021_9005_01_gradient_descent.ipynb", (2026, 9, 15, 9, 0, 0)), b'{"new": 1}' * 50)
        zf.writestr(zipfile.ZipInfo("bbob_4022_9006_01_gradient_descent.ipynb", (2026, 9, 15, 9, 0, 0)), b'{"bob": 1}')
    data = bytearray(z.read_bytes())
    start = data.index(b"aalice_4021_9005_01_gradient_descent.ipynb") + len("aalice_4021_9005_01_gradient_descent.ipynb")
    for i in range(start + 2, start + 12):       # inside alice's compressed data
        data[i] ^= 0xFF
    z.write_bytes(bytes(data))
    got = import_canvas_zip(z, out, A, [NB], ROSTER)
    assert [s for s, _, _, _ in got.written] == ["bob"]
    assert any("could not be read from the zip" in s and "alice's submission was skipped" in s for s in got.skipped), got.skipped
    assert (out / "alice" / A / f"{NB}.ipynb").read_bytes() == b'{"old": 1}'
    assert not (out / ".replaced").exists() and not list((out / "alice").glob(".*"))


def test_an_entry_whose_stored_date_is_no_date_gives_no_time(tmp_path):
    z = _zip(tmp_path / "s.zip", [("aalice_4021_9001_01_gradient_descent.ipynb", b"{}", (2026, 13, 40, 25, 0, 0))])
    got = import_canvas_zip(z, tmp_path / "SUBMISSIONS", A, [NB], ROSTER)
    assert got.written == [("alice", A, None, False)]
    assert (tmp_path / "SUBMISSIONS" / "alice" / A / f"{NB}.ipynb").is_file()
    assert not (tmp_path / "SUBMISSIONS" / "alice" / A / "timestamp.txt").exists()


def test_the_same_download_collected_again_is_kept_and_not_moved_aside(tmp_path):
    entries = [("aalice_4021_9001_01_gradient_descent.ipynb", b'{"a": 1}', (2026, 9, 14, 20, 0, 0)),
               ("bbob_4022_9002_01_gradient_descent.ipynb", b'{"b": 1}', (2026, 9, 14, 21, 0, 0))]
    z, out = _zip(tmp_path / "s.zip", entries), tmp_path / "SUBMISSIONS"
    import_canvas_zip(z, out, A, [NB], ROSTER)
    (out / "bob" / A / "notes.md").write_text("bob's folder has more than the zip now")
    again = import_canvas_zip(z, out, A, [NB], ROSTER)
    assert [s for s, _, _, _ in again.written] == ["bob"]                 # changed since: replaced, the old one kept
    assert again.kept == [f"alice/{A}: the same submission is already there; it was kept."]
    assert not (out / ".replaced" / "alice").exists() and len(list((out / ".replaced" / "bob" / A).iterdir())) == 1
