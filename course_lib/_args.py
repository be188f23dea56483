"""Argument checks shared by the reference functions: one sentence per bad value."""

import operator


def as_int(fn, what, value, minimum=0):
    """``value`` as a Python int ``>= minimum``; TypeError/ValueError naming ``fn`` and ``what`` otherwise."""
    try:
        value_int = operator.index(value)
    except TypeError:
        raise TypeError(f"{fn}: {what} must be an integer >= {minimum}, got {value!r}.") from None
    if value_int < minimum:
        raise ValueError(f"{fn}: {what} must be >= {minimum}, got {what}={value}.")
    return value_int
