"""Running a notebook's test cells against a wrong answer, without a kernel.

A *mistake* is a wrong variant of an exercise's solution, written the way students get it
wrong. :func:`run_tests_against` executes the notebook's setup cell, the variant, and the
exercise's whole test cell (hidden tests included) in one namespace, and returns the message
of the first failure (or ``None`` if every test passed, which a mistake must never do).
"""

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402

from course_lib.checks import CheckFailed  # noqa: E402


#: The seed of the hidden tests' inputs on both sides of the harness (the grader derives one per
#: submission; here both sides must simply agree).
HIDDEN_SEED = 0


def _cells(nb_path):
    return nbformat.read(str(nb_path), as_version=4).cells


def setup_source(nb_path):
    """The notebook's first code cell (its imports)."""
    return next(c.source for c in _cells(nb_path) if c.cell_type == "code")


def test_cell_source(nb_path, grade_id):
    for c in _cells(nb_path):
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return c.source
    raise KeyError(f"{nb_path.name} has no cell {grade_id}")


def run_tests_against(nb_path, grade_id, answer_source):
    """Message of the first failing check of ``grade_id`` when the answer is ``answer_source``."""
    ns = {"__name__": "__notebook__"}
    exec(compile(setup_source(nb_path).replace("%matplotlib inline", ""), "setup", "exec"), ns)
    exec(compile(answer_source, "answer", "exec"), ns)
    try:
        exec(compile(test_cell_source(nb_path, grade_id), grade_id, "exec"), ns)
    except CheckFailed as e:
        return str(e)
    except Exception as e:  # a crash also loses the points; report it the way feedback would
        return f"{type(e).__name__}: {e}"
    return None


def solution_with(nb_path, solution_id, old, new):
    """The notebook's own solution for ``solution_id`` with one edit: the smallest way to write a mistake."""
    for c in _cells(nb_path):
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == solution_id:
            assert old in c.source, f"{old!r} is not in the solution of {solution_id}"
            return c.source.replace(old, new)
    raise KeyError(f"{nb_path.name} has no cell {solution_id}")


def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_in_process(nb_path, override_source=""):
    """Score of the source notebook's solutions with ``override_source`` run after them.

    Runs the setup cell, every solution cell, the override (a wrong variant that replaces one
    or more functions), then every graded test cell, each in the same namespace, the way the
    grader would. Returns ``(score, max_score, {grade_id: failure message or None})``.
    Test cells may use only the setup cell's names and the exercises' functions.
    """
    from autograder.student_process import seed_global_rngs
    from course_lib.checks import set_hidden_seed

    cells = _cells(nb_path)
    ns = {"__name__": "__notebook__"}
    seed_global_rngs()  # as the grader's student process does when it starts
    set_hidden_seed(HIDDEN_SEED)  # the same hidden inputs as remote_scores gives its test cells
    exec(compile(setup_source(nb_path).replace("%matplotlib inline", ""), "setup", "exec"), ns)
    for c in cells:
        if _nbgrader(c).get("solution"):
            exec(compile(c.source, _nbgrader(c)["grade_id"], "exec"), ns)
    exec(compile(override_source, "override", "exec"), ns)
    score, max_score, results = 0.0, 0.0, {}
    for c in cells:
        meta = _nbgrader(c)
        if not meta.get("grade"):
            continue
        max_score += meta["points"]
        try:
            exec(compile(c.source, meta["grade_id"], "exec"), dict(ns))
        except CheckFailed as e:
            results[meta["grade_id"]] = str(e)
        except Exception as e:
            results[meta["grade_id"]] = f"{type(e).__name__}: {e}"
        else:
            results[meta["grade_id"]] = None
            score += meta["points"]
    return score, max_score, results


def public_part(test_source):
    """A test cell as the student's release has it: the hidden block cut out."""
    out, hidden = [], False
    for line in test_source.splitlines():
        if "### BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "### END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            out.append(line)
    return "\n".join(out)


def run_public_tests_against(nb_path, grade_id, answer_source):
    """Like :func:`run_tests_against`, with only the public tests (what Validate runs)."""
    ns = {"__name__": "__notebook__"}
    exec(compile(setup_source(nb_path).replace("%matplotlib inline", ""), "setup", "exec"), ns)
    exec(compile(answer_source, "answer", "exec"), ns)
    try:
        exec(compile(public_part(test_cell_source(nb_path, grade_id)), grade_id, "exec"), ns)
    except CheckFailed as e:
        return str(e)
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"
    return None


def markdown_text(nb_path):
    return "\n".join(c.source for c in _cells(nb_path) if c.cell_type == "markdown")


def options_of(entry):
    """A catalogue entry is ``(grade_id, name, answer, named)`` or the same with a dict of options:

    * ``hidden_only``: the public tests need not catch this mistake, because the exercise text
      names the case as one the hidden tests check; the value is that sentence (or a part of it),
      which must appear in the notebook's markdown.
    * ``also_fails``: other test cells the mistake may fail too (a set of grade ids). By default a
      mistake costs exactly one exercise: its own.
    """
    return entry[4] if len(entry) > 4 else {}


def check_mistake(nb_path, grade_id, name, answer, named, options=None):
    """The assertions every catalogue makes: the variant fails ``grade_id`` (naming the mistake
    where ``named`` is given), a public test catches it (unless the exercise text names the case
    as a hidden one), it loses points when the whole notebook is graded, and it costs no other
    exercise."""
    options = options or {}
    message = run_tests_against(nb_path, grade_id, answer)
    assert message is not None, f"the mistake '{name}' passes every test of {grade_id}"
    if named:
        assert named in message, f"'{name}' failed with a message that does not name it: {message}"
    public = run_public_tests_against(nb_path, grade_id, answer)
    if options.get("hidden_only"):
        assert options["hidden_only"] in markdown_text(nb_path), (
            f"'{name}' is marked hidden-only, but the notebook's text does not say {options['hidden_only']!r}")
    else:
        assert public is not None, (f"the mistake '{name}' passes the public tests of {grade_id} and loses "
                                    "hidden points unseen: add a public test that catches it")
    score, max_score, results = grade_in_process(nb_path, answer)
    assert score < max_score, f"the mistake '{name}' keeps full marks ({score}/{max_score})"
    others = {g for g, m in results.items() if m and g != grade_id} - set(options.get("also_fails", ()))
    assert not others, (f"the mistake '{name}' in {grade_id} also fails {sorted(others)}: one mistake must cost "
                        "one exercise (test the later exercise apart from the student's earlier function)")


def catalogue_table():
    """Every ``tests/test_mistakes_NN.py`` catalogue, with the points each wrong variant keeps."""
    import importlib
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    lines = []
    for path in sorted(here.glob("test_mistakes_*.py")):
        mod = importlib.import_module(path.stem)
        if not hasattr(mod, "MISTAKES"):
            continue
        full, max_score, _ = grade_in_process(mod.NB)
        lines.append(f"\n{mod.NB.parent.name} (solution: {full:g}/{max_score:g})")
        lines.append("  score  public  mistake  [test cells it fails]")
        for entry in mod.MISTAKES:
            grade_id, name, answer = entry[:3]
            score, _, results = grade_in_process(mod.NB, answer)
            failed = ", ".join(g.removeprefix("test_") for g, m in results.items() if m)
            public = "caught" if run_public_tests_against(mod.NB, grade_id, answer) else "hidden"
            lines.append(f"  {score:4g}/{max_score:g}  {public:6s}  {name}  [fails: {failed}]")
    return "\n".join(lines)


if __name__ == "__main__":  # .venv/bin/python tests/mistakes.py
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        table = catalogue_table()
    print(table)


def remote_scores(nb_path, variants):
    """Scores of ``variants`` (answer sources) graded the way `course grade` does: the answers run
    in a student process, the test cells here with the exercise functions as remote stand-ins.

    One student process serves all the variants in turn (each run re-defines every solution, then
    applies its variant), which keeps this fast enough for the suite.
    """
    import contextlib
    import io

    from autograder.execute import exercise_names, run_test, trusted_namespace
    from autograder.jail import Limits
    from autograder.remote import Session
    from autograder.student_process import GRADING_SEED

    nb = nbformat.read(str(nb_path), as_version=4)
    setup = setup_source(nb_path)
    solutions = "\n".join(c.source for c in nb.cells if _nbgrader(c).get("solution"))
    tests = [(_nbgrader(c)["grade_id"], c.source, _nbgrader(c)["points"]) for c in nb.cells if _nbgrader(c).get("grade")]
    base = trusted_namespace(nb)
    session = Session("none", Limits(cell_s=60, notebook_s=3600))
    scores = []
    try:
        proxies = session.proxies(exercise_names(nb))
        session.run_cell(setup)
        for answer in variants:
            # each variant starts from the global random state a fresh student process has
            session.run_cell(f"import random, numpy; random.seed({GRADING_SEED}); numpy.random.seed({GRADING_SEED})")
            _, err = session.run_cell(solutions + "\n" + answer)
            assert err is None, f"the variant did not run: {err}"
            score, results = 0.0, {}
            with contextlib.redirect_stdout(io.StringIO()):
                for gid, code, points in tests:
                    _, error = run_test(code, base, proxies, gid, seed=HIDDEN_SEED)
                    results[gid] = error
                    score += 0 if error else points
            scores.append((score, results))
    finally:
        session.close()
    return scores


def later_cell_output(nb_path, answer_source, later_grade_id):
    """What the test cell ``later_grade_id`` prints when every solution cell is the reference's and
    then ``answer_source`` (a wrong earlier exercise) replaces one: the line that tells the student
    which earlier exercise to fix."""
    import contextlib
    import io

    ns = {"__name__": "__notebook__"}
    exec(setup_source(nb_path), ns)
    for c in _cells(nb_path):
        if _nbgrader(c).get("solution"):
            exec(c.source, ns)
    exec(answer_source, ns)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(next(c.source for c in _cells(nb_path) if _nbgrader(c).get("grade_id") == later_grade_id), dict(ns))
    return out.getvalue()


def solution_of(nb_path, solution_id):
    """The notebook's own solution cell, unchanged: what a variant of a later exercise builds on."""
    for c in _cells(nb_path):
        if _nbgrader(c).get("grade_id") == solution_id and _nbgrader(c).get("solution"):
            return c.source
    raise KeyError(f"{nb_path.name} has no solution cell {solution_id}")


def catalogue_tests(nb_path, mistakes, points):
    """The two tests of a catalogue module (``tests/test_mistakes_NN.py``)::

        test_every_mistake_loses_the_points, test_the_reference_answers_pass = catalogue_tests(NB, MISTAKES, 10)
    """
    import pytest

    cases = [tuple(m[:4]) + (options_of(m),) for m in mistakes]

    @pytest.mark.parametrize("grade_id,name,answer,named,options", cases, ids=[f"{m[0]}: {m[1]}" for m in mistakes])
    def test_every_mistake_loses_the_points(grade_id, name, answer, named, options):
        check_mistake(nb_path, grade_id, name, answer, named, options)

    def test_the_reference_answers_pass():
        """The harness itself: the source notebook's own solutions pass every test cell."""
        score, max_score, results = grade_in_process(nb_path)
        assert score == max_score == points, results

    return test_every_mistake_loses_the_points, test_the_reference_answers_pass
