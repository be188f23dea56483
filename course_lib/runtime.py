"""Where a notebook is running: grading or not, CPU or GPU, and how big its demos may be.

``course grade`` and ``course check`` set the environment variable ``COURSE_GRADING=1``
in the kernels they start, and nbgrader's **Validate** button runs its kernel with
``NBGRADER_VALIDATING=1``; demo cells call :func:`is_grading` to skip or shrink
themselves, so grading or validating a notebook stays fast.
"""

import os
from pathlib import Path

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


#: The file ``course release`` leaves in every assignment folder it writes
#: (``autograder.release.MARKER``); a ``course_lib`` beside it belongs to a released folder.
RELEASE_MARKER = ".course-release"


def _is_checkout(folder):
    """True for the course's own checkout: ``pyproject.toml``, ``course_lib/`` and ``notebooks/``."""
    return (folder / "pyproject.toml").is_file() and (folder / "course_lib").is_dir() and (folder / "notebooks").is_dir()


def data_dir():
    """Where data sets live: the course's one data folder, whatever the working directory.

    In order:

    1. ``$COURSE_DATA`` when it is set (the grader's sandbox sets it);
    2. ``$COURSE_ROOT/data`` when ``COURSE_ROOT`` is set (``./course`` sets it for JupyterLab
       and its kernels);
    3. the folder that holds this ``course_lib``, if ``course release`` wrote it (it holds the
       marker file ``.course-release``): a released assignment folder keeps its data in its
       own ``data/``, beside its notebook and ``course_lib/``;
    4. the ``data/`` of the course checkout this ``course_lib`` lives in, looked for in the
       folders above it (so also for a copy such as ``workspace/<assignment>/course_lib/``,
       or ``course_lib`` installed into ``.venv/``);
    5. ``./data`` when none of these applies.

    So the CIFAR-10 files, the synthetic stand-in and notebook 10's cached backbone are
    found in (and written to) one folder, not in a new ``data/`` beside every notebook that
    a kernel happens to run in.
    """
    if os.environ.get("COURSE_DATA"):
        return os.environ["COURSE_DATA"]
    if os.environ.get("COURSE_ROOT"):
        return os.path.join(os.environ["COURSE_ROOT"], "data")
    home = Path(__file__).resolve().parent.parent  # the folder that holds course_lib/
    if (home / RELEASE_MARKER).is_file():
        return str(home / "data")
    for folder in (home, *home.parents):
        if _is_checkout(folder):
            return str(folder / "data")
    return "data"
