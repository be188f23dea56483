"""Reading the source notebooks' marked regions, for tests that look for leaks."""

import html
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOURCE_NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*/*.ipynb"))


def region_lines(nb_path, begin, end, min_len=12):
    """Distinctive lines between two markers: stripped, at least ``min_len`` characters, and not
    also written outside every marked region (a line the public part shows too is no leak)."""
    nb = nbformat.read(str(nb_path), as_version=4)
    inside_lines, outside, inside = [], set(), False
    for cell in nb.cells:
        for line in cell.source.splitlines():
            if "### BEGIN" in line:
                inside = True if begin in line else "other"
            elif "### END" in line:
                inside = False
            elif inside is True and len(line.strip()) >= min_len:
                inside_lines.append(line.strip())
            elif inside is False:
                outside.add(line.strip())
    public_text = "\n".join(outside)
    return [ln for ln in inside_lines if ln not in public_text]


def solution_lines(nb_path):
    return region_lines(nb_path, "BEGIN SOLUTION", "END SOLUTION")


def hidden_test_lines(nb_path):
    return region_lines(nb_path, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def public_test_lines(nb_path):
    nb = nbformat.read(str(nb_path), as_version=4)
    out = []
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            for line in cell.source.splitlines():
                if "BEGIN HIDDEN TESTS" in line:
                    break
                if line.strip().startswith("check_") and len(line.strip()) >= 12:
                    out.append(line.strip())
    return out


def html_text(path):
    """The visible text of an HTML page: tags removed (syntax highlighting too), entities decoded."""
    raw = Path(path).read_text(encoding="utf-8")
    raw = re.sub(r"<style.*?</style>|<script.*?</script>", "", raw, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


def notebook_text(path):
    nb = nbformat.read(str(path), as_version=4)
    return "\n".join(c.source for c in nb.cells)
