"""Collecting a submissions folder no file in it can stop, hang or fool.

The tree is built as a determined student would leave it: links to the instructor's source
notebook, to ``/etc/passwd`` and to ``/dev/zero``, a folder named ``*.ipynb``, a FIFO, a device
node, JSON nested 100,000 deep, a file over the size cap, file names and ids with newlines,
spaces, non-UTF-8 bytes and formula characters. Most are refused before any kernel runs, so
:func:`autograder.submissions.collect` is tested directly; one ``course grade`` batch checks
the whole path: it finishes, each bad submission has its one sentence, the others are graded.
"""

import csv
import os
import signal
import stat
import threading

import nbformat
import pytest
from bleach._vendor import html5lib

from autograder.submissions import MAX_JSON_DEPTH, MAX_READ_BYTES, collect, json_depth, read_notebook_problem, read_regular
from conftest import ROOT, run_course
from notebook_text import html_text, solution_lines

A = "01_gradient_descent"
NB = f"{A}.ipynb"
SOURCE = ROOT / "notebooks" / A / NB
EXPECTED = {A: [A]}
IS_ROOT = os.geteuid() == 0


def _folder(root, student):
    path = root / student / A
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sparse(path, size):
    with open(path, "wb") as fh:
        fh.truncate(size)


# what each hostile entry is, and a phrase of the one sentence it must get
CASES = {
    "link_to_source": (lambda d: os.symlink(SOURCE, d / NB), "is a symbolic link, not a file"),
    "link_to_passwd": (lambda d: os.symlink("/etc/passwd", d / NB), "is a symbolic link, not a file"),
    "link_to_dev_zero": (lambda d: os.symlink("/dev/zero", d / NB), "is a symbolic link, not a file"),
    "link_to_dev_urandom": (lambda d: os.symlink("/dev/urandom", d / NB), "is a symbolic link, not a file"),
    "folder_named_ipynb": (lambda d: (d / NB).mkdir(), "is a folder, not a notebook file"),
    "fifo": (lambda d: os.mkfifo(d / NB), "is a named pipe (FIFO), not a file"),
    "socket": (lambda d: _bind_socket(d / NB), "is a socket, not a file"),
    "deep_json": (lambda d: (d / NB).write_bytes(b'{"cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
                  f"nested more than {MAX_JSON_DEPTH} levels deep"),
    "deep_in_a_string_is_fine_but_not_a_notebook": (lambda d: (d / NB).write_text('{"x": "' + "[" * 100_000 + '"}'),
                                                    "JSON but not a notebook"),
    "over_the_cap": (lambda d: _sparse(d / NB, MAX_READ_BYTES + 2**20), f"over the {MAX_READ_BYTES // 2**20} MB limit"),
    "huge_integer": (lambda d: (d / NB).write_text('{"cells": [], "n": ' + "9" * 5000 + "}"), "a number too long to read"),
    "lone_surrogate": (lambda d: (d / NB).write_text(SOURCE.read_text().replace('"cells": [', '"cells": [{"cell_type": '
                       '"markdown", "id": "x1", "metadata": {}, "source": "\\ud800"},', 1)), "not Unicode"),
}
if IS_ROOT:  # mknod needs CAP_MKNOD: CI runs as root
    CASES["device_node"] = (lambda d: os.mknod(d / NB, 0o600 | stat.S_IFCHR, os.makedev(1, 5)), "is a character device, not a file")


def _bind_socket(path):
    import socket

    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("subs")
    for student, (make, _) in CASES.items():
        make(_folder(root, student))
    (_folder(root, "ok") / NB).write_bytes(SOURCE.read_bytes())
    (_folder(root, "zoe a") / NB).write_bytes(SOURCE.read_bytes())
    (_folder(root, "zoe_a") / NB).write_bytes(SOURCE.read_bytes())
    (_folder(root, "zo\u00eb \u00fcnicode") / NB).write_bytes(SOURCE.read_bytes())
    (_folder(root, "z" * 200) / NB).write_bytes(SOURCE.read_bytes())
    (_folder(root, "new\nline") / NB).write_bytes(SOURCE.read_bytes())
    os.makedirs(os.path.join(os.fsencode(root), b"bad\xffname", A.encode()))
    (root / os.fsdecode(b"bad\xffname") / A / NB).write_bytes(SOURCE.read_bytes())
    extra = _folder(root, "newline_file")
    (extra / NB).write_bytes(SOURCE.read_bytes())
    (extra / "notes\nzoe_a/01_gradient_descent: 10 / 10.txt".replace("/", "_")).write_text("x")
    os.symlink(root / "ok", root / "link_student")
    (root / "link_assignment").mkdir()
    os.symlink(root / "ok" / A, root / "link_assignment" / A)
    os.mkfifo(root / "fifo_student")
    (root / "stray.txt").write_text("not a student")
    done = {}

    def run():
        done["result"] = collect(root, EXPECTED)

    worker = threading.Thread(target=run, daemon=True)   # a FIFO that blocked would hang here, not the suite
    worker.start()
    worker.join(120)
    assert "result" in done, "collect() blocked (on a FIFO or a device?)"
    subs, skipped = done["result"]
    return root, {s.student: s for s in subs}, skipped


@pytest.mark.parametrize("student", sorted(CASES))
def test_each_bad_entry_is_one_sentence_and_nothing_is_read(tree, student):
    _, subs, _ = tree
    sub = subs[student]
    assert sub.notebooks == {}, f"{student}: a notebook was taken from it"
    assert len(sub.problems) == 1, sub.problems
    assert CASES[student][1] in sub.problems[0] and sub.problems[0].endswith("It scores 0."), sub.problems[0]


def test_good_submissions_are_read_once_as_bytes(tree):
    _, subs, _ = tree
    for student in ("ok", "zoe a", "zoe_a", "zo\u00eb \u00fcnicode", "z" * 200, "new\nline", os.fsdecode(b"bad\xffname")):
        assert subs[student].notebooks == {A: SOURCE.read_bytes()}, student
        assert subs[student].problems == [], (student, subs[student].problems)


def test_a_link_to_the_source_never_reads_it(tree):
    _, subs, _ = tree
    assert not any(SOURCE.read_bytes() == b for b in subs["link_to_source"].notebooks.values())


def test_a_file_name_with_a_newline_is_escaped(tree):
    _, subs, _ = tree
    (problem,) = subs["newline_file"].problems
    assert "\n" not in problem and "'notes\\nzoe_a_01_gradient_descent: 10 _ 10.txt'" in problem


def test_linked_folders_are_refused(tree):
    _, subs, skipped = tree
    assert any(s.startswith("link_student is a symbolic link, not a student folder") for s in skipped), skipped
    assert subs["link_assignment"].notebooks == {} and "is a symbolic link, not a folder" in subs["link_assignment"].problems[0]
    assert any(s.startswith("fifo_student is a named pipe (FIFO), not a student folder") for s in skipped), skipped
    assert any(s.startswith("stray.txt is a file, not a student folder") for s in skipped), skipped


def test_a_fifo_for_course_check_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / NB)
    signal.alarm(30)   # a blocking open would stop the test here
    try:
        assert "named pipe" in read_notebook_problem(tmp_path / NB)
    finally:
        signal.alarm(0)


def test_reading_stops_one_byte_past_the_cap(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 10_000)
    data, problem = read_regular(str(tmp_path / "f"), cap=1000)
    assert problem is None and len(data) == 1001


def test_json_depth_counts_brackets_outside_strings_only():
    assert json_depth(b"") == 0 and json_depth(b"[]") == 1 and json_depth(b'{"a": [[1], {"b": []}]}') == 4
    assert json_depth(b'{"a": "[[[[\\"[[[", "b": "\\\\", "c": [["\\\\\\"]]"]]}') == 3
    assert json_depth(b"[" * 50 + b"]" * 50) == 50


def test_json_nested_just_below_the_limit_is_read(tmp_path):
    nb = nbformat.read(str(SOURCE), as_version=4)
    deep = []
    for _ in range(MAX_JSON_DEPTH - 10):
        deep = [deep]
    nb.metadata["deep"] = deep
    folder = _folder(tmp_path, "s")
    nbformat.write(nb, str(folder / NB))
    (sub,), _ = collect(tmp_path, EXPECTED)
    assert sub.problems == [] and list(sub.notebooks) == [A]


def test_a_hard_link_is_read_like_the_copy_it_is(tmp_path):
    outside = tmp_path / "outside.ipynb"
    outside.write_bytes(SOURCE.read_bytes())
    os.link(outside, _folder(tmp_path / "subs", "s") / NB)
    (sub,), _ = collect(tmp_path / "subs", EXPECTED)
    assert sub.notebooks == {A: SOURCE.read_bytes()}


def test_a_folder_of_many_files_is_bounded_and_the_notebook_still_found(tmp_path):
    folder = _folder(tmp_path, "s")
    (folder / NB).write_bytes(SOURCE.read_bytes())
    for i in range(10_050):
        (folder / f"junk{i:05d}.txt").touch()
    (sub,), _ = collect(tmp_path, EXPECTED)
    assert list(sub.notebooks) == [A]
    assert "and 10045 more" in sub.problems[0], sub.problems


def test_an_unreadable_notebook_is_one_sentence_for_an_ordinary_user(tmp_path):
    if IS_ROOT:
        pytest.skip("root reads any file")
    path = _folder(tmp_path, "s") / NB
    path.write_bytes(SOURCE.read_bytes())
    path.chmod(0)
    (sub,), _ = collect(tmp_path, EXPECTED)
    assert "could not be read (Permission denied)" in sub.problems[0]


# -- one batch, end to end -----------------------------------------------------------------------

XSS_MARKDOWN = "# My answer\n<script>document.title='pwned'</script>\n<img src=x onerror=\"document.title='pwned'\">"
FLOOD_CELLS = 300      # each prints more than the 20,000 characters a cell keeps


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    subs = tmp_path_factory.mktemp("batch_subs")
    src = SOURCE.read_bytes()
    for student, (make, _) in CASES.items():
        make(_folder(subs, student))
    for student in ("ok", "zoe a"):
        (_folder(subs, student) / NB).write_bytes(src)
    wrong = SOURCE.read_text().replace("if loss < best - min_delta:", "if loss <= best - min_delta:")
    assert wrong != SOURCE.read_text()
    (_folder(subs, "zoe_a") / NB).write_text(wrong)
    (_folder(subs, "newline_file") / NB).write_bytes(src)
    (_folder(subs, "newline_file") / "x\nzoe_a/01_gradient_descent: 10 / 10".replace("/", "\u2215")).write_text("x")
    for odd in ("=1+2", "new\nline"):   # refused notebooks: ids checked without running a kernel
        os.mkfifo(_folder(subs, odd) / NB)
    nb = nbformat.read(str(SOURCE), as_version=4)
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(XSS_MARKDOWN))
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("[a]: https://example.org/" + "x" * 500 + "\n\n" + "[a] " * 50_000))
    nb.cells.insert(3, nbformat.v4.new_code_cell("print('<script>document.title=\"pwned\"</script>')"))
    for i in range(FLOOD_CELLS):
        nb.cells.insert(4, nbformat.v4.new_code_cell("print('w' * 30_000)"))
    nbformat.write(nb, str(_folder(subs, "xss_and_flood") / NB))
    out = tmp_path_factory.mktemp("batch_out")
    proc = run_course("grade", subs, "--out", out, "--workers", "2", "--cell-timeout", "20", "--notebook-timeout", "120",
                      timeout=1500)
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    return subs, out, proc, rows


@pytest.mark.slow
def test_the_batch_finishes_and_every_submission_has_a_row(batch):
    _, _, proc, rows = batch
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert len(rows) == len(CASES) + 7, sorted(rows)


@pytest.mark.slow
def test_good_submissions_are_graded_beside_the_bad_ones(batch):
    _, _, _, rows = batch
    assert float(rows["ok"]["score"]) == 10 and float(rows["zoe a"]["score"]) == 10 and float(rows["zoe_a"]["score"]) == 7
    assert float(rows["newline_file"]["score"]) == 10 and float(rows["xss_and_flood"]["score"]) == 10


@pytest.mark.slow
def test_each_bad_submission_scores_0_with_its_sentence(batch):
    _, out, _, rows = batch
    report = (out / "report.txt").read_text(encoding="utf-8")
    for student, (_, phrase) in CASES.items():
        assert float(rows[student]["score"]) == 0, student
        sentence = report.split(f"\n{student}/{A}: 0 / 10\n  ! ", 1)[1].split("\n", 1)[0]
        assert sentence.startswith(NB) and phrase in sentence and sentence.endswith("It scores 0."), (student, sentence)
        assert phrase in html_text(out / "feedback" / student / A / f"{A}.html"), f"{student}'s feedback lacks its sentence"


@pytest.mark.slow
def test_no_feedback_page_shows_the_source_or_a_linked_file(batch):
    _, out, _, _ = batch
    leaked = solution_lines(SOURCE)
    assert leaked
    for student in ("link_to_source", "link_to_passwd"):
        text = html_text(out / "feedback" / student / A / f"{A}.html")
        assert "is a symbolic link" in text
        assert not any(line in text for line in leaked) and "root:x:0:0" not in text, student


@pytest.mark.slow
def test_odd_ids_are_escaped_in_report_and_grades(batch):
    _, out, _, rows = batch
    assert "'=1+2" in rows and "'new\\nline'" in rows, sorted(rows)
    report = (out / "report.txt").read_text(encoding="utf-8").splitlines()
    assert "'new\\nline'/01_gradient_descent: 0 / 10" in report
    assert not any(line.startswith(("line/", "zoe_a\u2215", "x\n")) for line in report)
    assert sum(line.startswith("zoe_a/") for line in report) == 1, "a file name forged a report line"


@pytest.mark.slow
def test_zoe_a_and_zoe_underscore_a_keep_their_own_feedback(batch):
    _, out, _, _ = batch
    pages = [p for p in (out / "feedback").glob(f"*/{A}/{A}.html")]
    scores = sorted(html_text(p).split("Score:")[1].split("/")[0].strip() for p in pages
                    if p.parent.parent.name.startswith("zoe"))
    assert scores == ["10", "7"], scores


@pytest.mark.slow
def test_the_xss_submission_feedback_is_inert_and_bounded(batch):
    _, out, _, _ = batch
    (page_path,) = [p for p in (out / "feedback").glob(f"xss_and_flood*/{A}/{A}.html")]
    page = page_path.read_text(encoding="utf-8")
    assert len(page.encode()) < 2 * 2**20, f"{len(page):,} characters"
    doc = html5lib.parse(page, treebuilder="etree", namespaceHTMLElements=False)
    for e in doc.iter():
        assert e.tag not in ("script", "iframe", "svg", "object", "embed"), e.tag
        assert not any(k.lower().startswith("on") for k in e.attrib), e.attrib
        assert not str(e.get("src", "")).startswith(("x", "http")), e.attrib
    text = html_text(page_path)
    assert "<script>document.title='pwned'</script>" in text, "the student's markdown is shown as text"
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "the feedback shows at most" in text, "where outputs were cut, the page says so"


@pytest.mark.slow
def test_grading_again_keeps_everything(batch):
    subs, out, _, rows = batch
    again = run_course("grade", subs, "--out", out, "--workers", "2", timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(rows)} kept from an earlier run" in again.stdout, again.stdout
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        assert {r["student_id"]: r for r in csv.DictReader(fh)} == rows
