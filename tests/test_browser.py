"""The course as a student meets it: ``./course lab`` in a real browser.

Starts the course the way the README says (``./course lab`` on a fresh workspace, bound to
127.0.0.1, with a token of its own), drives Debian's Chromium headless through Playwright, and
for every notebook of a workspace filled with correct answers: opens it, runs all cells, checks
that no cell shows an error, that each ipywidgets explorer renders and that moving its slider
redraws its plot. Then presses Validate on a correct and on an unfinished notebook and checks
what the student is told. A screenshot per notebook (and per Validate dialog) is saved under
``test-artifacts/browser/`` (or ``$COURSE_TEST_ARTIFACTS/browser/``).

Needs ``/usr/bin/chromium`` (``apt-get install chromium``) and the ``playwright`` package (a
test dependency of the course); ``.ci/run`` installs Chromium. Without them the tests are
skipped on a developer's machine and fail in CI.
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from notebook_text import ROOT, SOURCE_NOTEBOOKS

CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("COURSE_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
ASSIGNMENTS = [p.parent.name for p in SOURCE_NOTEBOOKS]
UNFINISHED = "01_gradient_descent/unfinished.ipynb"
# The flags Chromium needs on a machine with no network and no display, as root.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _require_browser():
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (`.venv/bin/pip install playwright`)")
    if not os.path.exists(CHROMIUM):
        missing.append(f"Chromium at {CHROMIUM} (`apt-get install chromium`)")
    if missing:
        why = "the browser tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(why + "; .ci/run installs them.")
        pytest.skip(why)


# ------------------------------------------------------------------------- the workspace
def _answer(release_nb, source_nb):
    """Put the source notebook's solutions into the student's copy (matched by grade_id)."""
    solutions = {c["metadata"]["nbgrader"]["grade_id"]: c["source"]
                 for c in json.loads(source_nb.read_text())["cells"]
                 if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    nb = json.loads(release_nb.read_text())
    for c in nb["cells"]:
        meta = c.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in solutions:
            c["source"] = solutions[meta["grade_id"]]
    release_nb.write_text(json.dumps(nb, indent=1) + "\n")


def _unfinished(nb_path):
    """The release of notebook 01 with one wrong answer (gd_step steps uphill) and the rest unwritten."""
    nb = json.loads(nb_path.read_text())
    for c in nb["cells"]:
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "gd_step":
            c["source"] = "def gd_step(w, grad, lr):\n    return w + lr * grad\n"
    return json.dumps(nb, indent=1) + "\n"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    def __init__(self, workspace, port, token, proc, log):
        self.workspace, self.port, self.token, self.proc, self.log = workspace, port, token, proc, log
        self.url = f"http://127.0.0.1:{port}"

    def api(self, method, path):
        req = urllib.request.Request(self.url + path, method=method, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def log_tail(self, n=30):
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def shut_down_kernels(self):
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _require_browser()
    base = tmp_path_factory.mktemp("browser")
    ws, log = base / "workspace", base / "lab.log"
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_GRADING", "JUPYTER_CONFIG_PATH")}
    env["JUPYTER_TOKEN"] = token
    with open(log, "w") as out:
        proc = subprocess.Popen([str(ROOT / "course"), "lab", "--workspace", str(ws), "--no-browser", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Lab(ws, port, token, proc, log)
    try:
        deadline = time.time() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"./course lab exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                server.api("GET", "/api/status")
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"JupyterLab did not answer on port {port} within 180 s:\n{server.log_tail()}")
                time.sleep(1)
        # what the student has done by now: every exercise answered, and one notebook left unfinished
        release_01 = ws / "01_gradient_descent" / "01_gradient_descent.ipynb"
        (ws / UNFINISHED).write_text(_unfinished(release_01))
        for source in SOURCE_NOTEBOOKS:
            _answer(ws / source.parent.name / source.name, source)
        yield server
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, lab):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()
    lab.shut_down_kernels()  # one notebook's kernel at a time on a 2-core machine


# ------------------------------------------------------------------------- in the page
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def open_notebook(page, lab, rel):
    # ?reset opens just this notebook, not every one an earlier test left open
    page.goto(f"{lab.url}/lab/tree/{rel}?reset&token={lab.token}")
    page.wait_for_selector(f"{PANEL} .jp-Notebook-cell", timeout=120_000)
    page.wait_for_selector(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    dialogs = page.locator(".jp-Dialog")
    assert dialogs.count() == 0, f"opening {rel} shows a dialog: {dialogs.first.inner_text()[:300]}"
    toasts = page.locator(".Toastify__toast")
    assert toasts.count() == 0, f"opening {rel} shows a pop-up: {toasts.first.inner_text()[:300]}"


def menu(page, top, item):
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).first.click()


def _run_state(page):
    return page.evaluate("""(panel) => {
        const p = document.querySelector(panel);
        const prompts = [...p.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim());
        const status = p.querySelector('.jp-Notebook-ExecutionIndicator').getAttribute('data-status');
        const errors = p.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').length;
        return {prompts, status, errors};
    }""", PANEL)


def run_all(page, timeout_s=300):
    """Run all cells; wait until every code cell has run, or an error has stopped the run.

    Run ▸ Run All Cells acts on the notebook that has the focus, so the notebook is clicked
    first; if no cell has started after a while (the menu item was still disabled), it is
    chosen again.
    """
    for attempt in range(3):
        page.locator(f"{PANEL} .jp-Cell").first.click(position={"x": 2, "y": 2})
        menu(page, "Run", "Run All Cells")
        started = time.time() + 20
        while time.time() < started:
            page.wait_for_timeout(500)
            if any(pr != "[ ]:" for pr in _run_state(page)["prompts"]):
                break
        else:
            print(f"Run All did not start the notebook (try {attempt + 1}); choosing it again")
            continue
        break
    else:
        raise AssertionError("Run ▸ Run All Cells did not start the notebook, three times")
    deadline = time.time() + timeout_s
    settled = 0
    while time.time() < deadline:
        page.wait_for_timeout(1000)
        state = _run_state(page)
        busy = any(pr == "[*]:" for pr in state["prompts"])
        all_ran = all(re.fullmatch(r"\[\d+\]:", pr) for pr in state["prompts"])
        settled = settled + 1 if state["status"] == "idle" and not busy and (all_ran or state["errors"]) else 0
        if settled >= 2:
            return state["prompts"]
    raise AssertionError(f"the notebook was still running after {timeout_s} s")


def save(page, nb_path):
    before = nb_path.stat().st_mtime_ns
    page.locator(f"{PANEL} .jp-Notebook").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    deadline = time.time() + 30
    while nb_path.stat().st_mtime_ns == before and time.time() < deadline:
        page.wait_for_timeout(200)
    assert nb_path.stat().st_mtime_ns != before, f"saving {nb_path.name} from JupyterLab did not write the file"


def errors_on_page(page):
    """Text of every error or stderr output shown, in cells and inside widgets."""
    return page.evaluate("""(panel) => [...document.querySelectorAll(
            panel + ' [data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.textContent.slice(0, 400))""", PANEL)


def expected_explorers(source_nb):
    code = "\n".join("".join(c["source"]) for c in json.loads(source_nb.read_text())["cells"] if c["cell_type"] == "code")
    return len(re.findall(r"\bwidgets\.(?:\w+_explorer|Explorer)\(", code))


def check_explorers(page, name, expected):
    explorers = page.locator(f"{PANEL} .widget-vbox:has(> .widget-output)")
    n = explorers.count()
    assert n >= expected, (f"{name}: {expected} explorer(s) expected, {n} rendered; "
                           f"widget text seen: {page.locator(PANEL + ' .jp-OutputArea-output').all_inner_texts()[-3:]}")
    for i in range(n):
        ex = explorers.nth(i)
        ex.scroll_into_view_if_needed()
        img = ex.locator(".widget-output img")
        img.first.wait_for(timeout=60_000)
        before = img.first.get_attribute("src")
        handle = ex.locator(".noUi-handle")
        assert handle.count() > 0, f"{name}: explorer {i + 1} has no slider"
        handle.first.focus()
        page.keyboard.press("ArrowRight")
        deadline = time.time() + 60
        while time.time() < deadline:
            if img.count() and img.first.get_attribute("src") not in (None, before):
                break
            page.wait_for_timeout(250)
        else:
            raise AssertionError(f"{name}: moving the first slider of explorer {i + 1} did not change its plot")
    if n:  # the screenshot shows the first explorer below its code
        explorers.first.evaluate("e => (e.closest('.jp-Cell') || e).scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)


def validate(page):
    page.locator(f"{PANEL} .validate-button").click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for(timeout=300_000)
    page.wait_for_timeout(300)
    return dialog


# ------------------------------------------------------------------------- the tests
def test_the_workspace_is_fresh_and_the_server_private(lab):
    assert sorted(p.name for p in lab.workspace.iterdir() if p.is_dir() and not p.name.startswith(".")) == ASSIGNMENTS
    with pytest.raises(urllib.error.HTTPError) as e:  # no token, no access
        urllib.request.urlopen(f"{lab.url}/api/contents", timeout=30)
    assert e.value.code in (401, 403)
    with pytest.raises(urllib.error.HTTPError) as e:  # nbgrader's instructor pages are not served to students
        lab.api("GET", "/formgrader")
    assert e.value.code == 404


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_notebook_runs_in_jupyterlab_with_working_widgets(page, lab, assignment):
    source = ROOT / "notebooks" / assignment / f"{assignment}.ipynb"
    rel = f"{assignment}/{assignment}.ipynb"
    nb_path = lab.workspace / rel
    open_notebook(page, lab, rel)
    t0 = time.time()
    prompts = run_all(page)
    ran_s = time.time() - t0
    shown_errors = errors_on_page(page)
    try:
        check_explorers(page, assignment, expected_explorers(source))
    finally:
        page.screenshot(path=str(ARTIFACTS / f"{assignment}.png"))
    save(page, nb_path)
    saved = json.loads(nb_path.read_text())
    errors = [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(saved["cells"]) if c["cell_type"] == "code"
              for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, f"{assignment}: cells show errors: {errors}"
    assert not shown_errors, f"{assignment}: the page shows error or stderr output: {shown_errors}"
    not_run = [i for i, p in enumerate(prompts) if p in ("[ ]:", "")]
    assert not not_run, f"{assignment}: code cells {not_run} did not run"
    print(f"{assignment}: ran all cells in {ran_s:.1f} s in the browser")


def test_validate_tells_a_student_with_correct_answers_that_all_tests_pass(page, lab):
    open_notebook(page, lab, "01_gradient_descent/01_gradient_descent.ipynb")
    dialog = validate(page)
    text = dialog.inner_text()
    page.screenshot(path=str(ARTIFACTS / "validate-correct.png"))
    assert "Success! Your notebook passes all the tests." in text, text[:1000]


def test_validate_says_in_one_line_per_exercise_what_is_missing_or_wrong(page, lab):
    open_notebook(page, lab, UNFINISHED)
    dialog = validate(page)
    text = dialog.inner_text()
    page.screenshot(path=str(ARTIFACTS / "validate-unfinished.png"))
    graded = [c for c in json.loads((ROOT / "notebooks" / "01_gradient_descent" / "01_gradient_descent.ipynb").read_text())["cells"]
              if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert text.count("The following cell failed") == len(graded), text
    for exercise in ("numerical_gradient", "gradient_descent", "should_stop"):
        assert f"`{exercise}` is not written yet" in text, text
    assert "gd_step(w, grad, 0.1) is wrong: you stepped uphill" in text, text
    # no wall of text: no traceback, no test source pasted in, a few lines per exercise
    for noise in ("Traceback", 'File "', "check_array(", "site-packages"):
        assert noise not in text, f"the Validate dialog shows {noise!r}:\n{text}"
    assert len(text.splitlines()) <= len(graded) * 8 + 4, text


def test_a_hint_opens_with_a_click_and_closes_again(page, lab):
    """The exercises' hints are collapsed ``<details>``: closed when the notebook opens, and one
    click on a hint's summary shows what it says (JupyterLab's markdown sanitizer keeps them)."""
    open_notebook(page, lab, "01_gradient_descent/01_gradient_descent.ipynb")
    summary = page.locator(".jp-MarkdownOutput details > summary", has_text="Hint 1").first
    summary.wait_for(timeout=60_000)
    summary.scroll_into_view_if_needed()
    details = summary.locator("xpath=..")
    body = details.locator(":scope > :not(summary)").first
    assert details.get_attribute("open") is None, "a hint is open before anyone clicked it"
    assert not body.is_visible(), "a closed hint's text is visible"
    summary.click()
    page.wait_for_timeout(300)
    assert details.get_attribute("open") is not None and body.is_visible(), "clicking a hint's summary did not open it"
    page.screenshot(path=str(ARTIFACTS / "hint-open.png"))
    summary.click()
    page.wait_for_timeout(300)
    assert not body.is_visible(), "a second click did not close the hint"


def test_the_class_report_opens_offline_with_its_plots(page, tmp_path):
    """``graded/summary.html`` renders from a file, every image loads, nothing is fetched."""
    import datetime as dt

    from autograder.class_report import summary_html
    from autograder.course_config import CourseConfig, LatePolicy
    from autograder.final_grades import final_grade

    class R:
        def __init__(self, student, score, message):
            self.student, self.assignment, self.score, self.max_score, self.problems = student, "01_gradient_descent", score, 10, []
            self.cells = [["01_gradient_descent", "test_gd_step", 0 if message else 1, 1, message]]

    due = dt.datetime(2026, 9, 14, 23, 59, tzinfo=dt.timezone.utc)
    cfg = CourseConfig(late_policy=LatePolicy(percent_per_day=10), due={"01_gradient_descent": due})
    grades = [final_grade(R(f"s{i}", i, "" if i % 2 else "you stepped uphill"), cfg, due + dt.timedelta(hours=i - 5))
              for i in range(10)]
    path = tmp_path / "summary.html"
    path.write_text(summary_html(grades))
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    loaded = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
    page.screenshot(path=str(ARTIFACTS / "class-summary.png"), full_page=True)
    assert loaded == [True, True], f"the class report's images did not all load: {loaded}"
    assert page.locator("h2", has_text="01_gradient_descent").count() == 1
    assert "you stepped uphill" in page.inner_text("body")
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == [], requests


def test_a_feedback_page_shows_its_style_and_image_and_runs_no_script(browser, tmp_path):
    """A feedback page as the grader writes it, opened from a file: the policy lets its one style
    sheet and its data: image in, no student script runs, nothing is fetched (the page needs no
    JupyterLab; the module's browser does)."""
    import base64
    import zlib

    import nbformat

    from autograder.feedback import notebook_html, safe_page

    def chunk(kind, data):   # a PNG chunk: length, type, data, CRC
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", (4).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00")
           + chunk(b"IDAT", zlib.compress((b"\x00" + b"\xff\x00\x00" * 4) * 4))   # 4 x 4 red pixels, rows unfiltered
           + chunk(b"IEND", b""))
    test = nbformat.v4.new_code_cell("check_f(f)")
    test.metadata["nbgrader"] = {"grade_id": "test_f", "grade": True, "points": 2}
    test.outputs = [nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(png).decode()})]
    student = nbformat.v4.new_raw_cell("<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Exercise 1"), student, test]
    body = notebook_html(nb, {"# Exercise 1"}, {"test_f": (1.0, 2.0)})
    path = tmp_path / "feedback.html"
    path.write_text(safe_page(f"<body>{body}</body>", "feedback", "<p class=\"grader-score\">Score: 1 / 2</p>"))
    context = browser.new_context()     # the module's browser: one Playwright per process
    try:
        page = context.new_page()
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "feedback.png"), full_page=True)
        title = page.title()
        header_border = page.evaluate("getComputedStyle(document.querySelector('.grader-header')).borderTopWidth")
        loaded = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        text = page.inner_text("main")
    finally:
        context.close()
    assert title == "feedback", "a student's script ran"
    assert header_border == "2px", "the page's own style sheet was not applied"
    assert loaded == [True], f"the output image did not load: {loaded}"
    assert "Exercise 1" in text and "Test test_f: 1 / 2 points" in text and "<script>document.title='pwned'</script>" in text
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == [], requests
