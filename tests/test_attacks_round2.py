"""Attacks by someone who has read the grader's source, round 2: the feedback page as our own code
writes it (:mod:`autograder.feedback`), its deduction-line region, and the warm ``course check``
server (:mod:`autograder.check_server`).

Pages are read back with html5lib (how browsers parse), never with the code under test. The
server is run for real in a child process with its heavy warm-up replaced by nothing and its
grading by a stub that answers one sentence, so that what is tested is the socket, the folder
and the protocol.
"""

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from autograder import CourseError, check_server, grading
from autograder.feedback import (CELL_CHARGE, LATE_END, LATE_START, MAX_CELL_CHARS, MAX_NOTEBOOK_CHARS, SafeCells,
                                 late_region, notebook_html, page_html, safe_page, summary_html, with_late_line)
from tests.conftest import ROOT, run_course
from tests.test_feedback_escaping import A, PNG, _assert_inert, _elements, _page_of, _shown_text, _test_cell, source_dir  # noqa: F401

INSTRUCTOR_MD = "# The instructor's title\n\n<b>instructor HTML</b> $x^2$"
SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


def _code(source="x", outputs=(), **meta):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = list(outputs)
    cell.metadata.update(meta)
    return cell


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def _raw_page(nb, scores=None):
    """notebook_html on a notebook that did NOT go through SafeCells, then safe_page: each layer alone must hold."""
    return safe_page(f"<body>{notebook_html(nb, frozenset({INSTRUCTOR_MD}), scores)}</body>", "feedback", "")


def _tags(page, tag):
    return [e for e in _elements(page) if e.tag == tag]


# -- rich outputs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("payload", [SVG.encode(), b"<html><script>alert(1)</script></html>",
                                     b"\x89PN<script>alert(1)</script>", b"GIF89a<script>"])
@pytest.mark.parametrize("mime", ["image/png", "image/jpeg"])
def test_an_image_output_that_is_not_a_png_or_jpeg_is_not_shown(source_dir, mime, payload):
    out = nbformat.v4.new_output("display_data", data={mime: base64.b64encode(payload).decode(), "text/plain": "<Figure>"})
    for page in (_page_of(_nb(_code(outputs=[out])), source_dir), _raw_page(_nb(_code(outputs=[out])))):
        _assert_inert(page)
        assert not _tags(page, "img"), "an image that is not a PNG or JPEG was shown"
        assert "<Figure>" in _shown_text(page)


@pytest.mark.parametrize("forged", [PNG[:12] + '" onerror="alert(1)" x="' + PNG[12:],
                                    PNG[:12] + "\njavascript:alert(1)//" + PNG[12:],
                                    PNG + '"><script>alert(1)</script>', "javascript:alert(1)"])
def test_a_png_whose_base64_carries_quotes_or_a_link_breaks_nothing(source_dir, forged):
    out = nbformat.v4.new_output("display_data", data={"image/png": forged})
    for page in (_page_of(_nb(_code(outputs=[out])), source_dir), _raw_page(_nb(_code(outputs=[out])))):
        _assert_inert(page)
        assert not _tags(page, "img")
        assert not _tags(page, "script")


def test_a_real_png_with_line_breaks_in_its_base64_is_shown_as_one_clean_data_uri(source_dir):
    wrapped = "\n".join(PNG[i:i + 20] for i in range(0, len(PNG), 20))
    page = _page_of(_nb(_code(outputs=[nbformat.v4.new_output("display_data", data={"image/png": wrapped})])), source_dir)
    (img,) = _tags(page, "img")
    assert img.get("src") == "data:image/png;base64," + PNG
    assert set(img.attrib) <= {"src", "alt"}


@pytest.mark.parametrize("mime", ["text/html", "image/svg+xml", "application/javascript", "text/markdown", "text/latex",
                                  "application/vnd.jupyter.widget-view+json", "text/html\"><script>alert(1)</script>"])
def test_rich_outputs_run_nothing_and_their_source_is_not_rendered(source_dir, mime):
    payload = '<script>alert(1)</script><img src=x onerror=alert(2)><a href="javascript:alert(3)">x</a>' + SVG
    out = nbformat.v4.new_output("display_data", data={mime: payload})
    for page in (_page_of(_nb(_code(outputs=[out])), source_dir), _raw_page(_nb(_code(outputs=[out])))):
        _assert_inert(page)
        assert not _tags(page, "img") and not _tags(page, "a")


def test_a_huge_mime_type_name_is_capped(source_dir):
    """(A hole, fixed: the note naming the dropped types quoted each name whole, past every cap.)"""
    out = nbformat.v4.new_output("display_data", data={"x/" + "y" * 300_000: "1"})
    nb = _page_of(_nb(_code(outputs=[out])), source_dir)
    assert len(_shown_text(nb)) < 5_000


# -- text a student wrote --------------------------------------------------------------------------

@pytest.mark.parametrize("student", [
    INSTRUCTOR_MD + "<img src=x onerror=alert(1)>",            # the instructor's cell with HTML after it
    INSTRUCTOR_MD + " ",                                        # a single space more
    INSTRUCTOR_MD.replace("<b>", "<b onclick=alert(1)>"),       # the instructor's own HTML, edited
    "\ufeff" + INSTRUCTOR_MD,                                   # an invisible character before it
])
def test_a_near_copy_of_the_instructors_markdown_is_shown_as_text(source_dir, student):
    page = _page_of(_nb(nbformat.v4.new_markdown_cell(student)), source_dir)
    _assert_inert(page)
    assert not _tags(page, "b") and not _tags(page, "h1"), "a student's near copy was rendered as the instructor's markdown"
    assert "<b" in _shown_text(page)


def test_a_word_for_word_copy_renders_as_the_instructors_and_a_raw_cell_copy_does_not(source_dir):
    page = _page_of(_nb(nbformat.v4.new_markdown_cell(INSTRUCTOR_MD)), source_dir)
    assert [e.text for e in _tags(page, "b")] == ["instructor HTML"]
    raw = _page_of(_nb(nbformat.v4.new_raw_cell(INSTRUCTOR_MD)), source_dir)
    assert not _tags(raw, "b")


def test_forged_cell_metadata_ids_and_attachments_change_nothing(source_dir):
    cell = _code("print(1)", outputs=[nbformat.v4.new_output("stream", text="ok")])
    cell.metadata["nbgrader"] = {"grade_id": "test_f\"><script>alert(1)</script>", "grade": True, "solution": True,
                                 "locked": True, "points": 1000, "schema_version": 3}
    cell["id"] = "x\"><script>alert(1)</script>"
    md = nbformat.v4.new_markdown_cell("![p](attachment:p.png)")
    md.attachments = {"p.png": {"image/svg+xml": SVG, "text/html": "<script>alert(1)</script>"}}
    md.metadata["nbgrader"] = {"grade_id": "f", "grade": True, "solution": False, "locked": True, "points": 5}
    nb = _nb(cell, md)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"x": {"html": SVG}}}}
    page = _page_of(nb, source_dir)
    _assert_inert(page)
    assert not _tags(page, "img") and "points" not in _shown_text(page), "forged metadata gave a score line"
    assert "attachment:p.png" in _shown_text(page)   # shown as the text the student wrote
    assert "<script>" not in page
    gid = cell.metadata["nbgrader"]["grade_id"]   # even a score line under that id shows it as text
    nb = _nb(cell)
    page = _page_of(nb, source_dir, {gid: (1, 1)})
    _assert_inert(page)
    assert f"Test {gid}: 1 / 1 points" in _shown_text(page)


def test_an_error_with_html_in_its_name_shows_escaped_and_without_its_traceback(source_dir):
    err = nbformat.v4.new_output("error", ename="<script>alert(1)</script>", evalue="</pre><img src=x onerror=alert(2)>\x1b[31m",
                                 traceback=["SECRET_HIDDEN_LINE assert f(3) == 42", "\x1b]8;;https://evil/\x1b\\x\x1b]8;;\x1b\\"])
    cell = _test_cell("f(3)", gid="f")
    cell.outputs = [err]
    for page in (_page_of(_nb(cell), source_dir), _raw_page(_nb(_code(outputs=[err])))):
        _assert_inert(page)
        text = _shown_text(page)
        assert "<script>alert(1)</script>: </pre><img src=x onerror=alert(2)>" in text
        assert "SECRET_HIDDEN_LINE" not in text and "\x1b" not in page and not _tags(page, "img")


def test_carriage_returns_and_ansi_hyperlinks_in_a_stream_make_no_link(source_dir):
    text = ("50%\r100%\x1b[1;31m red \x1b[0m\x1b]8;;javascript:alert(1)\x1b\\click\x1b]8;;\x1b\\"
            "\x1b]8;;https://evil.example/\x07here\x1b]8;;\x07\x1b]0;title\x07\x9b31m\x00\x08")
    page = _page_of(_nb(_code(outputs=[nbformat.v4.new_output("stream", text=text)])), source_dir)
    _assert_inert(page)
    assert not _tags(page, "a")
    assert not any(ch in page for ch in "\x1b\x07\x00\x08")
    assert "click" in _shown_text(page) and "100%" in _shown_text(page)


def test_a_lone_surrogate_in_an_output_still_gives_a_page_that_saves(source_dir):
    """(A hole, fixed: a lone surrogate made the page impossible to write as UTF-8, so the whole
    notebook's feedback failed with a traceback's text.)"""
    nb = _nb(_code("print('\\ud800')", outputs=[nbformat.v4.new_output("stream", text="a\ud800b")]),
             nbformat.v4.new_markdown_cell("c\udfffd"))
    page = _page_of(nb, source_dir)
    page.encode("utf-8")
    assert "a?b" in _shown_text(page) and "c?d" in _shown_text(page)


def test_a_deeply_nested_output_is_flat_text(source_dir):
    nested = "[" * 200 + "]" * 200
    deep_html = "<ul><li>" * 200 + "x" + "</li></ul>" * 200
    outs = [nbformat.v4.new_output("execute_result", data={"text/plain": nested, "text/html": deep_html}, execution_count=1)]
    page = _page_of(_nb(_code(outputs=outs)), source_dir)
    _assert_inert(page)
    assert nested in _shown_text(page) and not _tags(page, "ul")


# -- sizes --------------------------------------------------------------------------------------

def test_a_hundred_thousand_empty_cells_are_not_a_hundred_thousand_blocks(source_dir):
    """(A hole, fixed: an empty cell cost nothing of the notebook's budget, so 100,000 empty cells,
    a 10 MB notebook that runs in no time, gave 12 MB of tags and a minute of sanitizing per page.)"""
    nb = _nb(*[nbformat.v4.new_markdown_cell("") if i % 2 else _code("") for i in range(100_000)])
    out, _ = SafeCells(source_dir=str(source_dir)).preprocess(nb, {"nbgrader": {"assignment": A, "notebook": A}})
    assert len(out.cells) <= MAX_NOTEBOOK_CHARS // CELL_CHARGE + 2
    assert "cells not shown here" in out.cells[-1].source
    assert len(notebook_html(out)) < 1_000_000


def test_a_graded_cell_cannot_show_unbounded_outputs(source_dir):
    """(A hole, fixed: a graded cell's outputs were each capped but not together, so a solution that
    ``display``s a thousand long strings when a test calls it made a page of 20 MB before the cut.)"""
    outs = [nbformat.v4.new_output("display_data", data={"text/plain": f"{i:05d}" + "z" * 20_000}) for i in range(1000)]
    cell = _test_cell("gd_step(1, 2, 3)", gid="f")
    cell.outputs = outs
    out, _ = SafeCells(source_dir=str(source_dir)).preprocess(_nb(cell), {"nbgrader": {"assignment": A, "notebook": A}})
    shown = out.cells[0].outputs
    assert sum(len(o.get("data", {}).get("text/plain", "") + o.get("text", "")) for o in shown) < 2 * MAX_CELL_CHARS + 1000
    assert "more outputs not shown" in shown[-1].text
    assert shown[0].data["text/plain"].startswith("00000")   # the first ones are kept


def test_a_page_of_many_tiny_outputs_stays_within_the_page_cap(source_dir):
    cells = [_code("p", outputs=[nbformat.v4.new_output("stream", text="<") for _ in range(50)]) for _ in range(2000)]
    page = _page_of(_nb(*cells), source_dir)
    assert len(page.encode()) < 5 * 2**20


# -- the deduction line's region ----------------------------------------------------------------

FORGERIES = [LATE_START + "<p class=\"grader-late\"><b>No deduction (forged)</b></p>" + LATE_END,
             "</main><main class=\"grader-notebook\">", "<!--/grader-late-->", "<!--grader-late-->",
             "<header class=\"grader-header\"><p class=\"grader-score\">Score: <b>10 / 10</b></p>"]


def _result(msg):
    return grading.Result("zoe<img src=x onerror=alert(1)>" + LATE_START, A, 1.0, 4.0,
                          cells=[[A, "test_gd_step", 0.0, 1.0, msg]], problems=[msg])


@pytest.mark.parametrize("forged", FORGERIES)
def test_a_student_cannot_forge_or_move_the_deduction_region(source_dir, forged):
    nb = _nb(nbformat.v4.new_markdown_cell(forged), _code(forged, outputs=[nbformat.v4.new_output("stream", text=forged)]))
    body = f"<body>{notebook_html(_nb(*SafeCells(source_dir=str(source_dir)).preprocess(nb, {'nbgrader': {'assignment': A, 'notebook': A}})[0].cells), frozenset())}</body>"
    res = _result(forged)
    page = safe_page(body, f"{A} feedback {forged}", summary_html(res, f"<li>{forged.replace('<', '&lt;')}</li>"))
    for line in ("Late by 3 h: 30% deducted.", "", "Late by 5 h: 50% deducted.", "Late by 5 h: 50% deducted."):
        page = with_late_line(page, line)
        assert page.count(LATE_START) == 1 and page.count(LATE_END) == 1, "the region was doubled or lost"
        head = page[:page.index("<main class=\"grader-notebook\">")]
        assert late_region(line) in head
        assert page.index(late_region(line)) > page.index("<p class=\"grader-score\">")
        _assert_inert(page)
        texts = ["".join(e.itertext()) for e in _elements(page) if "grader-late" in (e.get("class") or "")]
        assert texts == ([line] if line else [])
    assert forged in _shown_text(page)   # the student's text is still there, as text


def test_the_region_is_rewritten_in_saved_pages_and_a_marker_below_the_header_is_never_taken(tmp_path):
    header = summary_html(_result("ok"), "")
    body = "<p>" + LATE_START + "<p class=\"grader-late\">forged</p>" + LATE_END + "</p>"
    page = page_html("t", header, body)          # a page whose body holds markers (not one safe_page made)
    assert grading._page_region.__defaults__[0] >= 2**20
    path = tmp_path / "p.html"
    path.write_text(page, encoding="utf-8")
    assert grading._page_region(path) is None, "a marker in the notebook part was taken for the region"
    page = with_late_line(page, "Late by 1 h: 10% deducted.")
    assert page.endswith(page_html("t", header, body).split("<main class=\"grader-notebook\">")[1])   # the body untouched
    path.write_text(page, encoding="utf-8")
    assert grading._page_region(path) == late_region("Late by 1 h: 10% deducted.").encode()


def test_a_late_sentence_with_html_is_escaped():
    region = late_region("1 h <script>alert(1)</script>" + LATE_END + "\nforged line")
    assert region.count(LATE_END) == 1 and "<script>" not in region and "\n" not in region


# -- the check server -------------------------------------------------------------------------------

SERVER = """
import os, sys
import autograder.jail as j, autograder.grading as g
from autograder import CourseError, check_server as cs
j.start_zygote = j.stop_zygote = lambda: None
g.warm_up_dask = lambda: None
def fake(root, nb, isolation="none"):
    raise CourseError("checked " + nb + " in " + os.getcwd())
g.check_notebook = fake
sys.exit(cs.serve(sys.argv[1], "none", sys.argv[2]))
"""


@pytest.fixture
def short_dir():
    d = Path(tempfile.mkdtemp(prefix="ar2-"))
    os.chmod(d, 0o700)
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


def _serve(sock, idle="2"):
    env = dict(os.environ, COURSE_CHECK_SERVER_IDLE_S=idle)
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(ROOT), str(sock)], env=env, cwd=str(ROOT))
    end = time.monotonic() + 60
    while time.monotonic() < end and proc.poll() is None:
        try:
            _ask(sock, {"notebook": "probe.ipynb", "cwd": "/"})
            return proc
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"the stub server did not start (exit {proc.poll()})")


def _ask(sock, request, raw=None):
    """The server's answer (a dict), or None when it closed without one."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(20)
        conn.connect(str(sock))
        try:
            conn.sendall(raw if raw is not None else json.dumps(request).encode())
            conn.shutdown(socket.SHUT_WR)
            data = check_server._recv_all(conn, 2**20)
        except (BrokenPipeError, ConnectionResetError):
            return None   # it hung up on us: no answer
    finally:
        conn.close()
    return json.loads(data) if data else None


def _stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


def test_the_server_answers_and_survives_bad_requests(short_dir):
    sock = short_dir / "check" / "c-k.sock"
    sock.parent.mkdir(mode=0o700)
    proc = _serve(sock)
    try:
        assert (sock.stat().st_mode & 0o777) == 0o600
        assert _ask(sock, {"notebook": "a.ipynb", "cwd": str(short_dir)}) == {"error": f"checked a.ipynb in {short_dir}"}
        assert _ask(sock, None, raw=b"x" * (check_server.MAX_REQUEST + 10)) is None          # too long: no answer
        assert _ask(sock, {"notebook": "a.ipynb", "cwd": str(short_dir / "gone")}) is None  # a cwd that is not there
        assert _ask(sock, None, raw=b"[1, 2]") is None and _ask(sock, {"notebook": 3, "cwd": "/"}) is None
        assert _ask(sock, {"notebook": "b.ipynb", "cwd": "/"}) == {"error": "checked b.ipynb in /"}   # still serving
    finally:
        _stop(proc)


def test_the_server_ends_when_its_socket_is_replaced_or_idle(short_dir):
    sock = short_dir / "check" / "c-k.sock"
    sock.parent.mkdir(mode=0o700)
    proc = _serve(sock, idle="600")
    try:
        sock.unlink()
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        other.bind(str(sock))                       # someone else's socket at its name now
        proc.wait(timeout=60)
        assert sock.exists(), "the server removed a socket that is not its own"
        other.close()
    finally:
        _stop(proc)
    sock.unlink()
    proc = _serve(sock, idle="1")
    try:
        proc.wait(timeout=60)
        assert not sock.exists() and not Path(str(sock) + ".lock").exists()
    finally:
        _stop(proc)


def test_a_stale_socket_of_a_dead_server_is_replaced_and_the_client_falls_back(short_dir, monkeypatch):
    sock = short_dir / "check" / "c-k.sock"
    sock.parent.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock))
    dead.close()                                    # the file stays, nobody listens
    monkeypatch.setattr(check_server, "socket_path", lambda *a: sock)
    assert check_server.ask(ROOT, "a.ipynb", "none", 5) is None
    proc = _serve(sock)
    try:
        with pytest.raises(CourseError, match="checked a.ipynb"):
            check_server.ask(ROOT, "a.ipynb", "none", 20)
    finally:
        _stop(proc)


def test_a_fifo_or_a_missing_cwd_does_not_hang_the_server(tmp_path):
    fifo = tmp_path / "pipe.ipynb"
    os.mkfifo(fifo)
    here = os.getcwd()
    try:
        reply = check_server._answer(ROOT, "none", {"notebook": str(fifo), "cwd": str(tmp_path)})
        assert "named pipe" in reply["error"]
        with pytest.raises(FileNotFoundError):
            check_server._answer(ROOT, "none", {"notebook": "x.ipynb", "cwd": str(tmp_path / "gone")})
    finally:
        os.chdir(here)


def _no_start(monkeypatch):
    from autograder import jail

    def boom():
        raise AssertionError("the server went past its checks")
    monkeypatch.setattr(jail, "start_zygote", boom)
    monkeypatch.setattr(jail, "stop_zygote", lambda: None)


def test_a_lock_file_that_is_a_link_is_not_followed(short_dir, monkeypatch):
    """(A hole, fixed: the lock was opened with ``open(..., "w")``, which follows a link planted
    there and empties the file it points at.)"""
    _no_start(monkeypatch)
    folder = short_dir / "check"
    folder.mkdir(mode=0o700)
    victim = short_dir / "victim.txt"
    victim.write_text("precious")
    sock = folder / "c-k.sock"
    Path(str(sock) + ".lock").symlink_to(victim)
    assert check_server.serve(ROOT, "none", sock) == 0
    assert victim.read_text() == "precious" and not sock.exists()


def test_a_socket_folder_that_is_a_link_is_refused(short_dir, monkeypatch):
    _no_start(monkeypatch)
    real = short_dir / "elsewhere"
    real.mkdir(mode=0o755)
    (short_dir / "check").symlink_to(real)
    assert check_server.serve(ROOT, "none", short_dir / "check" / "c-k.sock") == 0
    assert list(real.iterdir()) == [] and (real.stat().st_mode & 0o777) == 0o755


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_users_server_is_never_trusted(short_dir, monkeypatch):
    """(A hole, fixed: the client took any answer on the socket's path, so a user who could write the
    folder, say a shared cache, could answer another user's checks with any verdict.)"""
    os.chmod(short_dir, 0o755)
    shared = short_dir / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    sock = shared / "c-k.sock"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # the other user: a server that answers every check with a forged verdict
        try:
            os.setgid(65534)
            os.setuid(65534)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(sock))
            os.chmod(sock, 0o777)
            listener.listen(1)
            os.write(w, b"1")
            conn, _ = listener.accept()
            conn.recv(1 << 16)
            conn.sendall(json.dumps({"error": "FORGED by another user"}).encode())
            conn.close()
        finally:
            os._exit(0)
    os.close(w)
    try:
        assert os.read(r, 1) == b"1", "the other user's server did not start"
        monkeypatch.setattr(check_server, "socket_path", lambda *a: sock)
        assert check_server.ask(ROOT, "a.ipynb", "none", 10) is None
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    # and a server of ours neither starts in nor chmods a folder of another user's
    theirs = short_dir / "theirs"
    theirs.mkdir()
    os.chmod(theirs, 0o777)
    os.chown(theirs, 65534, 65534)
    assert not check_server._own_dir(theirs) and (theirs.stat().st_mode & 0o777) == 0o777
    _no_start(monkeypatch)
    assert check_server.serve(ROOT, "none", theirs / "c-k.sock") == 0 and list(theirs.iterdir()) == []


def _as_nobody(sock):
    """In a forked child of uid 65534: 0 if it gets no answer from the server on ``sock``."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                code = 0 if _ask(sock, {"notebook": "a.ipynb", "cwd": "/"}) is None else 3
            except OSError:
                code = 0   # it cannot even reach the socket
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_uid_gets_no_answer_from_a_server(short_dir):
    sock = short_dir / "check" / "c-k.sock"
    sock.parent.mkdir(mode=0o700)
    proc = _serve(sock)
    try:
        assert _as_nobody(sock) == 0, "another uid got an answer"      # the folder is mode 700
        os.chmod(short_dir, 0o755)
        os.chmod(sock.parent, 0o755)   # even if the folders were opened up: SO_PEERCRED refuses
        os.chmod(sock, 0o777)
        assert _as_nobody(sock) == 0, "another uid got an answer through an open socket"
    finally:
        _stop(proc)


# -- end to end -------------------------------------------------------------------------------------

HOSTILE_CELL = r'''
import base64, sys
from IPython.display import display, publish_display_data
publish_display_data({"image/png": base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>').decode(),
                      "text/html": "<script>alert(2)</script>", "text/plain": "plain-fallback"})
publish_display_data({"text/html": "<img src=x onerror=alert(3)>", "application/javascript": "alert(4)"})
print("\x1b]8;;javascript:alert(5)\x1b\\osc-link\x1b]8;;\x1b\\ <!--grader-late--></main>")
_real_gd_step, _calls = gd_step, []
def gd_step(w, grad, lr):
    if not _calls:   # the first call only (a test's): 6 MB of outputs in the test cell
        _calls.append(1)
        for i in range(300):
            display("flood" + "z" * 20000)
    return _real_gd_step(w, grad, lr)
class Boom(Exception):
    pass
Boom.__name__ = "<script>alert(6)</script>"
raise Boom("<img src=x onerror=alert(7)>")
'''


def _hidden_lines(nb):
    """Lines only the hidden tests have: a line that is also in a visible part of the notebook
    (a public test's `before = w.copy()`) is no secret."""
    lines, seen = [], set()
    for c in nb.cells:
        inside = False
        for line in c.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                inside = "BEGIN" in line
            elif inside and len(line.strip()) > 12:
                lines.append(line.strip())
            else:
                seen.add(line.strip())
    visible = "\n".join(seen)
    return [ln for ln in lines if ln not in visible]


@pytest.fixture(scope="module")
def hostile_graded(tmp_path_factory):
    """One notebook with every trick above graded by ``course grade --isolation none``: its page and the source."""
    tmp = tmp_path_factory.mktemp("e2e")
    source = ROOT / "notebooks" / A / f"{A}.ipynb"
    nb = nbformat.read(str(source), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "gd_step")
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(HOSTILE_CELL))
    md = nbformat.v4.new_markdown_cell(next(c.source for c in nb.cells if c.cell_type == "markdown") + "<img src=x onerror=alert(8)>")
    nb.cells.insert(0, md)
    nb.cells.append(nbformat.v4.new_code_cell("print('\\n'.join(In))"))   # every cell run so far, as the kernel keeps them
    (tmp / "subs" / "mallory" / A).mkdir(parents=True)
    nbformat.write(nb, str(tmp / "subs" / "mallory" / A / f"{A}.ipynb"))
    proc = run_course("grade", tmp / "subs", "--out", tmp / "out", "--isolation", "none", "--workers", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return (tmp / "out" / "feedback" / "mallory" / A / f"{A}.html").read_text(encoding="utf-8"), nbformat.read(str(source), as_version=4)


@pytest.mark.slow
def test_end_to_end_a_hostile_notebook_gives_an_inert_bounded_page(hostile_graded):
    page, _ = hostile_graded
    _assert_inert(page)
    text = _shown_text(page)
    assert "plain-fallback" in text and "osc-link" in text and "<script>alert(6)</script>: <img" in text
    assert not _tags(page, "img") and not [a for a in _tags(page, "a") if "javascript" in (a.get("href") or "")]
    assert text.count("flood") < 10, "a graded cell showed every output its student's code made"
    assert page.count(LATE_START) <= 1 and len(page.encode()) < 2 * 2**20


@pytest.mark.slow
def test_end_to_end_student_code_cannot_print_the_hidden_tests(hostile_graded):
    """The hidden tests run in the grader's process, never in the student's (whose `In` and
    namespace hold only the student's cells): nothing the student's code prints can hold them."""
    page, source = hostile_graded
    hidden = _hidden_lines(source)
    assert hidden, "the course notebook has hidden tests"
    text = _shown_text(page)
    assert not [line for line in hidden if line in text]
