"""The **Validate** button of the student's JupyterLab, with answers a student can read.

nbgrader's Validate runs the saved notebook in a fresh kernel and lists the test cells that
failed. Its dialog shows, for each one, the test cell's whole source and the whole traceback,
and it counts a test cell that merely printed a warning on stderr as failed (nbgrader #1904).
This server extension keeps nbgrader's own pipeline (its ``Validator``, its handler, its
lab extension's dialog) and changes only what the dialog is given:

* the name of the exercise and its points instead of the test cell's source;
* one line per error (``CheckFailed: <what is wrong>``, ``NameError: ...``) instead of the
  traceback; the cell in the notebook still shows the full traceback;
* a test cell fails on an error, not on a warning printed to stderr.

``course lab`` turns it on in place of ``nbgrader.server_extensions.validate_assignment``
(``autograder/lab.py``); both serve the same two URLs, so nbgrader's button talks to it.
"""

import copy
import textwrap
from pathlib import Path

from nbconvert.filters import strip_ansi
from nbgrader import utils
from nbgrader.nbgraderformat import SchemaTooNewError, SchemaTooOldError
from nbgrader.server_extensions.validate_assignment.handlers import (
    NbGraderVersionHandler,
    ValidateAssignmentHandler,
)
from nbgrader.validator import Validator
from tornado import web

RUN_IT_HINT = "run that test cell in the notebook to see where"
WIDTH = 88  # the dialog shows errors in a <pre> that does not wrap


def _exercise_of(nb, cell):
    """The exercise a test cell belongs to: the solution cell nearest above it."""
    name = None
    for c in nb.cells:
        if c is cell:
            break
        if utils.is_solution(c):
            name = c.metadata.nbgrader.get("grade_id")
    return name


def _label(nb, cell):
    meta = cell.metadata.get("nbgrader", {})
    points = meta.get("points", 0)
    points = int(points) if float(points).is_integer() else points
    exercise = _exercise_of(nb, cell)
    what = f"the tests of {exercise}" if exercise else "a test cell"
    return f"{what} ({points} point{'s' if points != 1 else ''}; cell '{meta.get('grade_id', '?')}')"


def _without_stderr(cell):
    c = copy.copy(cell)
    c.outputs = [o for o in cell.get("outputs", []) if not (o.output_type == "stream" and o.get("name") == "stderr")]
    return c


def error_lines(cell):
    """One line per error output of ``cell``: ``ErrorName: message``, colours removed."""
    lines = []
    for out in cell.get("outputs", []):
        if out.output_type != "error":
            continue
        tb = [strip_ansi(t) for t in out.get("traceback") or []]
        if len(tb) == 1 and tb[0].strip():
            lines.append(tb[0].strip())  # already one line (course_lib.notebook_errors)
        else:
            lines.append(f"{out.ename}: {strip_ansi(out.evalue)}" + (f" ({RUN_IT_HINT})" if len(tb) > 1 else ""))
    return lines


class CourseValidator(Validator):
    """nbgrader's Validator with readable failures and stderr warnings that do not fail."""

    def _get_failed_cells(self, nb):
        failed = []
        for cell in nb.cells:
            if not utils.is_grade(cell):
                continue
            score, max_score = utils.determine_grade(_without_stderr(cell), self.log)
            if score is not None and (score < max_score or (max_score == 0 and utils.has_failed(cell))):
                labelled = copy.copy(cell)
                labelled.source = _label(nb, cell)
                failed.append(labelled)
        return failed

    def _extract_error(self, cell):
        lines = error_lines(cell)
        if not lines:
            return super()._extract_error(_without_stderr(cell))
        return "\n".join(textwrap.fill(line, WIDTH, subsequent_indent="    ") for line in lines)


class CourseValidateHandler(ValidateAssignmentHandler):
    """nbgrader's Validate handler, running :class:`CourseValidator`."""

    def validate_notebook(self, path):
        root = Path(self.root_dir).resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            raise web.HTTPError(403, "Access denied: path outside allowed directory")
        try:
            result = CourseValidator(config=self.load_config()).validate(str(target))
        except (SchemaTooOldError, SchemaTooNewError):
            return {"success": False, "value": (
                f"{target.name} was made for another version of nbgrader, so it cannot be validated here; "
                "save a copy of your work and ask your instructor for the current release.")}
        except Exception as e:  # noqa: BLE001 - the dialog gets one sentence, the server log the traceback
            self.log.exception("Validate failed on %s", target)
            return {"success": False, "value": (
                f"Validate could not run {target.name} ({type(e).__name__}: {e}); save the notebook, "
                "restart its kernel, run all cells to see which one fails, and press Validate again.")}
        return {"success": True, "value": result}


def _jupyter_server_extension_points():
    return [{"module": "autograder.validate"}]


def _load_jupyter_server_extension(serverapp):
    from jupyter_server.utils import url_path_join

    webapp = serverapp.web_app
    webapp.settings["root_dir"] = serverapp.root_dir
    base = webapp.settings["base_url"]
    webapp.add_handlers(".*$", [
        (url_path_join(base, "/assignments/validate"), CourseValidateHandler),
        (url_path_join(base, "/nbgrader_version"), NbGraderVersionHandler),
    ])
