"""``graded/summary.html``: the class at a glance, one self-contained page that opens offline.

Per assignment: a histogram of the final scores, each exercise's pass rate as a bar chart,
the most common failure messages per exercise, and the late submissions with what they cost.
The plots are drawn with matplotlib and embedded as PNG ``data:`` images; every text on the
page is escaped (students' ids and the messages their code caused are student-controlled), and
the page's Content-Security-Policy lets nothing but those images and its own style load.
"""

import base64
import html
import io
from collections import Counter, defaultdict

from autograder.deadlines import _span

MAX_MESSAGES = 3
MAX_MESSAGE_CHARS = 200


def _fmt(x):
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _png(fig):
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _histogram(scores, max_score, title):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(4.6, 2.6))
    bins = min(20, max(5, int(max_score) + 1)) if max_score > 0 else 5
    ax.hist(scores, bins=bins, range=(0, max(max_score, 1e-9)), color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"final score (of {_fmt(max_score)})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))     # a count of students has no halves
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _pass_rates(names, rates, title):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 0.4 * len(names) + 0.9))
    y = range(len(names))
    ax.barh(list(y), [100 * r for r in rates], color=["#55a868" if r >= 0.7 else "#dd8452" if r >= 0.4 else "#c44e52" for r in rates])
    ax.set_yticks(list(y), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("passed by (% of submissions)")
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 70em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.plots { display: flex; flex-wrap: wrap; gap: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; font-size: 0.9em; }
.muted { color: #666; }
"""


def summary_html(grades, problems=()):
    """The page for a list of :class:`autograder.final_grades.FinalGrade`."""
    e = html.escape
    by_a = defaultdict(list)
    for g in grades:
        by_a[g.assignment].append(g)
    parts = [f"<h1>Class summary</h1><p>{len(grades)} graded submission(s) of {len({g.student for g in grades})} "
             f"student(s), {len(by_a)} assignment(s).</p>"]
    if problems:
        parts.append("<p>Not graded: " + "; ".join(e(str(p)) for p in problems[:20])
                     + (f" and {len(problems) - 20} more" if len(problems) > 20 else "") + ".</p>")
    for a in sorted(by_a):
        rs = by_a[a]
        mx = max(g.max_score for g in rs)
        mean = sum(g.score for g in rs) / len(rs)
        parts.append(f"<h2>{e(a)}</h2><p>{len(rs)} submission(s), mean final score {_fmt(mean)} / {_fmt(mx)}, "
                     f"{sum(1 for g in rs if g.score >= g.max_score > 0)} with full marks.</p>")
        ids = list(dict.fromkeys(c[1] for g in rs for c in g.cells))
        rates, messages = [], {}
        for gid in ids:
            entries = [next((c for c in g.cells if c[1] == gid), None) for g in rs]
            rates.append(sum(1 for c in entries if c is not None and c[2] >= c[3]) / len(entries))
            messages[gid] = Counter(str(c[4])[:MAX_MESSAGE_CHARS] for c in entries if c is not None and c[4]).most_common(MAX_MESSAGES)
        plots = [f"<img alt=\"histogram of the final scores of {e(a)}\" src=\"{_histogram([g.score for g in rs], mx, 'final scores')}\">"]
        if ids:
            plots.append(f"<img alt=\"pass rate per exercise of {e(a)}\" src=\"{_pass_rates(ids, rates, 'pass rate per exercise')}\">")
        parts.append("<div class=\"plots\">" + "".join(plots) + "</div>")
        rows = []
        for gid, rate in zip(ids, rates):
            common = "<br>".join(f"{n} × {e(m)}" for m, n in messages[gid]) or "<span class=\"muted\">no failures</span>"
            rows.append(f"<tr><td>{e(gid)}</td><td>{100 * rate:.0f}%</td><td>{common}</td></tr>")
        if rows:
            parts.append("<table><tr><th>exercise</th><th>passed</th><th>most common failure messages</th></tr>"
                         + "".join(rows) + "</table>")
        late = [g for g in rs if g.late_by.total_seconds() > 0]
        if late:
            parts.append("<p><strong>Late submissions</strong></p><table><tr><th>student</th><th>late by</th>"
                         "<th>deducted</th><th>final score</th></tr>" + "".join(
                             f"<tr><td>{e(g.student)}</td><td>{_span(g.late_by)}</td>"
                             f"<td>{_fmt(g.penalty)}%</td><td>{_fmt(g.score)} / {_fmt(g.max_score)}</td></tr>" for g in late)
                         + "</table>")
        else:
            parts.append("<p class=\"muted\">No late submissions.</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
            f"<title>Class summary</title><style>{STYLE}</style></head><body>" + "\n".join(parts) + "</body></html>\n")
