"""The style of an exercise (the spec's section of that name), checked on every source notebook.

* every graded solution cell says its kind in ``metadata.course.kind``, and the release keeps it;
* every notebook has at least one exercise that can't be transcribed (derive, predict, diagnose or
  outcome), and its tests have a hidden part that varies the inputs;
* every exercise text ends with two or three collapsed hints, numbered, in the markup JupyterLab
  renders (a blank line after the summary and before ``</details>``);
* outside the hints an exercise text states a contract, not code: no NumPy or tensor call and no
  arithmetic in inline code (``np.sqrt(v) + eps``, ``w - lr * grad`` belong in a hint or in LaTeX);
  the function's own signature and shapes such as ``(n_steps + 1, *w0.shape)`` are contract.
"""

import re

import nbformat
import pytest

from notebook_text import SOURCE_NOTEBOOKS

KINDS = {"implement", "derive", "predict", "diagnose", "outcome"}
NOT_TRANSCRIBED = KINDS - {"implement"}
EXERCISE = re.compile(r"^### Exercise \d+ \(", re.M)
HINT = re.compile(r"<details><summary>Hint (\d+): ([^<\n]+)</summary>\n\n(.*?)\n\n</details>", re.S)
INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
# code that computes: a NumPy/torch call or method, or arithmetic between names and numbers
COMPUTES = re.compile(r"\b(np|numpy|torch|F)\.\w+\(|\.(sum|mean|var|std|sqrt|exp|log|max|min|argmax|cumsum|"
                      r"reshape|T|dot|outer|clip)\b\(?|[\w)\]]\s*(\*\*|[*/@])\s*[\w(]|[\w)\]]\s+[-+]\s+[\w(]")

IDS = [p.parent.name for p in SOURCE_NOTEBOOKS]


def _cells(path):
    return nbformat.read(str(path), as_version=4).cells


def _solution_cells(cells):
    return [c for c in cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
            and "### BEGIN SOLUTION" in c.source]


def _kind(cell):
    return (cell.metadata.get("course") or {}).get("kind")


def _name(cell):
    return cell.metadata["nbgrader"]["grade_id"]


def _without_hints(text):
    return re.sub(r"<details>.*?</details>", "", text, flags=re.S)


def _exercise_texts(cells):
    return [c.source for c in cells if c.cell_type == "markdown" and EXERCISE.search(c.source)]


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=IDS)
def test_every_solution_cell_says_its_kind(path):
    cells = _solution_cells(_cells(path))
    assert cells, f"{path.name} has no solution cells"
    wrong = {_name(c): _kind(c) for c in cells if _kind(c) not in KINDS}
    assert not wrong, f"{path.name}: solution cells without a kind in metadata.course.kind (one of {sorted(KINDS)}): {wrong}"


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=IDS)
def test_every_notebook_has_an_exercise_that_cannot_be_transcribed_with_hidden_tests(path):
    cells = _cells(path)
    found = []
    for i, c in enumerate(cells):
        if c in _solution_cells(cells) and _kind(c) in NOT_TRANSCRIBED:
            tests = []
            for d in cells[i + 1:]:
                if d in _solution_cells(cells):
                    break
                if d.metadata.get("nbgrader", {}).get("grade"):
                    tests.append(d.source)
            hidden = [t for t in tests if "### BEGIN HIDDEN TESTS" in t and "hidden_rng(" in t.split("### BEGIN HIDDEN TESTS")[1]]
            assert hidden, (f"{path.name}: the {_kind(c)} exercise {_name(c)} has no hidden tests that draw "
                            "random inputs from hidden_rng")
            found.append(_name(c))
    assert found, f"{path.name} has no derive, predict, diagnose or outcome exercise"


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=IDS)
def test_every_exercise_has_two_or_three_numbered_collapsed_hints(path):
    texts = _exercise_texts(_cells(path))
    assert texts, f"{path.name} has no '### Exercise k (p points)' headings"
    for text in texts:
        title = text[EXERCISE.search(text).start():].splitlines()[0]
        opened, closed = text.count("<details>"), text.count("</details>")
        hints = HINT.findall(text)
        assert opened == closed == len(hints), (
            f"{path.name}, {title}: {opened} <details>, {closed} </details>, {len(hints)} well-formed hints; write each as "
            "'<details><summary>Hint k: what it is about</summary>', a blank line, the hint, a blank line, '</details>'")
        assert 2 <= len(hints) <= 3, f"{path.name}, {title}: {len(hints)} hints, expected 2 or 3"
        assert [int(k) for k, _, _ in hints] == list(range(1, len(hints) + 1)), f"{path.name}, {title}: hints not numbered 1, 2, ..."
        assert all(body.strip() and about.strip() for _, about, body in hints), f"{path.name}, {title}: an empty hint"
        assert text.rstrip().endswith("</details>"), f"{path.name}, {title}: the hints come last, after the contract"


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=IDS)
def test_exercise_texts_state_a_contract_not_code(path):
    found = []
    for text in _exercise_texts(_cells(path)):
        title = text[EXERCISE.search(text).start():].splitlines()[0]
        name = re.search(r"`(\w+)`", title)
        for span in INLINE_CODE.findall(_without_hints(text)):
            signature = name and span.startswith(name.group(1) + "(")
            shape = span.startswith("(") and span.endswith(")") and "," in span and "=" not in span
            if COMPUTES.search(span) and not signature and not shape:
                found.append(f"{title}: `{span}`")
    assert not found, (f"{path.name}: code that computes the answer sits in the exercise text, outside the hints "
                       "(move it into a hint, or write the math in LaTeX):\n  " + "\n  ".join(found))


@pytest.mark.slow
def test_the_release_keeps_every_kind(tmp_path):
    from autograder.release import release
    from notebook_text import ROOT

    release(ROOT, tmp_path / "release")
    for source in SOURCE_NOTEBOOKS:
        released = tmp_path / "release" / source.parent.name / source.name
        want = {_name(c): _kind(c) for c in _solution_cells(_cells(source))}
        got = {c.metadata.get("nbgrader", {}).get("grade_id"): _kind(c) for c in nbformat.read(str(released), as_version=4).cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
        assert got == want, f"{released}: the release's kinds {got} differ from the source's {want}"
