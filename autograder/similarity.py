"""Similar solutions: per exercise, pairs of students whose code is unusually alike.

For each solution cell of each assignment (matched by its nbgrader ``grade_id``), every
student's code is fingerprinted with ``copydetect`` (the winnowing of MOSS: the code is
tokenized by Pygments, names become one token, comments and layout vanish, and k-grams of
the tokens are hashed). Fingerprints that the reference solution or the release's own lines
(the function's signature, ``# YOUR CODE HERE``) also have are boilerplate and never count,
so a short correct answer that everyone writes alike is no flag. A pair is reported when both
students' remaining overlap is at least ``threshold`` of their code and the overlap spans at
least ``min_tokens`` tokens.

The report (``similarity.html``) shows each flagged pair's code side by side, the shared
parts marked, escaped (students wrote it), with no script. It informs the instructor; it never
changes a grade.
"""

import html
import io
import itertools
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

DEFAULT_K = 15             # tokens per fingerprinted k-gram
DEFAULT_WINDOW = 4         # winnowing window
DEFAULT_THRESHOLD = 0.7    # share of each one's (non-boilerplate) code that the other has too
DEFAULT_MIN_TOKENS = 40    # shorter overlaps are not reported
MAX_CODE_CHARS = 20_000    # a solution cell longer than this is cut for the comparison


@dataclass
class Pair:
    assignment: str
    exercise: str
    students: tuple          # (a, b)
    similarity: tuple        # (share of a's code, share of b's code)
    tokens: int              # tokens in common
    code: tuple              # (a's code, b's code)
    slices: tuple            # ([(start, end)], [(start, end)]) of the shared parts in each code


def _strip_markers(code):
    return "\n".join(ln for ln in code.splitlines() if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln)


def solution_cells(nb):
    """``{grade_id: source}`` of a notebook's solution cells."""
    out = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and isinstance(meta, dict) and meta.get("solution") and isinstance(meta.get("grade_id"), str):
            out[meta["grade_id"]] = str(cell.get("source", ""))[:MAX_CODE_CHARS]
    return out


def _fingerprint(name, code, boilerplate=()):
    from copydetect import CodeFingerprint

    return CodeFingerprint(f"{name}.py", DEFAULT_K, DEFAULT_WINDOW, boilerplate=list(boilerplate), fp=io.StringIO(code))


def similar_pairs(codes, reference_codes, assignment, exercise, threshold=DEFAULT_THRESHOLD, min_tokens=DEFAULT_MIN_TOKENS):
    """The flagged pairs among ``codes`` (``{student: code}``) for one exercise; ``reference_codes``
    (the reference solution, the release's stub) are boilerplate."""
    from copydetect import compare_files

    boiler = set()
    for i, ref in enumerate(reference_codes):
        boiler |= set(_fingerprint(f"reference{i}", _strip_markers(ref)).hashes)
    prints = {}
    for student, code in codes.items():
        if code.strip():
            prints[student] = _fingerprint("student", code, boiler)
    pairs = []
    for a, b in itertools.combinations(sorted(prints), 2):
        fa, fb = prints[a], prints[b]
        if not fa.hashes or not fb.hashes:
            continue
        tokens, (sa, sb), (slices_a, slices_b) = compare_files(fa, fb)
        if tokens >= min_tokens and min(sa, sb) >= threshold:
            pairs.append(Pair(assignment, exercise, (a, b), (float(sa), float(sb)), int(tokens), (codes[a], codes[b]),
                              (list(zip(*map(list, slices_a))), list(zip(*map(list, slices_b))))))
    return sorted(pairs, key=lambda p: -min(p.similarity))


def class_pairs(notebooks_by_student, source_nb, release_nb, assignment, **kw):
    """Every flagged pair of one notebook of ``assignment``: ``notebooks_by_student`` maps a
    student to their parsed notebook; ``source_nb``/``release_nb`` are the course's."""
    reference = solution_cells(source_nb)
    stubs = solution_cells(release_nb)
    pairs = []
    for gid in reference:
        codes = {s: solution_cells(nb).get(gid, "") for s, nb in notebooks_by_student.items()}
        pairs += similar_pairs(codes, [reference[gid], stubs.get(gid, "")], assignment, gid, **kw)
    return pairs


def _marked(code, slices):
    out, at = [], 0
    for start, end in sorted(slices):
        start, end = max(int(start), at), min(int(end), len(code))
        if start >= end:
            continue
        out.append(html.escape(code[at:start]))
        out.append(f"<mark>{html.escape(code[start:end])}</mark>")
        at = end
    out.append(html.escape(code[at:]))
    return "".join(out)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Similar solutions</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table.pair {{ width: 100%; border-collapse: collapse; margin-bottom: 2em; table-layout: fixed; }}
table.pair td {{ vertical-align: top; border: 1px solid #ccc; padding: 0.5em; }}
pre {{ white-space: pre-wrap; font-size: 0.85em; margin: 0; }}
mark {{ background: #ffe08a; }}
.note {{ color: #555; }}
</style></head><body>
<h1>Similar solutions</h1>
<p class="note">Pairs of students whose solution to one exercise share at least {threshold:.0%} of their code after
names, comments and layout are set aside, not counting what the reference solution and the release's own lines
contain. Similar code can have innocent causes; this informs, it never changes a grade.</p>
{body}
</body></html>
"""


def report_html(pairs, threshold=DEFAULT_THRESHOLD):
    if not pairs:
        body = "<p>No pair of solutions is unusually alike.</p>"
    else:
        parts = []
        for p in pairs:
            a, b = (html.escape(s) for s in p.students)
            parts.append(
                f"<h2>{html.escape(p.assignment)} · {html.escape(p.exercise)}: {a} and {b}</h2>"
                f"<p>{p.similarity[0]:.0%} of {a}'s code and {p.similarity[1]:.0%} of {b}'s, {p.tokens} tokens in common.</p>"
                f"<table class=\"pair\"><tr><td><strong>{a}</strong><pre>{_marked(p.code[0], p.slices[0])}</pre></td>"
                f"<td><strong>{b}</strong><pre>{_marked(p.code[1], p.slices[1])}</pre></td></tr></table>")
        body = "\n".join(parts)
    return PAGE.format(threshold=threshold, body=body)


def summary_line(pairs):
    if not pairs:
        return "similarity: no pair of solutions is unusually alike"
    per = {}
    for p in pairs:
        per.setdefault((p.assignment, p.exercise), 0)
        per[(p.assignment, p.exercise)] += 1
    listed = ", ".join(f"{a} {e} ({n})" for (a, e), n in sorted(per.items()))
    return f"similarity: {len(pairs)} pair(s) of similar solutions: {listed}"


def _stub(source):
    """The release's version of a solution cell: what nbgrader's ClearSolutions leaves."""
    out, inside = [], False
    for line in source.splitlines():
        if "### BEGIN SOLUTION" in line:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
        elif "### END SOLUTION" in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def similarity_report(course_root, submissions_dir, out_dir, threshold=DEFAULT_THRESHOLD, min_tokens=DEFAULT_MIN_TOKENS):
    """Compare every exercise's solutions across the class; write ``out_dir/similarity.html``.
    Returns the flagged pairs."""
    from autograder.course_dir import list_assignments, notebooks_of
    from autograder.submissions import collect

    root = Path(course_root)
    expected = {a: notebooks_of(root, a) for a in list_assignments(root)}
    subs, _ = collect(submissions_dir, expected)
    pairs = []
    for a, names in expected.items():
        for name in names:
            source = nbformat.read(str(root / "notebooks" / a / f"{name}.ipynb"), as_version=4)
            reference = solution_cells(source)
            by_student = {}
            for sub in subs:
                data = sub.notebooks.get(name) if sub.assignment == a else None
                if isinstance(data, bytes):
                    try:
                        by_student[sub.student] = nbformat.reads(data.decode("utf-8"), as_version=4)
                    except Exception:
                        continue
            if len(by_student) < 2:
                continue
            for gid, ref in reference.items():
                codes = {s: solution_cells(nb).get(gid, "") for s, nb in by_student.items()}
                pairs += similar_pairs(codes, [ref, _stub(ref)], a, gid, threshold=threshold, min_tokens=min_tokens)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".similarity.html.")   # 0600, as grades.csv: it shows students' code by name
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(report_html(pairs, threshold))
    os.replace(tmp, out / "similarity.html")
    return pairs
