"""Where a notebook is running: grading or not, CPU or GPU, and how big its demos may be.

``course grade`` and ``course check`` set the environment variable ``COURSE_GRADING=1``
in the kernels they start, and nbgrader's **Validate** button runs its kernel with
``NBGRADER_VALIDATING=1``; demo cells call :func:`is_grading` to skip or shrink
themselves, so grading or validating a notebook stays fast.
"""

import os

GRADING_ENV = "COURSE_GRADING"


VALIDATING_ENV = "NBGRADER_VALIDATING"


def _flag(name):
    return os.environ.get(name, "") not in ("", "0", "false", "False")


def is_grading():
    """True while the notebook is being autograded (``COURSE_GRADING=1``) or validated
    (``NBGRADER_VALIDATING=1``, set by nbgrader's Validate button and ``nbgrader validate``)."""
    return _flag(GRADING_ENV) or _flag(VALIDATING_ENV)


def device():
    """``"cuda"`` when torch sees a GPU, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def demo_size(full, small, grading=None):
    """Pick a demo's size: ``full`` on a GPU, ``small`` on CPU, ``min(small, 1/10 of it)`` when grading.

    Use it for epochs, steps or sample counts in heavy demo cells.
    """
    grading = is_grading() if grading is None else grading
    if grading:
        return max(1, min(small, small // 10 or 1))
    try:
        on_gpu = device() == "cuda"
    except ImportError:
        on_gpu = False
    return full if on_gpu else small


def data_dir():
    """Where data sets live: ``$COURSE_DATA``, else ``$COURSE_ROOT/data`` (``./course`` sets
    ``COURSE_ROOT`` for JupyterLab and its kernels), else ``./data``.

    So ``CIFAR-10`` is looked for in the course's one ``data/`` folder whichever notebook
    folder a kernel runs in.
    """
    if os.environ.get("COURSE_DATA"):
        return os.environ["COURSE_DATA"]
    if os.environ.get("COURSE_ROOT"):
        return os.path.join(os.environ["COURSE_ROOT"], "data")
    return "data"
