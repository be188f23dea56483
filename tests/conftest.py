import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# `course check` leaves a warm check server behind (autograder/check_server.py); the tests start
# their own where they test it, and no other test leaves one running
os.environ.setdefault("COURSE_CHECK_SERVER", "0")


def run_course(*args, cwd=None, timeout=900):
    """Run the ``course`` command as a user would (a new process); return CompletedProcess."""
    env = dict(os.environ, COURSE_ROOT=str(ROOT), PYTHONUNBUFFERED="1")
    env.pop("COURSE_GRADING", None)
    return subprocess.run([sys.executable, "-m", "autograder.cli", *map(str, args)], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def course_root():
    return ROOT
