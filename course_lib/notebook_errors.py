"""How a failing test shows in the notebook: one sentence, not a traceback.

A test cell that fails raises :class:`course_lib.checks.CheckFailed`, whose message already
says what is wrong. IPython would print it under a stack of frames inside the check helpers,
which tell a student nothing; nbgrader's **Validate** button would paste that whole stack
into its dialog. :func:`install` asks the running IPython to show two kinds of error as
one line instead:

* ``CheckFailed: <what is wrong>`` for a failed check;
* ``NotImplementedError: <name> is not written yet: ...`` when the test calls an exercise
  whose cell still holds the release's ``raise NotImplementedError()`` stub (a bare one,
  without a message).

Every other error (a bug in the student's own code) keeps IPython's full traceback, which
is what one needs to find it. ``course_lib.checks`` calls :func:`install` when it is imported,
so every notebook gets it from its set-up cell; outside IPython it does nothing.
"""

RED, RESET = "\x1b[0;31m", "\x1b[0m"

STUB_HINT = ("{name} is not written yet: replace `raise NotImplementedError()` with your code, "
             "run its cell, then this test again.")


def _innermost_function(tb):
    """Name of the function in which the exception was raised (the last frame)."""
    name = None
    while tb is not None:
        name = tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return name


def one_line(etype, value, tb):
    """The single line shown for a failed check or an unwritten exercise."""
    message = str(value)
    if _is_stub(etype, value):
        name = _innermost_function(tb)
        message = STUB_HINT.format(name=f"`{name}`" if name and name != "<module>" else "this exercise")
    return f"{RED}{etype.__name__}{RESET}: {message}"


def _is_stub(etype, value):
    return issubclass(etype, NotImplementedError) and not str(value)


def _handler(shell, etype, value, tb, tb_offset=None):
    if issubclass(etype, NotImplementedError) and not _is_stub(etype, value):
        stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)  # not the stub: keep it all
    else:
        stb = [one_line(etype, value, tb)]
    shell._showtraceback(etype, value, stb)
    return stb


def install(check_failures, shell=None):
    """Show ``check_failures`` (a tuple of exception classes) and unwritten exercises as one line.

    ``shell`` defaults to the running IPython; returns True when there was one to set up.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc(tuple(check_failures) + (NotImplementedError,), _handler)
    return True
