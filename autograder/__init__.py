"""autograder: the instructor toolchain behind the ``course`` command.

Where things are:

* ``cli.py``          -- the ``course`` command (lab, release, check, grade, collect, export, similarity, demo)
  and its error handling.
* ``course_dir.py``   -- finding the course (``notebooks/``) and its assignments.
* ``student_lib.py``  -- the copy of ``course_lib`` students receive: the package without ``solutions/``.
* ``pipeline.py``     -- nbgrader's own generate_assignment / autograde, and the feedback pages
  (nbgrader's ClearHiddenTests, then our renderer), run in a private staging course directory.
* ``grading.py``      -- ``course check`` and ``course grade``: jobs, worker processes or Dask,
  saving results as they come, the class summary.
* ``execute.py``      -- nbgrader's execute step replaced: student cells in the sandbox, test cells
  (from the instructor's source) here.
* ``jail.py``         -- the sandbox: Linux namespaces, a file system without the instructor's
  files, no network, limits; it picks how to build the sandbox on this machine.
* ``jail_setup.py``   -- what runs first inside the new namespaces (standard library only): mounts,
  masks, the unprivileged uid, the limits, then the student process.
* ``cgroups.py``      -- memory and process limits for a sandbox's whole process tree (cgroups v1 or v2).
* ``pool.py``         -- the grading workers: a crashed worker costs only its own job, the pool refills.
* ``student_process.py`` -- what runs inside the sandbox: the student's cells and functions.
* ``remote.py``, ``wire.py`` -- calling a student's function from a test; plain data only across.
* ``feedback.py``     -- what a student is shown: scores and failure messages, never hidden tests;
  the notebook written as HTML by the grader, sanitized and capped, no script runs in it
  (``feedback.css`` is its style).
* ``submissions.py``  -- reading a folder of submissions (regular files only, never through a link,
  size and depth capped) and rejecting bad files with one sentence.
* ``shown.py``        -- student ids, file names and messages escaped for report.txt, summary.txt, grades.csv.
* ``zygote.py``       -- the pre-started student process a grading worker forks each submission's from.
* ``check_server.py`` -- the warm ``course check``: a learner's background process that has paid the start-up once.
* ``course_config.py`` -- the term's ``course.toml`` (due dates, extensions, late policy) and the roster.
* ``deadlines.py``    -- submission times (``timestamp.txt``) and what lateness costs.
* ``final_grades.py`` -- saved raw scores with the late policy applied, for every table and export.
* ``exchange.py``     -- nbgrader's exchange: release into it, collect students' submissions from it.
* ``canvas_zip.py``   -- submissions from a Canvas "Download Submissions" zip.
* ``export.py``       -- grades out to Canvas's and Moodle's gradebook imports, or a plain CSV.
* ``similarity.py``   -- per exercise, pairs of unusually alike solutions (copydetect), as an HTML report.
* ``class_report.py`` -- ``summary.html``: the class's histograms, pass rates and common failures.
* ``workspace.py``    -- the student workspace that ``course lab`` keeps in sync with the release.
* ``demo.py``         -- ``course demo``: a simulated class, graded.
"""

import sys

# jsonschema (under nbformat, nbgrader and nbconvert) imports ``rfc3987_syntax`` when it is
# installed, only to check the "iri" string formats, and that module builds a Lark grammar at
# import: 1.6 s of every grading process's 2.8 s of nbgrader imports. No schema the grader
# validates (nbformat's notebook schema) uses those formats, so the grader's processes do
# without it; jsonschema skips a format checker whose module is missing.
sys.modules.setdefault("rfc3987_syntax", None)


class CourseError(Exception):
    """A problem the user can fix; the CLI prints its message (one sentence) and exits with status 2."""
