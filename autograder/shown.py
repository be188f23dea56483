"""Student-controlled text as the instructor's plain-text files show it.

Student ids, file names and the messages a student's code raises end up in ``report.txt``,
``summary.txt``, ``grades.csv`` and the terminal. Each of them may hold a newline (which would
forge a line of the report), a terminal escape sequence (``ESC ]``, which ``cat`` would obey),
a right-to-left override (which reverses what follows on screen) or a lone surrogate (a file
name that is not UTF-8, which no UTF-8 file can hold). Here every such character is written as
Python writes it in a string literal (``\\n``, ``\\x1b``, ``\\u202e``, ``\\udcff``), so what is
shown is one line of printable text, and a name that needed escaping is shown in quotes, as
``repr`` shows it. A spreadsheet cell that starts with ``=``, ``+``, ``-`` or ``@`` is a formula:
:func:`csv_cell` puts a ``'`` in front, as OWASP's advice on CSV injection says.
"""

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escaped(ch):
    return repr(ch)[1:-1]


def one_line(text):
    """``text`` with every character that is not printable (newline, escape, bidi control, lone
    surrogate...) written as its Python escape: a message shown as one line, as written."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def shown(name):
    """A student id or file name as one unambiguous line: as is if it is plain printable text,
    else its ``repr`` (quoted, every odd character escaped), so ``"zoe\\na"`` can not pass for two
    lines nor ``" zoe"`` for ``"zoe"``."""
    name = str(name)
    if name and name.isprintable() and name == name.strip():
        return name
    return repr(name)


def csv_cell(value):
    """A text cell for ``grades.csv``: :func:`shown`, with a ``'`` in front of a value a
    spreadsheet would run as a formula. Numbers are not passed through here: they stay numbers."""
    text = shown(value)
    return "'" + text if text.startswith(FORMULA_START) else text
