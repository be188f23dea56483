"""Stand-ins for ``grade_job`` that kill the worker process running them (tests/test_grader_limits.py).

In a module of their own with nothing heavy to import: a worker unpickles them by name.
"""

import json
import os
import signal
import time
from pathlib import Path


def fake_grade(marks, job):
    """``killer`` kills its worker every time, ``flaky`` the first time only, ``sleeper`` runs
    past any time limit a test gives it; anything else is graded at once."""
    if job.startswith("killer"):
        os.kill(os.getpid(), signal.SIGKILL)
    if job.startswith("flaky") and not (Path(marks) / job).exists():
        (Path(marks) / job).write_text("died once")
        os.kill(os.getpid(), signal.SIGKILL)
    if job.startswith("sleeper"):
        time.sleep(600)
    return f"graded {job}"


def grade_or_die(course_root, job, options=None):
    """The real grade_job, except that for ``killer`` it leaves what a real one leaves (a stage
    with the source notebooks and the gradebook, a running student process and its job folder),
    writes them down in ``$GRADER_TEST_LOG``, then kills its own worker."""
    from autograder import grading
    from autograder.jail import Limits
    from autograder.remote import Session

    if job.student != "killer":
        return grading.grade_job(course_root, job, options)
    stage = grading._stage_for(Path(course_root), job.assignment, options)
    session = Session("none", Limits())
    session.run_cell("x = 1")
    with open(os.environ["GRADER_TEST_LOG"], "a") as fh:
        fh.write(json.dumps({"stage": str(stage.dir), "job_dir": str(session.job_dir), "pid": session.proc.proc.pid}) + "\n")
    os.kill(os.getpid(), signal.SIGKILL)
