"""The ``course`` command: ``lab``, ``release``, ``check`` and ``grade``.

Every failure the user can fix prints one sentence on stderr and exits with status 2;
anything unexpected prints one sentence too (exit 1), never a bare traceback.
"""

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

from autograder import CourseError

USAGE = """\
course lab     [--workspace DIR] [--port N] [--no-browser] [--sync-only]
course release [--out DIR] [ASSIGNMENT ...]
course check   NOTEBOOK.ipynb [--isolation none|namespaces]
course grade   SUBMISSIONS --out DIR [--workers N | --dask ADDRESS] [--isolation namespaces|none]
               [--cell-timeout S] [--notebook-timeout S] [--memory-mb MB] [--grader-memory-mb MB]
course demo    [--out DIR] [--workers N]
"""


def build_parser():
    p = argparse.ArgumentParser(prog="course", description="Optimization for deep learning: the course's student and instructor commands.", usage=USAGE)
    p.add_argument("--course-dir", help="the course checkout (the folder holding notebooks/); default: this checkout")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    lab = sub.add_parser("lab", help="make or update your workspace from the release and start JupyterLab on it")
    lab.add_argument("--workspace", default=None, help="the student workspace (default: workspace/ in the course folder)")
    lab.add_argument("--port", type=int, default=None, help="JupyterLab's port (default: the first free one from 8888)")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser; print the URL")
    lab.add_argument("--sync-only", action="store_true", help="update the workspace and stop, without starting JupyterLab")

    rel = sub.add_parser("release", help="write the student version of the assignments (no solutions, no hidden tests)")
    rel.add_argument("--out", default="release", help="output folder (default: ./release)")
    rel.add_argument("assignments", nargs="*", help="assignment ids (default: all)")

    chk = sub.add_parser("check", help="grade one notebook locally, hidden tests included")
    chk.add_argument("notebook")
    chk.add_argument("--isolation", choices=("none", "namespaces"), default="none",
                     help="run your code in the grading sandbox too (default: a plain child process)")

    gr = sub.add_parser("grade", help="autograde a folder of submissions: SUBMISSIONS/<student>/<assignment>/*.ipynb")
    gr.add_argument("submissions")
    gr.add_argument("--out", required=True, help="folder for grades.csv, feedback/, report.txt and summary.txt")
    _grading_options(gr)
    gr.add_argument("--dask", metavar="ADDRESS", default=None, help="run the grading jobs on this Dask scheduler (e.g. tcp://10.0.0.5:8786)")

    demo = sub.add_parser("demo", help="an instructor's first five minutes: release, grade a simulated class, print the summary")
    demo.add_argument("--out", default="course-demo", help="folder for the demo's release, submissions and grades (default: ./course-demo)")
    demo.add_argument("--workers", type=int, default=None, help="parallel grading workers (default: the number of CPU cores)")
    return p


def _grading_options(p):
    from autograder.grading import WORKER_MEMORY_MB
    from autograder.jail import Limits

    p.add_argument("--workers", type=int, default=None, help="parallel grading workers (default: the number of CPU cores)")
    p.add_argument("--isolation", choices=("namespaces", "none"), default="namespaces",
                   help="namespaces (default): each submission runs sandboxed, and grading stops if the machine cannot sandbox; "
                        "none: no sandbox, only for submissions you trust")
    p.add_argument("--cell-timeout", type=float, default=Limits.cell_s, help=f"seconds per cell or call of student code (default {Limits.cell_s:g})")
    p.add_argument("--notebook-timeout", type=float, default=Limits.notebook_s, help=f"seconds per notebook (default {Limits.notebook_s:g})")
    p.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help=f"address-space cap of student code in MB (default {Limits.memory_mb})")
    p.add_argument("--grader-memory-mb", type=int, default=WORKER_MEMORY_MB,
                   help=f"address-space cap of each local grading worker in MB (default {WORKER_MEMORY_MB}; one at rest maps about 3700)")


def _options(args):
    from autograder.grading import Options
    from autograder.jail import Limits

    if args.cell_timeout <= 0 or args.notebook_timeout <= 0 or args.memory_mb < 512:
        raise CourseError("--cell-timeout and --notebook-timeout must be positive and --memory-mb at least 512.")
    if args.grader_memory_mb < 4096:
        raise CourseError("--grader-memory-mb must be at least 4096: a grading worker maps about 3700 MB before it grades anything.")
    return Options(args.isolation, Limits(cell_s=args.cell_timeout, notebook_s=args.notebook_timeout, memory_mb=args.memory_mb),
                   worker_memory_mb=args.grader_memory_mb)


def _quiet_nbgrader():
    for name in ("traitlets", "nbgrader", "GenerateAssignment", "Autograde", "GenerateFeedback"):
        logging.getLogger(name).setLevel(logging.ERROR)


def cmd_lab(root, args):
    from autograder.workspace import sync_workspace

    ws = Path(args.workspace) if args.workspace else root / "workspace"
    added, updated, kept = sync_workspace(root, ws)
    print(f"Workspace {ws}: {len(added)} file(s) added, {len(updated)} updated, {len(kept)} of your changed file(s) kept as they are.")
    for rel in kept:
        if rel.endswith(".ipynb"):
            print(f"  kept your version of {rel}")
    if args.sync_only:
        return 0
    from autograder.lab import lab_command

    argv, env = lab_command(root, ws, port=args.port, open_browser=not args.no_browser)
    sys.stdout.flush()
    os.execve(sys.executable, argv, env)


def cmd_release(root, args):
    from autograder.release import release

    written = release(root, args.out, args.assignments or None)
    print(f"Released {len(written)} assignment(s) to {Path(args.out)}: " + ", ".join(p.name for p in written))
    return 0


def cmd_check(root, args):
    from autograder.grading import check_notebook, report_lines

    res = check_notebook(root, args.notebook, isolation=args.isolation)
    print("\n".join(report_lines(res)))
    return 0


def cmd_grade(root, args):
    from autograder.grading import grade_class

    try:
        results, skipped, reused = grade_class(root, args.submissions, args.out, workers=args.workers,
                                               dask_address=args.dask, options=_options(args))
    except KeyboardInterrupt:
        raise CourseError(f"interrupted; every submission graded so far is saved in {args.out}: run the same command again to grade the rest.") from None
    for line in skipped:
        print(f"skipped: {line}", file=sys.stderr)
    bad = sum(1 for r in results if r.problems)
    again = f", {reused} kept from an earlier run" if reused else ""
    print(f"Graded {len(results)} submission(s){again} ({bad} with problems, see report.txt); "
          f"wrote {Path(args.out) / 'grades.csv'}, feedback/ and summary.txt.")
    return 0


def cmd_demo(root, args):
    from autograder.demo import run_demo

    return run_demo(root, Path(args.out), workers=args.workers)


COMMANDS = {"lab": cmd_lab, "release": cmd_release, "check": cmd_check, "grade": cmd_grade, "demo": cmd_demo}


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    _quiet_nbgrader()
    warnings.simplefilter("ignore")  # library warnings (nbformat, jupyter_client) are not the user's business
    try:
        from autograder.course_dir import find_course_root

        root = find_course_root(args.course_dir)
        return COMMANDS[args.command](root, args) or 0
    except CourseError as e:
        print(f"course {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"course {args.command}: interrupted; files already written are complete.", file=sys.stderr)
        return 130
    except Exception as e:  # the last resort: one sentence, never a bare traceback
        if os.environ.get("COURSE_DEBUG"):
            raise
        print(f"course {args.command}: unexpected error ({type(e).__name__}: {e}); rerun with COURSE_DEBUG=1 for details and report it.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
