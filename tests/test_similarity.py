"""Similar solutions are found after renaming and reformatting; the reference solution is no flag."""

import nbformat

from autograder.similarity import report_html, similar_pairs, similarity_report, solution_cells
from notebook_text import ROOT

A = "01_gradient_descent"
SOURCE = ROOT / "notebooks" / A / f"{A}.ipynb"

OWN = '''def numerical_gradient(f, w, h=1e-5):
    """My own loop."""
    point = np.array(w, dtype=float)
    result = np.empty_like(point)
    it = np.nditer(point, flags=["multi_index"])
    while not it.finished:
        idx = it.multi_index
        keep = point[idx]
        point[idx] = keep + h
        up = f(point)
        point[idx] = keep - h
        down = f(point)
        point[idx] = keep
        result[idx] = (up - down) / (2.0 * h)
        it.iternext()
    return result
'''
# the same code, names changed, comments added, layout changed
COPIED = '''def numerical_gradient(f, w, h=1e-5):
    # central differences, entry by entry
    x = np.array(w, dtype=float)
    g = np.empty_like(x)
    iterator = np.nditer(x, flags=["multi_index"])
    while not iterator.finished:
        i = iterator.multi_index
        old = x[i]
        x[i] = old + h ; fp = f(x)
        x[i] = old - h ; fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2.0 * h)   # the slope
        iterator.iternext()
    return g
'''
OTHER = '''def numerical_gradient(f, w, h=1e-5):
    w = np.asarray(w, dtype=float)
    basis = np.eye(w.size).reshape((w.size,) + w.shape)
    return np.array([(f(w + h * e) - f(w - h * e)) / (2 * h) for e in basis]).reshape(w.shape)
'''


def _reference():
    return solution_cells(nbformat.read(str(SOURCE), as_version=4))["numerical_gradient"]


def _submission(subs, student, code):
    nb = nbformat.read(str(SOURCE), as_version=4)
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "numerical_gradient":
            c.source = code
    folder = subs / student / A
    folder.mkdir(parents=True)
    nbformat.write(nb, str(folder / f"{A}.ipynb"))


def _clean(ref):
    return "\n".join(ln for ln in ref.splitlines() if "### " not in ln)


def test_a_renamed_and_reformatted_copy_is_flagged_and_independent_code_is_not():
    pairs = similar_pairs({"alice": OWN, "bob": COPIED, "eve": OTHER}, [_reference()], A, "numerical_gradient")
    assert [p.students for p in pairs] == [("alice", "bob")]
    assert min(pairs[0].similarity) >= 0.7 and pairs[0].slices[0]


def test_students_who_both_write_the_reference_solution_are_not_flagged():
    ref = _clean(_reference())
    pairs = similar_pairs({"carol": ref, "dave": ref.replace("grad", "g")}, [_reference()], A, "numerical_gradient")
    assert pairs == []
    # without the reference as boilerplate the same pair would be flagged: the exclusion is what keeps it out
    assert similar_pairs({"carol": ref, "dave": ref.replace("grad", "g")}, [], A, "numerical_gradient", min_tokens=10)


def test_the_class_report_shows_the_pair_side_by_side_escaped(tmp_path):
    subs = tmp_path / "SUBMISSIONS"
    _submission(subs, "alice", OWN + "# </pre><script>alert(1)</script>\n")
    _submission(subs, "bob", COPIED)
    _submission(subs, "carol", _clean(_reference()))
    _submission(subs, "dave", _clean(_reference()))
    _submission(subs, "eve", OTHER)
    pairs = similarity_report(ROOT, subs, tmp_path / "graded")
    assert [(p.assignment, p.exercise, p.students) for p in pairs] == [(A, "numerical_gradient", ("alice", "bob"))]
    page = (tmp_path / "graded" / "similarity.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "alice" in page and "bob" in page and "<mark>" in page and "carol" not in page
    assert "default-src 'none'" in page
    assert (tmp_path / "graded" / "similarity.html").stat().st_mode & 0o077 == 0     # students' code by name: the instructor's only
    assert [p.name for p in (tmp_path / "graded").iterdir()] == ["similarity.html"]


def test_no_pairs_is_said_in_words():
    assert "No pair of solutions is unusually alike" in report_html([])
