"""``course demo``: an instructor's first five minutes, on a simulated class.

It releases the course, makes a class of six students for notebook 01 — a correct one, one
with a classic mistake, one who handed in the blank release, one whose file is not a notebook,
one who renamed the notebook, and one hostile submission that patches the test helpers and
tries to import the reference solutions — grades them in parallel in the sandbox, and prints
the grades and the class summary. Everything is written under ``--out`` (default
``./course-demo``), which it creates and may overwrite on a later run, but only if the folder
was made by the demo.
"""

import shutil
import time
from pathlib import Path

from autograder import CourseError
from autograder.course_dir import notebooks_of

MARKER = ".course-demo"
ASSIGNMENT = "01_gradient_descent"

HOSTILE_CELL = '''
import course_lib.checks as checks
for name in dir(checks):
    if name.startswith("check"):
        setattr(checks, name, lambda *a, **k: None)
try:
    from course_lib.solutions.descent import numerical_gradient, gradient_descent
except ImportError:
    print("the reference solutions are not here")
'''


def _class(source, blank):
    """``{student: (notebook file name, text)}`` for the simulated class."""
    mistake = source.replace("if loss < best - min_delta:", "if loss <= best - min_delta:")
    import nbformat

    nb = nbformat.reads(blank, as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first + 1, nbformat.v4.new_code_cell(HOSTILE_CELL.strip()))
    return {
        "ada_correct": (None, source),
        "ben_one_mistake": (None, mistake),
        "cat_blank": (None, blank),
        "dan_not_a_notebook": (None, "I could not finish, sorry! {"),
        "eve_hostile": (None, nbformat.writes(nb)),
        "fay_renamed": ("my_answers.ipynb", source),
    }


def run_demo(course_root, out, workers=None):
    from autograder.grading import Options, grade_class
    from autograder.release import release

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise CourseError(f"{out} exists and was not made by `course demo`: give --out a new folder.")
    for sub in ("release", "submissions", "grades"):
        shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by `course demo`; safe to delete\n")
    t0 = time.monotonic()

    print(f"1. Release: `course release --out {out / 'release'}` (no solutions, no hidden tests)")
    written = release(course_root, out / "release")
    print(f"   {len(written)} assignment(s) released.")

    name = notebooks_of(course_root, ASSIGNMENT)[0]
    source = (Path(course_root) / "notebooks" / ASSIGNMENT / f"{name}.ipynb").read_text(encoding="utf-8")
    blank = (out / "release" / ASSIGNMENT / f"{name}.ipynb").read_text(encoding="utf-8")
    students = _class(source, blank)
    print(f"2. A simulated class hands in {ASSIGNMENT}: {', '.join(students)}")
    for student, (file_name, text) in students.items():
        folder = out / "submissions" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / (file_name or f"{name}.ipynb")).write_text(text, encoding="utf-8")

    print(f"3. Grade in parallel, each submission in its own sandbox: `course grade {out / 'submissions'} --out {out / 'grades'}`")
    options = Options()
    try:
        from autograder.jail import namespaces_available

        if namespaces_available():
            print(f"   (this machine cannot sandbox: {namespaces_available()}; the demo grades without a sandbox)")
            options = Options(isolation="none")
    except ImportError:
        options = Options(isolation="none")
    results, skipped, _ = grade_class(course_root, out / "submissions", out / "grades", workers=workers, options=options)

    print("\n4. grades.csv")
    print((out / "grades" / "grades.csv").read_text(encoding="utf-8").rstrip())
    print("\n5. report.txt (one line per problem)")
    print((out / "grades" / "report.txt").read_text(encoding="utf-8").rstrip())
    print("\n6. summary.txt (pass rate and most common failure per exercise)")
    print((out / "grades" / "summary.txt").read_text(encoding="utf-8").rstrip())
    print(f"\nFeedback pages: {out / 'grades' / 'feedback'}/<student>/{ASSIGNMENT}/{name}.html")
    print(f"Done in {time.monotonic() - t0:.0f} s. Next: put your class's submissions in SUBMISSIONS/<student>/<assignment>/ "
          f"and run `./course grade SUBMISSIONS --out GRADES`.")
    return 0
