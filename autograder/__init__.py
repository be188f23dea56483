"""autograder: the instructor toolchain behind the ``course`` command.

Where things are:

* ``cli.py``          -- the ``course`` command (lab, release, check, grade) and its error handling.
* ``course_dir.py``   -- finding the course (``notebooks/``) and its assignments.
* ``student_lib.py``  -- the copy of ``course_lib`` students receive: support modules only.
* ``pipeline.py``     -- nbgrader's own generate_assignment / autograde / generate_feedback,
  run in a private staging course directory.
* ``feedback.py``     -- what a student is shown: scores and failure messages, never hidden tests.
* ``submissions.py``  -- reading a folder of submissions and rejecting bad files with one sentence.
* ``workspace.py``    -- the student workspace that ``course lab`` keeps in sync with the release.
"""


class CourseError(Exception):
    """A problem the user can fix; the CLI prints its message (one sentence) and exits with status 2."""
