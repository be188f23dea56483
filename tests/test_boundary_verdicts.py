"""Every catalogued mistake scores the same through the grader's process boundary as in-process.

`course grade` runs a student's functions in a sandboxed process and the tests in its own,
passing plain data between them (autograder/wire.py). This checks, for every notebook's
mistake catalogue and the correct solutions, that the boundary changes no verdict: what the
in-process harness (tests/mistakes.py) calls a failure fails there too, and vice versa.
"""

import importlib
from pathlib import Path

import pytest

from mistakes import grade_in_process, remote_scores

pytestmark = pytest.mark.slow
CATALOGUES = sorted(p.stem for p in Path(__file__).parent.glob("test_mistakes_[0-9]*.py"))
# mistakes that draw from the operating system's entropy (np.random.default_rng(None)): the tests of
# other exercises that call them pass or fail by chance, in any process, so for these only the
# test that catches them is compared (it fails on every draw)
BY_CHANCE = {("test_mistakes_02", "shuffles even when rng is None"): "test_minibatches"}


@pytest.mark.parametrize("module", CATALOGUES)
def test_the_process_boundary_changes_no_verdict(module):
    mod = importlib.import_module(module)
    variants = [""] + [m[2] for m in mod.MISTAKES]
    remote = remote_scores(mod.NB, variants)
    names = ["the solution"] + [m[1] for m in mod.MISTAKES]
    differ = []
    for name, answer, (score, results) in zip(names, variants, remote):
        local, _, local_results = grade_in_process(mod.NB, answer)
        catcher = BY_CHANCE.get((module, name))
        if catcher is not None:
            if not (results.get(catcher) and local_results.get(catcher)):
                differ.append(f"{name}: {catcher} did not fail on both sides")
            continue
        if score != local:
            failed_here = {g for g, e in results.items() if e}
            failed_there = {g for g, m in local_results.items() if m}
            differ.append(f"{name}: {score:g} through the boundary, {local:g} in-process "
                          f"(fails {sorted(failed_here)} vs {sorted(failed_there)}; {[results[g] for g in failed_here ^ failed_there]})")
    assert not differ, "\n".join(differ)
