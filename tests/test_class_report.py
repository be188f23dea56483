"""graded/summary.html: a self-contained page with the class's histograms, pass rates, messages and late work."""

import base64
import datetime as dt
import re

from autograder.class_report import summary_html
from autograder.course_config import CourseConfig, LatePolicy
from autograder.final_grades import final_grade

UTC = dt.timezone.utc
DUE = dt.datetime(2026, 9, 14, 23, 59, tzinfo=UTC)


class R:
    def __init__(self, student, score, cells):
        self.student, self.assignment, self.score, self.max_score = student, "01_gradient_descent", score, 10
        self.cells, self.problems = cells, []


def _class():
    cfg = CourseConfig(late_policy=LatePolicy(percent_per_day=10), due={"01_gradient_descent": DUE})
    ok = ["01_gradient_descent", "test_gd_step", 1, 1, ""]
    wrong = ["01_gradient_descent", "test_gd_step", 0, 1, "gd_step(w, grad, 0.1) is wrong: you stepped uphill"]
    return [final_grade(R(f"s{i}", 10 if i % 3 else 9, [ok if i % 3 else wrong]), cfg, DUE - dt.timedelta(hours=1))
            for i in range(9)] + [
        final_grade(R("<img src=x onerror=alert(1)>", 4, [wrong]), cfg, DUE + dt.timedelta(hours=5))]


def test_the_page_holds_its_plots_as_images_that_decode():
    page = summary_html(_class())
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2                                   # histogram + pass rates
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    assert "default-src 'none'; img-src data:" in page       # nothing else may load
    assert "http://" not in page and "https://" not in page  # opens offline


def test_it_names_the_common_failures_and_the_late_work_escaped():
    page = summary_html(_class())
    assert "4 × gd_step(w, grad, 0.1) is wrong: you stepped uphill" in page
    assert "Late submissions" in page and "<td>5 hours</td>" in page and "10%" in page   # as the feedback says it
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "10 graded submission(s)" in page


def test_a_submission_seconds_late_is_not_shown_as_zero_hours():
    cfg = CourseConfig(late_policy=LatePolicy(percent_per_day=10), due={"01_gradient_descent": DUE})
    page = summary_html([final_grade(R("s1", 10, []), cfg, DUE + dt.timedelta(seconds=40))])
    assert "<td>less than a minute</td>" in page and "0.0 h" not in page
