"""The ``course`` command: ``lab``, ``release``, ``check``, ``grade``, ``demo``, and the
instructor's term: ``collect``, ``export``, ``similarity``.

The term's commands read ``course.toml`` (due dates, extensions, late policy, roster;
:mod:`autograder.course_config`) from the course root, or the file ``--config`` names:

* ``release --exchange DIR`` puts the student version into nbgrader's exchange; it refuses an
  assignment whose due date has already passed (``--force`` releases it anyway, and replaces
  one already in the exchange).
* ``collect --exchange DIR`` or ``collect --canvas ZIP`` writes ``SUBMISSIONS/<student>/<assignment>/``
  with the submission's ``timestamp.txt``; a submission already there is only ever moved to
  ``SUBMISSIONS/.replaced/``, never deleted.
* ``export GRADED`` writes a gradebook file from the records ``course grade`` saved, with the
  late policy of the current ``course.toml``; it writes beside the graded folder, never inside
  it, and replaces an existing file only with ``--force`` (atomically).
* ``similarity SUBMISSIONS`` writes ``similarity.html``: it informs, it never grades.

Every failure the user can fix, a wrong option included, prints one sentence on stderr
(``course <command>: ...``) and exits with status 2, before anything is written; anything
unexpected prints one sentence too (exit 1), never a bare traceback.
"""

import argparse
import datetime as dt
import logging
import os
import sys
import warnings
from pathlib import Path

from autograder import CourseError

USAGE = """\
course lab        [--workspace DIR] [--port N] [--no-browser] [--sync-only]
course release    [--out DIR] [ASSIGNMENT ...]
course release    --exchange DIR [--course-id ID] [--force] [--config FILE] [ASSIGNMENT ...]
course check      NOTEBOOK.ipynb [--isolation none|namespaces]
course collect    --exchange DIR --out SUBMISSIONS [--assignment A ...] [--course-id ID] [--config FILE]
course collect    --canvas ZIP --assignment A --out SUBMISSIONS [--config FILE]
course grade      SUBMISSIONS --out DIR [--workers N | --dask ADDRESS] [--isolation namespaces|none]
                  [--cell-timeout S] [--notebook-timeout S] [--memory-mb MB] [--grader-memory-mb MB] [--config FILE]
course export     GRADED --format canvas|moodle|csv --out FILE [--per-exercise] [--force] [--config FILE]
course similarity SUBMISSIONS --out DIR [--threshold X]
course demo       [--out DIR] [--workers N]
"""
CONFIG_HELP = "the course configuration (default: course.toml in the course folder, if there is one)"


class _Parser(argparse.ArgumentParser):
    """argparse, with a wrong option told in one sentence like every other mistake."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message}; see `{self.prog} --help`.\n")


def build_parser():
    p = _Parser(prog="course", description="Optimization for deep learning: the course's student and instructor commands.", usage=USAGE)
    p.add_argument("--course-dir", help="the course checkout (the folder holding notebooks/); default: this checkout")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    lab = sub.add_parser("lab", help="make or update your workspace from the release and start JupyterLab on it")
    lab.add_argument("--workspace", default=None, help="the student workspace (default: workspace/ in the course folder)")
    lab.add_argument("--port", type=int, default=None, help="JupyterLab's port (default: the first free one from 8888)")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser; print the URL")
    lab.add_argument("--sync-only", action="store_true", help="update the workspace and stop, without starting JupyterLab")

    rel = sub.add_parser("release", help="write the student version of the assignments (no solutions, no hidden tests), "
                                         "to a folder or into nbgrader's exchange")
    rel.add_argument("--out", default=None, help="output folder (default: ./release)")
    rel.add_argument("--exchange", metavar="DIR", default=None,
                     help="release into nbgrader's exchange folder (c.Exchange.root) instead, where `nbgrader fetch_assignment` "
                          "and the Assignment List find it; refuses an assignment whose due date has passed")
    rel.add_argument("--course-id", default=None, metavar="ID", help="nbgrader's course id in the exchange (default: course_id in course.toml, else 'course')")
    rel.add_argument("--force", action="store_true",
                     help="with --exchange: replace an assignment already in the exchange, and release one whose due date has passed")
    rel.add_argument("--config", metavar="FILE", default=None, help=CONFIG_HELP)
    rel.add_argument("assignments", nargs="*", help="assignment ids (default: all)")

    chk = sub.add_parser("check", help="grade one notebook locally, hidden tests included")
    chk.add_argument("notebook")
    chk.add_argument("--isolation", choices=("none", "namespaces"), default="none",
                     help="run your code in the grading sandbox too (default: a plain child process)")

    gr = sub.add_parser("grade", help="autograde a folder of submissions: SUBMISSIONS/<student>/<assignment>/*.ipynb")
    gr.add_argument("submissions")
    gr.add_argument("--out", required=True, help="folder for grades.csv, feedback/, report.txt, summary.txt and summary.html")
    _grading_options(gr)
    gr.add_argument("--dask", metavar="ADDRESS", default=None, help="run the grading jobs on this Dask scheduler (e.g. tcp://10.0.0.5:8786)")
    gr.add_argument("--config", metavar="FILE", default=None, help=CONFIG_HELP + "; its late policy is applied")

    col = sub.add_parser("collect", help="take the students' submissions from nbgrader's exchange or a Canvas download, "
                                         "with their submission times, into SUBMISSIONS/<student>/<assignment>/")
    col.add_argument("--exchange", metavar="DIR", default=None, help="nbgrader's exchange folder (c.Exchange.root) that students submitted to")
    col.add_argument("--canvas", metavar="ZIP", default=None, help="the zip of an assignment's \"Download Submissions\" in Canvas")
    col.add_argument("--out", required=True, metavar="SUBMISSIONS", help="the submissions folder that `course grade` reads")
    col.add_argument("--assignment", action="append", default=[], metavar="A",
                     help="collect this assignment (repeatable; default with --exchange: all; --canvas needs exactly one)")
    col.add_argument("--course-id", default=None, metavar="ID", help="nbgrader's course id in the exchange (default: course_id in course.toml, else 'course')")
    col.add_argument("--config", metavar="FILE", default=None, help=CONFIG_HELP)

    ex = sub.add_parser("export", help="write a graded class's final grades as a gradebook file for Canvas, Moodle, or a plain CSV")
    ex.add_argument("graded", metavar="GRADED", help="the --out folder of `course grade`")
    ex.add_argument("--format", required=True, metavar="canvas|moodle|csv", help="canvas, moodle or csv")
    ex.add_argument("--out", required=True, metavar="FILE", help="the file to write (outside GRADED)")
    ex.add_argument("--per-exercise", action="store_true", help="add one column per exercise (raw points)")
    ex.add_argument("--force", action="store_true", help="replace FILE if it exists")
    ex.add_argument("--config", metavar="FILE", default=None, help=CONFIG_HELP + "; its late policy and roster are used")

    sim = sub.add_parser("similarity", help="per exercise, pairs of students whose solutions are unusually alike, as an HTML report")
    sim.add_argument("submissions", metavar="SUBMISSIONS")
    sim.add_argument("--out", required=True, metavar="DIR", help="folder for similarity.html (the graded folder is a good place)")
    sim.add_argument("--threshold", type=float, default=None, metavar="X",
                     help="share of each one's code the other has too, above 0 and at most 1, to report a pair (default 0.7)")

    demo = sub.add_parser("demo", help="an instructor's first five minutes: release, grade a simulated class, print the summary")
    demo.add_argument("--out", default="course-demo", help="folder for the demo's release, submissions and grades (default: ./course-demo)")
    demo.add_argument("--workers", type=int, default=None, help="parallel grading workers (default: the number of CPU cores)")
    for name, command in sub.choices.items():
        command.prog = f"course {name}"
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
    for name in ("traitlets", "nbgrader", "GenerateAssignment", "Autograde"):
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


def _config(root, args):
    """The term's configuration: ``--config``, else ``course.toml`` at the course root, else none."""
    from autograder.course_config import read_config
    from autograder.course_dir import list_assignments

    return read_config(root, list_assignments(root), path=args.config)


def _when(t):
    """A time for the terminal, in its own zone: ``2026-09-14 23:59 CEST``."""
    return t.strftime("%Y-%m-%d %H:%M %Z").strip() if t.tzinfo is not None else t.strftime("%Y-%m-%d %H:%M")


def _course_id(args, cfg):
    cid = args.course_id if args.course_id is not None else cfg.course_id
    if not cid or "/" in cid or "+" in cid or cid.startswith(".") or not cid.isprintable():
        raise CourseError(f"--course-id {cid!r} is not a course id nbgrader can use: give a name without '/' or '+', e.g. optim-dl-2026.")
    return cid


def _assignments(root, names):
    from autograder.course_dir import check_assignment

    for a in names:
        check_assignment(root, a)
    return list(dict.fromkeys(names))


def cmd_release(root, args):
    if args.exchange is None:
        if args.course_id is not None or args.force:
            raise CourseError("--course-id and --force go with --exchange DIR; a release to a folder (--out) replaces only what it wrote.")
        from autograder.release import release

        out = args.out or "release"
        written = release(root, out, args.assignments or None)
        print(f"Released {len(written)} assignment(s) to {Path(out)}: " + ", ".join(p.name for p in written))
        return 0
    if args.out is not None:
        raise CourseError("give --out DIR (a folder) or --exchange DIR (nbgrader's exchange), not both.")
    from autograder.course_dir import list_assignments
    from autograder.exchange import release_to_exchange

    cfg = _config(root, args)
    course_id = _course_id(args, cfg)
    assignments = _assignments(root, args.assignments) or list_assignments(root)
    now = dt.datetime.now(dt.timezone.utc)
    past = [a for a in assignments if a in cfg.due and cfg.due[a] <= now]
    if past and not args.force:
        a = past[0]
        raise CourseError(f"{_config_name(cfg)} gives {a} the due date {_when(cfg.due[a])}, which has passed: every submission would be late; "
                          f"correct its due date in [assignments.\"{a}\"], or add --force to release it anyway.")
    written = release_to_exchange(root, args.exchange, course_id, assignments, force=args.force)
    for dest in written:
        a = dest.name
        due = f"due {_when(cfg.due[a])}" if a in cfg.due else "no due date in course.toml"
        print(f"  {a}: {due}" + (" (already past: released with --force)" if a in past else ""))
    print(f"Released {len(written)} assignment(s) into the exchange {Path(args.exchange)} for the course '{course_id}'; "
          f"students fetch them with the Assignment List or `nbgrader fetch_assignment ASSIGNMENT --course {course_id}`.")
    return 0


def _config_name(cfg):
    return cfg.path.name if cfg.path else "course.toml"


def _collected_line(cfg, student, assignment, when, canvas_late=False):
    """``(line, late)``: one collected submission for the terminal, a late one marked, and why."""
    from autograder.deadlines import _span, deduction, late_by_text
    from autograder.shown import shown

    head = f"  {shown(student)}/{assignment}: "
    canvas = " (Canvas marked it late)" if canvas_late else ""
    if when is None:
        return head + "no submission time (no timestamp.txt), so no late penalty can apply" + canvas, False
    from zoneinfo import ZoneInfo

    due, first = cfg.due_for(student, assignment), cfg.due.get(assignment)
    zone = due.tzinfo if due is not None else ZoneInfo(cfg.timezone)     # beside its due date, in the same zone
    line = head + f"submitted {_when(when.astimezone(zone))}"
    if due is None:
        return line + canvas, False
    if when <= due:
        if first is not None and when > first:
            return line + f", after {_when(first)} but within the extension to {_when(due)}: on time" + canvas, False
        return line + ", on time" + canvas, False
    if when - due <= dt.timedelta(minutes=cfg.late_policy.grace_minutes):
        return line + f", {_span(when - due)} after {_when(due)}, within the grace period: on time" + canvas, False
    d = deduction(when, due, cfg.late_policy)
    late = f", LATE by {late_by_text(when - due)} (due {_when(due)})"
    return line + late + (f": {d.percent:g}% of the score will be deducted" if d.percent else ", no penalty under the late policy") + canvas, True


def cmd_collect(root, args):
    from autograder.course_dir import list_assignments, notebooks_of
    from autograder.shown import shown

    if (args.exchange is None) == (args.canvas is None):
        raise CourseError("give --exchange DIR (nbgrader's exchange) or --canvas ZIP (a Canvas download), one of them.")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CourseError(f"{out} exists and is not a folder: give --out the submissions folder.")
    cfg = _config(root, args)
    assignments = _assignments(root, args.assignment)
    there = {(s.name, a.name) for s in (out.iterdir() if out.is_dir() else ()) if s.is_dir() and not s.is_symlink()
             for a in s.iterdir()}
    kept, late, replaced = [], 0, 0
    if args.canvas is not None:
        from autograder.canvas_zip import import_canvas_zip

        if args.course_id is not None:
            raise CourseError("--course-id goes with --exchange; a Canvas download holds one course's submissions.")
        if len(assignments) != 1:
            raise CourseError("--canvas needs exactly one --assignment A: a Canvas download holds the submissions of one assignment.")
        if cfg.roster_path is None:
            raise CourseError(f"--canvas needs the roster, to map Canvas user ids to students: add roster = \"roster.csv\" to "
                              f"{_config_name(cfg)}, a CSV file with student_id and canvas_id columns.")
        a = assignments[0]
        got = import_canvas_zip(args.canvas, out, a, notebooks_of(root, a), cfg.roster(), timezone=cfg.timezone)
        rows, skipped, kept = [(s, a_, t, lt) for s, a_, t, lt in got.written], got.skipped, got.kept
    else:
        from autograder.exchange import collect_from_exchange

        got = collect_from_exchange(args.exchange, _course_id(args, cfg), out, assignments or list_assignments(root))
        rows, skipped, kept = [(s, a_, t, False) for s, a_, t in got.written], got.skipped, got.kept
        for sentence in got.notes:
            print(f"  note: {sentence}")
    for student, a, when, canvas_late in rows:
        line, is_late = _collected_line(cfg, student, a, when, canvas_late)
        late += is_late
        if (student, a) in there:
            line += f"; the one collected before is kept in {out / '.replaced'}/{shown(student)}/{a}/"
            replaced += 1
        print(line)
    for sentence in kept:
        print(f"  kept: {sentence}")
    for sentence in skipped:
        print(f"skipped: {sentence}", file=sys.stderr)
    print(f"Collected {len(rows)} submission(s) into {out} ({late} late, {replaced} replacing an earlier one); "
          f"{len(kept)} already there kept as they were, {len(skipped)} item(s) skipped.")
    return 0


def cmd_export(root, args):
    from autograder.course_dir import list_assignments
    from autograder.export import FORMATS, export, write_export
    from autograder.final_grades import saved_grades
    from autograder.grading import STATE_DIR

    if args.format not in FORMATS:
        raise CourseError(f"--format must be one of {', '.join(FORMATS)}, not {args.format!r}.")
    graded, out = Path(args.graded), Path(args.out)
    if not graded.is_dir():
        raise CourseError(f"There is no graded folder at {graded}: give the --out folder of `course grade`.")
    if not (graded / STATE_DIR).is_dir():
        raise CourseError(f"{graded} holds no grading records ({STATE_DIR}/): give the --out folder of `course grade`, once it has graded.")
    if out.resolve() == graded.resolve() or graded.resolve() in out.resolve().parents:
        raise CourseError(f"--out {out} is inside the graded folder, which `course grade` keeps; write the export beside it, "
                          "e.g. --out grades-canvas.csv.")
    if out.is_dir():
        raise CourseError(f"{out} is a folder; give --out a file name such as grades-{args.format}.csv.")
    if (out.exists() or out.is_symlink()) and not args.force:
        raise CourseError(f"{out} already exists; add --force to replace it, or give another --out.")
    cfg = _config(root, args)
    roster = cfg.roster()
    grades = saved_grades(graded, cfg)
    if not grades:
        raise CourseError(f"No grade in {graded} could be read: run `course grade` with --out {graded} again.")
    text, notes = export(grades, roster, list_assignments(root), args.format, cfg.lms_columns, args.per_exercise)
    write_export(out, text)
    for note in notes:
        print(f"  {note}")
    students = len(roster) if args.format != "csv" else len({s.student_id for s in roster} | {g.student for g in grades})
    late = sum(1 for g in grades if g.penalty)
    print(f"Wrote {out} ({args.format}): {students} student(s), {len({g.assignment for g in grades})} assignment(s), "
          f"final scores with {late} late penalt{'y' if late == 1 else 'ies'} applied.")
    return 0


def cmd_similarity(root, args):
    from autograder.similarity import DEFAULT_THRESHOLD, similarity_report, summary_line

    subs, out = Path(args.submissions), Path(args.out)
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    if not 0 < threshold <= 1:
        raise CourseError(f"--threshold {threshold:g} is not a share of code: give a number above 0 and at most 1, e.g. 0.7.")
    if not subs.is_dir():
        raise CourseError(f"{subs} is not a folder: give the folder that holds SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb.")
    if out.exists() and not out.is_dir():
        raise CourseError(f"{out} exists and is not a folder: give --out a folder for similarity.html.")
    if out.resolve() == subs.resolve() or subs.resolve() in out.resolve().parents:
        raise CourseError("--out must not be inside the submissions folder: give it the graded folder, for instance.")
    pairs = similarity_report(root, subs, out, threshold=threshold)
    print(summary_line(pairs))
    print(f"Wrote {out / 'similarity.html'}.")
    return 0


def cmd_check(root, args):
    from autograder import check_server
    from autograder.grading import check_notebook, report_lines
    from autograder.jail import Limits

    # this user's warm check server when one runs (the same check, without the start-up), else
    # the check here, which then leaves one behind for the next check (autograder/check_server.py)
    res = check_server.ask(root, args.notebook, args.isolation, Limits().notebook_s + 300) if check_server.enabled() else None
    if res is None:
        res = check_notebook(root, args.notebook, isolation=args.isolation)
        check_server.start(root, args.isolation)
    print("\n".join(report_lines(res)))
    return 0


def cmd_grade(root, args):
    from autograder.grading import grade_class

    try:
        results, skipped, reused = grade_class(root, args.submissions, args.out, workers=args.workers,
                                               dask_address=args.dask, options=_options(args),
                                               config_path=args.config)
    except KeyboardInterrupt:
        raise CourseError(f"interrupted; every submission graded so far is saved in {args.out}: run the same command again to grade the rest.") from None
    for line in skipped:
        print(f"skipped: {line}", file=sys.stderr)
    bad = sum(1 for r in results if r.problems)
    again = f", {reused} kept from an earlier run" if reused else ""
    html = " and summary.html" if (Path(args.out) / "summary.html").is_file() else ""
    print(f"Graded {len(results)} submission(s){again} ({bad} with problems, see report.txt); "
          f"wrote {Path(args.out) / 'grades.csv'}, feedback/, summary.txt{html}.")
    return 0


def cmd_demo(root, args):
    from autograder.demo import run_demo

    return run_demo(root, Path(args.out), workers=args.workers)


COMMANDS = {"lab": cmd_lab, "release": cmd_release, "check": cmd_check, "grade": cmd_grade, "demo": cmd_demo,
            "collect": cmd_collect, "export": cmd_export, "similarity": cmd_similarity}


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
