"""A failed check or an unwritten exercise shows as one line in a notebook; other errors keep their traceback."""

from IPython.core.interactiveshell import InteractiveShell

from course_lib import notebook_errors
from course_lib.checks import CheckFailed, check_array


def _shell():
    # a shell of its own, not IPython's global one: with a global shell about, later tests would
    # see get_ipython() return it (ipywidgets' Output then swallows exceptions, as in a kernel)
    shell = InteractiveShell()
    assert notebook_errors.install((CheckFailed,), shell)
    shown = []
    shell._showtraceback = lambda etype, value, stb: shown.append(list(stb))
    return shell, shown


def test_a_failed_check_is_one_line_with_its_message():
    shell, shown = _shell()
    shell.user_ns["check_array"] = check_array
    result = shell.run_cell("import numpy as np\ncheck_array('gd_step(w, g, 0.1)', np.zeros(3), np.ones(2))")
    assert isinstance(result.error_in_exec, CheckFailed)  # the cell still counts as failed
    assert len(shown) == 1 and len(shown[0]) == 1
    assert "CheckFailed" in shown[0][0] and "has shape (3,), expected (2,)" in shown[0][0]


def test_an_unwritten_exercise_is_named_with_what_to_do():
    shell, shown = _shell()
    shell.run_cell("def adam(w, g, state):\n    # YOUR CODE HERE\n    raise NotImplementedError()")
    result = shell.run_cell("adam(1, 2, {})")
    assert isinstance(result.error_in_exec, NotImplementedError)
    assert len(shown[-1]) == 1
    assert "`adam` is not written yet" in shown[-1][0] and "raise NotImplementedError()" in shown[-1][0]


def test_a_bug_in_student_code_keeps_the_full_traceback():
    shell, shown = _shell()
    lines = []
    shell._showtraceback = lambda etype, value, stb: lines.append(list(stb))
    result = shell.run_cell("def f(x):\n    return x[5]\nf([1, 2])")
    assert isinstance(result.error_in_exec, IndexError)
    assert len(lines) == 1 and len(lines[0]) > 1  # IPython's own multi-frame traceback


def test_no_global_shell_is_left_behind():
    _shell()
    assert not InteractiveShell.initialized()


def test_outside_ipython_install_does_nothing(monkeypatch):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert notebook_errors.install((CheckFailed,)) is False


def test_a_not_implemented_error_with_a_message_keeps_its_traceback():
    shell, shown = _shell()
    result = shell.run_cell("def f():\n    raise NotImplementedError('complex inputs are not supported')\nf()")
    assert isinstance(result.error_in_exec, NotImplementedError)
    assert len(shown[-1]) > 1 and "complex inputs are not supported" in "".join(shown[-1])
