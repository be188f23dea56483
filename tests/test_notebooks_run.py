"""Every source notebook runs top to bottom in a plain kernel (not grading mode) without an error.

Timing is measured by benchmarks/notebook_times.py, not asserted here.
"""


import nbformat
import pytest
from nbclient import NotebookClient

from notebook_text import ROOT, SOURCE_NOTEBOOKS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=lambda p: p.parent.name)
def test_source_notebook_runs_without_errors(path, monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("COURSE_ROOT", str(ROOT))  # the kernel runs in tmp_path; data/ is the course's, as with `course lab`
    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [(i, o.ename, o.evalue) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: cells raised {errors}"
    widgets = [c for c in nb.cells if c.cell_type == "code"
               for o in c.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    if "widgets." in "".join(c.source for c in nb.cells):
        assert widgets, f"{path.name} builds explorers but none was displayed"
