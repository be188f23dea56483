"""What the instructor or a student opens never runs or forges anything a student wrote.

The feedback page: :class:`autograder.feedback.SafeCells` and :func:`autograder.feedback.notebook_html`
(the notebook as the grader writes it) and :func:`autograder.feedback.safe_page` (the page as saved). The plain-text files:
``report.txt``, ``summary.txt`` and ``grades.csv``. Pages are read back with html5lib (the
HTML5 parsing algorithm browsers use, vendored in bleach), never with the code under test.
"""

import base64
import csv
import hashlib
import re

import nbformat
import pytest
from bleach._vendor import html5lib

from autograder import grading
from autograder.feedback import SafeCells, notebook_html, safe_page

A = "01_gradient_descent"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()
LIVE_TAGS = {"script", "iframe", "frame", "object", "embed", "applet", "svg", "math", "form", "base", "link",
             "meta", "style", "textarea", "noscript", "template", "video", "audio", "input", "button"}

HOSTILE_HTML = """
<h2>Heading kept</h2><p><b>bold kept</b></p>
<script>document.title='pwned'</script>
<img src=x onerror="document.title='pwned'">
<img src="https://tracker.example/pixel.png">
<a href="javascript:alert(1)">js link</a> <a href="jav&#x09;ascript:alert(2)">tab link</a>
<a href="data:text/html,<script>alert(3)</script>">data link</a> <a href="https://example.org/ok">https link</a>
<iframe srcdoc="<script>alert(4)</script>"></iframe><object data="x.swf"></object><embed src="x.swf">
<meta http-equiv="refresh" content="0;url=https://evil.example"><base href="https://evil.example/">
<form action="https://evil.example"><input name=q><button>go</button></form>
<style>body{display:none}</style><div style="position:fixed;top:0">overlay</div>
<svg><script>alert(5)</script><a xlink:href="javascript:alert(6)">svg</a></svg>
<math><mtext><table><mglyph><style><img src=x onerror=alert(7)></style></mglyph></table></mtext></math>
<noscript><p title="</noscript><img src=x onerror=alert(8)>"></p></noscript>
<!--><img src=x onerror=alert(9)>-->
<scr<script>ipt>alert(10)</scr</script>ipt>
<textarea><img src=x onerror=alert(11)></textarea>
<div class="grader-header"><p class="grader-score">Score: 10 / 10 (forged)</p></div>
<p onmouseover="alert(12)" id="ok-anchor">hover</p>
"""


def _elements(page):
    doc = html5lib.parse(page, treebuilder="etree", namespaceHTMLElements=False)
    return list(doc.iter())


def _assert_inert(page):
    """Nothing in ``page`` can run, load, navigate or submit, as a browser parses it."""
    elements = _elements(page)
    head_styles = [e for e in elements if e.tag == "style"]
    assert len(head_styles) == 1, "the page's only style element is the grader's own"
    metas = [e for e in elements if e.tag == "meta"]
    assert all(m.get("http-equiv", "").lower() in ("", "content-security-policy") for m in metas), "a meta refresh survived"
    for e in elements:
        if e.tag in ("style", "meta", "title", "html", "head", "body"):
            continue
        assert e.tag not in LIVE_TAGS, f"a <{e.tag}> element survived"
        for name, value in e.attrib.items():
            assert not name.lower().startswith("on"), f"an event handler survived: {name}={value}"
            assert name not in ("style", "srcdoc", "action", "formaction", "xlink:href"), f"{name} survived"
            if name == "href":
                assert re.match(r"(https?://|mailto:|#)", value), f"a link to {value} survived"
            if name == "src":
                assert value.startswith("data:image/"), f"an image from {value} survived"


def _csp(page):
    return next(e.get("content") for e in _elements(page) if e.tag == "meta" and e.get("http-equiv") == "Content-Security-Policy")


# -- the page as saved ------------------------------------------------------------------------

def test_a_hostile_body_leaves_nothing_live_and_keeps_the_text():
    page = safe_page(f"<html><head><title>t</title><script>alert(0)</script></head><body>{HOSTILE_HTML}</body></html>",
                     "feedback", "<p class='grader-score'>Score: 2 / 10</p>")
    _assert_inert(page)
    text = page.split("<main", 1)[1]
    for kept in ("Heading kept", "bold kept", "js link", "https link", "hover", "overlay"):
        assert kept in text, f"the text {kept!r} was lost"
    assert 'href="https://example.org/ok"' in text and 'id="ok-anchor"' in text


def test_only_the_grader_writes_its_own_classes():
    page = safe_page(f"<body>{HOSTILE_HTML}</body>", "feedback", "<p class='grader-score'>Score: 2 / 10</p>")
    scores = [e for e in _elements(page) if "grader-score" in e.get("class", "")]
    assert len(scores) == 1 and "2 / 10" in "".join(scores[0].itertext()), "a forged grader box kept the grader's style"


def test_the_page_policy_forbids_scripts_and_allows_only_its_own_style():
    page = safe_page("<body><p>x</p></body>", "feedback", "")
    csp = dict(part.strip().split(" ", 1) for part in _csp(page).split(";"))
    assert csp["default-src"] == "'none'" and "script-src" not in csp, "scripts must fall back to default-src 'none'"
    assert csp["img-src"] == "data:" and csp["base-uri"] == "'none'" and csp["form-action"] == "'none'"
    style = next(e for e in _elements(page) if e.tag == "style").text
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert csp["style-src"] == f"'sha256-{digest}'", "the policy must allow exactly the grader's style sheet"
    assert "unsafe-inline" not in _csp(page) and "mathjax" not in page.lower()


def test_a_huge_block_is_cut_and_later_cells_still_show():
    body = "<div class='output_area'><pre>" + "x" * 10_000_000 + "</pre></div>" + "<p>the next cell</p>"
    page = safe_page(f"<body>{body}</body>", "feedback", "")
    assert len(page) < 1_000_000
    assert "cut here" in page and "the next cell" in page


def test_the_page_is_bounded_however_many_cells():
    body = ("<div class='cell'><pre>" + "y" * 20_000 + "</pre></div>") * 2_000   # 40 MB
    page = safe_page(f"<body>{body}</body>", "feedback", "")
    assert len(page.encode()) < 5 * 2**20
    assert "the rest of the notebook is not shown" in page
    _assert_inert(page)


def test_markdown_link_references_do_not_blow_up_the_page():
    # how a 432 KB notebook made a 49 MB page: one link reference of 500 characters used again and again
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("[a]: https://example.org/" + "x" * 500 + "\n\n" + "[a] " * 20_000),
                nbformat.v4.new_markdown_cell("the last cell")]
    rendered, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    assert len(rendered) > 10_000_000   # 80 KB of markdown
    page = safe_page(rendered, "feedback", "")
    assert len(page) < 1_000_000 and "the last cell" in page


# -- the notebook made fit to show (SafeCells) ------------------------------------------------------

@pytest.fixture()
def source_dir(tmp_path):
    src = nbformat.v4.new_notebook()
    sol = nbformat.v4.new_code_cell("def f(x):\n    return x")
    sol.metadata["nbgrader"] = {"grade_id": "f", "solution": True, "grade": False, "locked": False, "schema_version": 3}
    src.cells = [nbformat.v4.new_markdown_cell("# The instructor's title\n\n<b>instructor HTML</b> $x^2$"), sol]
    (tmp_path / A).mkdir()
    nbformat.write(src, str(tmp_path / A / f"{A}.ipynb"))
    return tmp_path


def _safe(nb, source_dir, **caps):
    out, _ = SafeCells(source_dir=str(source_dir), **caps).preprocess(nb, {"nbgrader": {"assignment": A, "notebook": A}})
    return out


def test_student_markdown_and_raw_cells_are_shown_as_text(source_dir):
    nb = nbformat.v4.new_notebook()
    raw = nbformat.v4.new_raw_cell("<script>alert('raw')</script>")
    raw.metadata["raw_mimetype"] = "text/html"
    nb.cells = [nbformat.v4.new_markdown_cell("# The instructor's title\n\n<b>instructor HTML</b> $x^2$"),
                nbformat.v4.new_markdown_cell("<script>alert(1)</script>\n```\n<img src=x onerror=alert(2)>\n```"),
                raw]
    nb.cells[1]["attachments"] = {"a.png": {"image/png": PNG}}
    student_text = [nb.cells[1].source, nb.cells[2].source]
    nb = _safe(nb, source_dir)
    assert nb.cells[0].source == "# The instructor's title\n\n<b>instructor HTML</b> $x^2$", "the instructor's markdown renders"
    for cell, text in zip(nb.cells[1:], student_text):
        assert cell.cell_type == "raw" and cell.source == text, "a student's cell becomes a cell of its text"
        assert "attachments" not in cell and "raw_mimetype" not in cell.metadata
    rendered = notebook_html(nb, SafeCells(source_dir=str(source_dir))._instructor(
        {"nbgrader": {"assignment": A, "notebook": A}})[0])
    doc = _elements(f"<body>{rendered}</body>")
    assert [e.tag for e in doc if e.tag in ("h1", "b", "script", "img")] == ["h1", "b"], "only the instructor's markup is markup"
    text = "".join(doc[0].itertext())
    assert "<script>alert(1)</script>" in text and "<img src=x onerror=alert(2)>" in text and "alert('raw')" in text, \
        "the student's text is shown as it is"


def test_outputs_keep_only_text_and_images(source_dir):
    cell = nbformat.v4.new_code_cell("display(...)")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "<script>alert(1)</script>", "text/plain": "plain"},
                               metadata={"image/png": {"width": "1 onerror=alert(2)"}}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "alert(3)"}),
        nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg><script>alert(4)</script></svg>"}),
        nbformat.v4.new_output("display_data", data={"image/png": PNG}),
        nbformat.v4.new_output("display_data", data={"image/png": PNG + '"><script>alert(5)</script>'}),
        nbformat.v4.new_output("execute_result", data={"text/markdown": "<img src=x onerror=alert(6)>"}, execution_count=1),
    ]
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"x": "</script><script>alert(7)"}}}
    nb.cells = [cell]
    outs = _safe(nb, source_dir).cells[0].outputs
    assert [sorted(o.get("data", {})) for o in outs] == [["text/plain"], ["text/plain"], ["text/plain"], ["image/png"],
                                                          ["text/plain"], ["text/plain"]]
    assert all(not o.get("metadata") for o in outs)
    assert outs[0].data["text/plain"] == "plain" and outs[3].data["image/png"] == PNG
    assert "not shown" in outs[1].data["text/plain"] and "application/javascript" in outs[1].data["text/plain"]
    assert "widgets" not in nb.metadata


def test_cells_and_outputs_are_capped_with_a_note(source_dir):
    nb = nbformat.v4.new_notebook()
    big = nbformat.v4.new_code_cell("x = 1\n" * 10_000)
    big.outputs = [nbformat.v4.new_output("stream", name="stdout", text="z" * 100_000)]
    flood = [nbformat.v4.new_code_cell(f"print({i})") for i in range(300)]
    for c in flood:
        c.outputs = [nbformat.v4.new_output("stream", name="stdout", text="w" * 20_000)]
    graded = nbformat.v4.new_code_cell("def f(x):\n    return x\n" + "#" * 50_000)
    graded.metadata["nbgrader"] = {"grade_id": "f", "solution": True, "grade": False, "locked": False, "schema_version": 3}
    nb.cells = [big] + flood + [graded]
    nb = _safe(nb, source_dir, cell_chars=5_000, notebook_chars=50_000)
    assert len(nb.cells[0].source) < 5_200 and "cut: this cell has 60,000 characters" in nb.cells[0].source
    assert "cut: this output has 100,000 characters" in nb.cells[0].outputs[0].text
    code = [c for c in nb.cells[:-1] if c.cell_type == "code"]
    shown = sum(len(c.source) + sum(len(o.get("text", "")) for o in c.outputs) for c in code)
    assert shown < 50_000 + 20 * 200, "the notebook's budget holds"
    note = nb.cells[-2]
    assert note.cell_type == "markdown" and len(nb.cells) == len(code) + 2, "the cells past the budget make one note"
    assert f"{301 - len(code)} cells not shown here: the feedback shows at most 50,000 characters" in note.source
    assert nb.cells[-1].source.startswith("def f(x):") and "cut: this cell" in nb.cells[-1].source, \
        "a graded cell is shown (capped) even after the budget is spent"


# -- the notebook part, as the grader writes it (notebook_html) --------------------------------

def _test_cell(source, gid="test_f", points=2):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": gid, "grade": True, "solution": False, "locked": True, "points": points,
                                 "schema_version": 3}
    return cell


def _page_of(nb, source_dir, scores=None):
    """``nb`` as the grader shows it: SafeCells, notebook_html, then safe_page."""
    steps = SafeCells(source_dir=str(source_dir))
    nb, _ = steps.preprocess(nb, {"nbgrader": {"assignment": A, "notebook": A}})
    return safe_page(f"<body>{notebook_html(nb, steps.known_text, scores)}</body>", "feedback", "")


def _shown_text(page):
    main = next(e for e in _elements(page) if e.tag == "main")
    return "".join(main.itertext())


def test_a_students_html_and_script_show_as_text_and_the_instructors_markdown_renders(source_dir):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# The instructor's title\n\n<b>instructor HTML</b> $x^2$"),
                nbformat.v4.new_markdown_cell("# Student heading\n<script>document.title='pwned'</script>"
                                              "<img src=x onerror=alert(1)><a href='javascript:alert(2)'>x</a>"),
                nbformat.v4.new_code_cell("print('<b>code</b>')")]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="<script>alert(3)</script>\n")]
    page = _page_of(nb, source_dir)
    _assert_inert(page)
    main = [e for e in _elements(page) if e.tag in ("h1", "b", "img", "a", "script")]
    assert [(e.tag, "".join(e.itertext()).rstrip("\u00b6")) for e in main if e.tag != "a"] == \
        [("h1", "The instructor's title"), ("b", "instructor HTML")]   # (a heading ends with its anchor link, a pilcrow)
    assert not any(e.tag == "a" and "javascript" in e.get("href", "") for e in main)
    text = _shown_text(page)
    assert "$x^2$" in text, "mathematics stays its LaTeX source"
    for shown in ("# Student heading", "<script>document.title='pwned'</script>", "<img src=x onerror=alert(1)>",
                  "print('<b>code</b>')", "<script>alert(3)</script>"):
        assert shown in text, f"{shown!r} is not shown as text"


def test_forged_images_are_dropped_and_a_real_one_is_shown():
    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\0" * 32).decode()
    svg = base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>").decode()
    cell = nbformat.v4.new_code_cell("show()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": '"><script>alert(2)</script>'}),
                    nbformat.v4.new_output("display_data", data={"image/png": "not base64 at all!"}),
                    nbformat.v4.new_output("display_data", data={"image/png": svg}),          # base64, but of SVG
                    nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg onload='alert(3)'/>"}),
                    nbformat.v4.new_output("display_data", data={"image/jpeg": PNG}),         # a PNG said to be JPEG
                    nbformat.v4.new_output("display_data", data={"image/png": PNG}),
                    nbformat.v4.new_output("display_data", data={"image/jpeg": jpeg})]
    nb = nbformat.v4.new_notebook()
    nb.cells = [cell]   # straight to the renderer: its own check, without SafeCells in front
    page = safe_page(f"<body>{notebook_html(nb)}</body>", "feedback", "")
    _assert_inert(page)
    images = [e.get("src") for e in _elements(page) if e.tag == "img"]
    assert images == [f"data:image/png;base64,{PNG}", f"data:image/jpeg;base64,{jpeg}"]
    assert "alert" not in page


def test_each_test_cell_shows_its_score_and_an_errors_line_not_its_traceback(source_dir):
    nb = nbformat.v4.new_notebook()
    failed = _test_cell("check_f(f)", "test_f", 2)
    failed.outputs = [nbformat.v4.new_output("error", ename="CheckFailed", evalue="f(2) should be 4, not 5",
                                             traceback=["Traceback (most recent call last)", "  assert hidden_secret_input == 7",
                                                        "CheckFailed: f(2) should be 4, not 5"])]
    nb.cells = [failed, _test_cell("check_g(g)", "test_g", 1), _test_cell("check_h(h)", "test_h", 1)]
    page = _page_of(nb, source_dir, scores={"test_f": (0.0, 2.0), "test_g": (1.0, 1.0)})
    text = _shown_text(page)
    assert "Test test_f: 0 / 2 points" in text and "Test test_g: 1 / 1 points" in text
    assert "test_h:" not in text, "a cell with no recorded score shows none"
    assert "CheckFailed: f(2) should be 4, not 5" in text
    assert "hidden_secret_input" not in text and "Traceback" not in text


def test_a_huge_output_is_capped_with_a_note_and_the_next_cell_shows(source_dir):
    flood = nbformat.v4.new_code_cell("print('z' * 10**6)")
    flood.outputs = [nbformat.v4.new_output("stream", name="stdout", text="z" * 1_000_000)]
    nb = nbformat.v4.new_notebook()
    nb.cells = [flood, nbformat.v4.new_code_cell("the_next_cell = 1")]
    page = _page_of(nb, source_dir)
    assert len(page) < 100_000, f"{len(page):,} characters"
    text = _shown_text(page)
    assert "cut: this output has 1,000,000 characters; the feedback shows the first 20,000" in text
    assert "the_next_cell = 1" in text


def test_the_feedback_steps_cut_hidden_tests_before_rendering(source_dir):
    from autograder.pipeline import FEEDBACK_STEPS

    nb = nbformat.v4.new_notebook()
    nb.cells = [_test_cell("check_f(f)\n### BEGIN HIDDEN TESTS\nassert f(hidden_secret_input) == 7\n### END HIDDEN TESTS")]
    resources = {"nbgrader": {"assignment": A, "notebook": A}}
    steps = [step(source_dir=str(source_dir)) if step is SafeCells else step() for step in FEEDBACK_STEPS]
    for step in steps:
        nb, resources = step.preprocess(nb, resources)
    text = _shown_text(safe_page(f"<body>{notebook_html(nb)}</body>", "feedback", ""))
    assert "check_f(f)" in text and "hidden_secret_input" not in text and "HIDDEN" not in text


# -- the grader's summary and the plain-text files ---------------------------------------------

def _result():
    return grading.Result("=HYPERLINK(\"http://evil\")", A, 3.0, 10.0,
                          cells=[[A, "test_gd_step", 0.0, 1.0, "CheckFailed: <script>alert(1)</script>\nforged line\x1b]0;t\x07"]],
                          problems=["evil\nzoe/01_gradient_descent: 10 / 10.txt was ignored <img src=x onerror=alert(2)>",
                                    "a \u202eright-to-left override"])


def test_the_summary_box_escapes_problems_and_messages():
    res = _result()
    page = grading._with_problems("<html><body><p>notebook</p></body></html>", res)
    _assert_inert(page)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page and "\u202e" not in page and "\\u202e" in page
    problem_page = grading._problem_page(res, A)
    _assert_inert(problem_page)
    assert "evil\\nzoe/01_gradient_descent" in problem_page and "evil\nzoe" not in problem_page


def test_report_summary_and_grades_do_not_forge_lines_or_formulas(tmp_path):
    store_cls = getattr(grading, "Progress", None) or getattr(grading, "Store")
    store = store_cls(tmp_path, {A: [A]})
    odd = grading.Result("zoe\nforged/01_gradient_descent: 10 / 10", A, 0.0, 10.0, problems=["x\ny"])
    surrogate = grading.Result("bad\udcffname", A, 10.0, 10.0)
    for r in (_result(), odd, surrogate):
        store.results[(r.student, r.assignment)] = r
    store.write_tables(["stray\nfile is a file, not a student folder; it was skipped."])
    report = (tmp_path / "report.txt").read_text(encoding="utf-8").splitlines()
    assert not any(line.startswith(("zoe", "forged", "y", "file", "01_gradient")) for line in report), report
    assert "'zoe\\nforged/01_gradient_descent: 10 / 10'/01_gradient_descent: 0 / 10" in report
    assert "'bad\\udcffname'/01_gradient_descent: 10 / 10" in report
    assert not any("\x1b" in line or "\u202e" in line for line in report)
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3
    assert {r["student_id"] for r in rows} == {"'=HYPERLINK(\"http://evil\")", "'zoe\\nforged/01_gradient_descent: 10 / 10'",
                                              "'bad\\udcffname'"}
    assert all(not r["student_id"].startswith(("=", "+", "-", "@")) for r in rows)
    assert sorted(float(r["score"]) for r in rows) == [0.0, 3.0, 10.0], "scores stay numbers"
    summary = (tmp_path / "summary.txt").read_text(encoding="utf-8")
    assert "forged line" in summary and "\nforged line" not in summary and "\x1b" not in summary
