"""What a student is shown after grading: the score and the failure message of each test cell.

Hidden tests are cut from the feedback notebook with nbgrader's ``ClearHiddenTests``; a
traceback would still quote the hidden lines it passed through, so :class:`ShortenTracebacks`
replaces every traceback with its last line, ``ErrorName: message``. The messages our checks
raise (:mod:`course_lib.checks`) say what is wrong, so nothing useful is lost.
"""

import re

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_MESSAGE = 500


def error_message(output):
    """One line for an error output: ``ErrorName: message`` without colour codes, at most 500 characters."""
    ename = ANSI.sub("", str(output.get("ename", "Error")))
    evalue = ANSI.sub("", str(output.get("evalue", ""))).strip()
    if not evalue:
        evalue = {"AssertionError": "a test failed without a message",
                  "NotImplementedError": "not written yet: replace `raise NotImplementedError()` with your code"}.get(ename, "(no message)")
    line = f"{ename}: {evalue}"
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "\u2026"


class ShortenTracebacks(Preprocessor):
    """Replace each error output's traceback with its one-line message."""

    enabled = Bool(True).tag(config=True)  # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [error_message(out)]
        return cell, resources


def grade_cells(nb):
    """``[(grade_id, points), ...]`` of the autograded test cells, in notebook order."""
    cells = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            cells.append((meta["grade_id"], float(meta.get("points", 0))))
    return cells


def cell_messages(nb_path, kind="grade"):
    """``{grade_id: message}`` for the cells of an executed notebook that raised an error.

    ``kind="grade"`` looks at the test cells, ``kind="solution"`` at the cells students write in
    (an error there, say a SyntaxError, is the real cause of the NameErrors in the tests after it).
    """
    nb = nbformat.read(str(nb_path), as_version=4)
    messages = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get(kind):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                messages[meta["grade_id"]] = error_message(out)
                break
    return messages


def order_of(nb_path):
    """Grade ids in the order their cells appear in a notebook."""
    nb = nbformat.read(str(nb_path), as_version=4)
    return [gid for gid, _ in grade_cells(nb)]
