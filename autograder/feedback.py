"""What a student is shown after grading: the score and the failure message of each test cell.

Hidden tests are cut from the feedback notebook with nbgrader's ``ClearHiddenTests``; a
traceback would still quote the hidden lines it passed through, so :class:`ShortenTracebacks`
replaces every traceback with its last line, ``ErrorName: message``. The messages our checks
raise (:mod:`course_lib.checks`) say what is wrong, so nothing useful is lost.

The page is opened by the student and the instructor, and a student writes much of it: their
markdown, their code, what their code prints. Nothing of that may run or forge anything there,
so the page is made safe twice:

* when it is written, :class:`SafeCells` makes every markdown or raw cell that is not the
  instructor's (word for word a markdown cell of the source notebook) a cell of plain text, keeps
  of each output only its text and PNG/JPEG images (no HTML, JavaScript, SVG or markdown
  output, no output metadata, no attachments, no notebook metadata such as widget state), and
  caps what is shown: :data:`MAX_CELL_CHARS` characters per cell source, per output and for all
  outputs of one cell together, and :data:`MAX_NOTEBOOK_CHARS` for all cells that are not graded
  cells, each cell and output counted as at least :data:`CELL_CHARGE` (a page of many empty cells
  is still many tags), with a note where something was cut (the graded cells are always shown,
  each capped); then
  :func:`notebook_html` writes the HTML itself: only the instructor's markdown is rendered (by
  mistune, as nbconvert does), every other text, code, output and error line is escaped, and an
  image is shown only when it is base64 of a PNG or JPEG;
* after, when the page is saved, :func:`safe_page` keeps only the body of that HTML and
  writes it again with only allowed tags and attributes (``class``, a link's http(s) or ``#``
  ``href``, an image's ``data:image/png|jpeg|gif`` ``src``, plain anchor ids), every
  ``script``, ``style``, ``iframe``, ``svg``... element left out with its content, each block
  cut at :data:`MAX_BLOCK_BYTES` and the whole at :data:`MAX_PAGE_BYTES` (with a note); then
  ``bleach`` sanitizes it with the same allowlist, and it goes into a page of our own whose
  Content-Security-Policy allows no script, frame, form, remote resource or inline style but
  our one style sheet.

Mathematics is shown as its LaTeX source: the page loads no MathJax (no script runs in it).
"""

import base64
import functools
import hashlib
import html
import re
from html.parser import HTMLParser
from pathlib import Path

import bleach
import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Integer, Unicode

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_MESSAGE = 500

MAX_CELL_CHARS = 20_000          # per cell source or output shown
MAX_NOTEBOOK_CHARS = 200_000     # all sources and outputs of the cells that are not graded cells
MAX_IMAGE_BYTES = 2 * 2**20      # all images of a notebook (base64)
MAX_BLOCK_BYTES = 300_000        # HTML of one block (a code listing, an output, a paragraph)
MAX_PAGE_BYTES = 4 * 2**20       # HTML of the notebook part of the page
CELL_CHARGE = 200                # characters each cell and output counts for at least (an empty one is still tags)


def error_message(output):
    """One line for an error output: ``ErrorName: message`` without colour codes, at most 500 characters."""
    ename = ANSI.sub("", str(output.get("ename", "Error")))
    evalue = ANSI.sub("", str(output.get("evalue", ""))).strip()
    if not evalue:
        evalue = {"AssertionError": "a test failed without a message",
                  "NotImplementedError": "not written yet: replace `raise NotImplementedError()` with your code"}.get(ename, "(no message)")
    line = f"{ename}: {evalue}"
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "\u2026"


class ShortenTracebacks(Preprocessor):
    """Replace each error output's traceback with its one-line message."""

    enabled = Bool(True).tag(config=True)  # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [error_message(out)]
        return cell, resources


# -- cells fit to show ----------------------------------------------------------------------

_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
_IMAGES = ("image/png", "image/jpeg")


def _cut(text, limit, what):
    """``text`` shortened to ``limit`` characters, with a note saying so."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[\u2026 cut: {what} has {len(text):,} characters; the feedback shows the first {limit:,}]\n"


def _grade_id(cell):
    meta = cell.get("metadata", {}).get("nbgrader")
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else None


class SafeCells(Preprocessor):
    """Make a notebook fit to show in feedback: student text as text, outputs as text and images, all capped."""

    enabled = Bool(True).tag(config=True)
    source_dir = Unicode("", help="the staging course's source/ folder (the instructor's notebooks)").tag(config=True)
    cell_chars = Integer(MAX_CELL_CHARS).tag(config=True)
    notebook_chars = Integer(MAX_NOTEBOOK_CHARS).tag(config=True)
    image_bytes = Integer(MAX_IMAGE_BYTES).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._read = {}   # (path, mtime, size) of a source notebook -> its markdown texts and grade ids

    def _source_path(self, resources):
        info = resources.get("nbgrader", {})
        root = self.source_dir
        if not root:  # nbgrader's layout: the gradebook lies in the course directory, next to source/
            db = str(info.get("db_url", ""))
            root = str(Path(db.removeprefix("sqlite:///")).parent / "source") if db.startswith("sqlite:///") else ""
        return Path(root) / str(info.get("assignment", "")) / f"{info.get('notebook', '')}.ipynb" if root else None

    def _instructor(self, resources):
        """The source notebook's markdown texts and grade ids (none without it), read once per version of the file."""
        path = self._source_path(resources)
        try:
            st = path.stat() if path is not None else None
            key = (str(path), st.st_mtime_ns, st.st_size) if st is not None else None
            if key is not None and key not in self._read:
                source = nbformat.read(str(path), as_version=4)
                self._read[key] = (frozenset(c.source for c in source.cells if c.cell_type == "markdown"),
                                   frozenset({_grade_id(c) for c in source.cells} - {None}))
        except (OSError, ValueError):
            key = None
        return self._read.get(key, (frozenset(), frozenset()))

    def preprocess(self, nb, resources):
        self.known_text, self.graded = self._instructor(resources)
        self.room, self.image_room = self.notebook_chars, self.image_bytes
        nb.metadata = nbformat.from_dict({"language_info": {"name": "python"}})   # no widget state, no student title
        cells, note, hidden = [], None, 0
        for cell in nb.cells:
            if self.room <= 0 and not self._always_shown(cell):   # a run of cells past the budget: one note
                hidden = hidden + 1 if note is not None else 1
                if note is None:
                    note = nbformat.v4.new_markdown_cell("")
                    cells.append(note)
                note.source = (f"[\u2026 {hidden} cell{'s' * (hidden > 1)} not shown here: the feedback shows at most "
                               f"{self.notebook_chars:,} characters of a notebook's cells that are not graded cells]")
                continue
            note = None
            shown = self._always_shown(cell)
            self._cell(cell)
            if not shown:
                self.room -= CELL_CHARGE
            cells.append(cell)
        nb.cells = cells
        return nb, resources

    def _always_shown(self, cell):
        return _grade_id(cell) in self.graded or (cell.cell_type == "markdown" and cell.source in self.known_text)

    def _take(self, text, graded, what):
        """``text`` capped per cell and, for cells that are not graded cells, from the notebook's budget."""
        text = _cut(text, self.cell_chars, what)
        if graded:
            return text
        if self.room <= 0:
            return f"[\u2026 not shown: the feedback shows at most {self.notebook_chars:,} characters of a notebook's cells]"
        text = _cut(text, self.room, what)
        self.room -= len(text)
        return text

    def _cell(self, cell):
        cell.pop("attachments", None)
        if cell.cell_type == "markdown" and cell.source in self.known_text:
            return
        graded = self._always_shown(cell)
        if cell.cell_type != "code":  # a student's markdown or raw cell: a raw cell of its text, shown as text
            cell.cell_type = "raw"
            cell.pop("outputs", None), cell.pop("execution_count", None)
            cell.metadata.pop("format", None), cell.metadata.pop("raw_mimetype", None)
            cell.source = self._take(str(cell.source), graded, "this cell")
            return
        cell.source = self._take(str(cell.source), graded, "this cell")
        outputs, room = [], self.cell_chars   # all outputs of one cell together, a graded cell's too, are capped
        for o in cell.get("outputs", []):
            if room <= 0:
                outputs.append(nbformat.v4.new_output("stream", name="stdout", text=(
                    f"[\u2026 more outputs not shown: the feedback shows about {self.cell_chars:,} characters of a cell's outputs]")))
                break
            out = self._output(o, graded)
            if out is not None:
                outputs.append(out)
                room -= CELL_CHARGE + sum(len(str(out.get(k, ""))) for k in ("text", "ename", "evalue")) + len(
                    str(out.get("data", {}).get("text/plain", "")))
                self.room -= 0 if graded else CELL_CHARGE
        cell.outputs = outputs

    def _output(self, out, graded):
        kind = out.get("output_type")
        if kind == "stream":
            return nbformat.v4.new_output("stream", name="stderr" if out.get("name") == "stderr" else "stdout",
                                          text=self._take(str(out.get("text", "")), graded, "this output"))
        if kind == "error":
            return nbformat.v4.new_output("error", ename=self._take(str(out.get("ename", "Error")), graded, "this name"),
                                          evalue=self._take(str(out.get("evalue", "")), graded, "this message"),
                                          traceback=[self._take("\n".join(map(str, out.get("traceback", []))), graded, "this traceback")])
        if kind not in ("execute_result", "display_data"):
            return None
        data, kept = out.get("data", {}), {}
        for mime in _IMAGES:
            image = data.get(mime)
            if isinstance(image, str) and _BASE64.fullmatch(image) and len(image) <= self.image_room:
                self.image_room -= len(image)
                kept[mime] = image
                break
        text = data.get("text/plain")
        if isinstance(text, str):
            kept["text/plain"] = self._take(text, graded, "this output")
        elif not kept:
            dropped = ", ".join(sorted(str(m)[:80] for m in data)[:3]) or "no data"
            kept["text/plain"] = f"[an output of type {dropped} is not shown: the feedback shows text and PNG/JPEG images only]"
        if kind == "execute_result":
            count = out.get("execution_count")
            return nbformat.v4.new_output("execute_result", data=kept, execution_count=count if type(count) is int else None)
        return nbformat.v4.new_output("display_data", data=kept)


# -- the notebook part of the page, written by the grader ---------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}


def _text(text):
    """``text`` as HTML text: colour codes and control characters removed, ``<&>"'`` escaped."""
    text = _CONTROL.sub("", ANSI.sub("", str(text)))
    return html.escape(text.encode("utf-8", "replace").decode("utf-8"))   # a lone surrogate: "?", the page still saves


@functools.lru_cache(maxsize=1024)
def instructor_markdown(text):
    """An instructor's markdown cell as HTML, by the renderer nbconvert uses (mistune); LaTeX stays
    its source. Cached: every student's page shows the same cells."""
    from nbconvert.filters.markdown import markdown2html

    try:
        return markdown2html(text)
    except Exception:  # noqa: BLE001 - say a link to a missing attachment: the text is still worth showing
        return f"<pre>{_text(text)}</pre>"


def _image(mime, data):
    """An ``<img>`` of a PNG or JPEG output, or ``""`` when ``data`` is not base64 of such an image."""
    if not isinstance(data, str):
        return ""
    packed = "".join(data.split())
    try:
        raw = base64.b64decode(packed, validate=True)
    except ValueError:
        return ""
    if not raw.startswith(_MAGIC[mime]):
        return ""
    return f"<img alt=\"an output image\" src=\"data:{mime};base64,{packed}\">"


def _output_html(out):
    kind = out.get("output_type")
    if kind == "stream":
        err = " nb-stderr" if out.get("name") == "stderr" else ""
        return f"<pre class=\"nb-output{err}\">{_text(out.get('text', ''))}</pre>"
    if kind == "error":   # its one line, never a traceback
        return f"<pre class=\"nb-output nb-error\">{_text(error_message(out))}</pre>"
    if kind not in ("execute_result", "display_data"):
        return ""
    data = out.get("data", {})
    image = next((img for img in (_image(m, data.get(m)) for m in _IMAGES) if img), "")
    if image:
        return f"<div class=\"nb-output\">{image}</div>"
    text = data.get("text/plain")
    return f"<pre class=\"nb-output\">{_text(text)}</pre>" if isinstance(text, str) else ""


def _cell_html(cell, instructor, scores):
    kind, source = cell.get("cell_type"), cell.get("source", "")
    source = source if isinstance(source, str) else "".join(map(str, source))
    if kind == "markdown" and source in instructor:
        return f"<div class=\"nb-cell nb-markdown\">\n{instructor_markdown(source)}\n</div>"
    if kind != "code":   # a student's text, or a note of the grader's
        if kind == "markdown":
            return f"<p class=\"nb-note\">{_text(source)}</p>"
        return ("<div class=\"nb-cell nb-text\"><p class=\"nb-label\">Text written in the notebook, shown as plain text:</p>"
                f"<pre>{_text(source)}</pre></div>")
    parts = ["<div class=\"nb-cell nb-code\">"]
    gid = _grade_id(cell)
    if gid in scores:
        score, max_score = scores[gid]
        mark = "nb-pass" if score >= max_score else "nb-fail"
        parts.append(f"<p class=\"nb-score {mark}\">Test <code>{_text(gid)}</code>: {_num(score)} / {_num(max_score)} points</p>")
    count = cell.get("execution_count")
    prompt = f"In [{count}]:" if type(count) is int else "In [ ]:"
    parts.append(f"<pre class=\"nb-input\"><span class=\"nb-prompt\">{prompt}</span>\n<code>{_text(source)}</code></pre>")
    parts += [h for h in map(_output_html, cell.get("outputs", [])) if h]
    parts.append("</div>")
    return "\n".join(parts)


def notebook_html(nb, instructor=frozenset(), scores=None):
    """The notebook part of a feedback page: each cell of ``nb`` (made fit to show by
    :class:`SafeCells`) in order, as HTML.

    ``instructor``: the instructor's markdown texts (a markdown cell with one of them is rendered
    from markdown); every other text, the code, what it printed and each error's one line are
    escaped; of the rich outputs only PNG/JPEG images that are base64 of such an image are shown.
    ``scores``: ``{grade_id: (score, max_score)}``, shown above each graded cell. The result is
    still made safe by :func:`safe_page` before it is saved."""
    scores = scores or {}
    return "\n".join(_cell_html(cell, instructor, scores) for cell in nb.get("cells", []))


# -- when the page is saved: made safe again ------------------------------------------------

ALLOWED_TAGS = {"a", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em", "h1", "h2",
                "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "samp", "small", "span",
                "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul"}
DROPPED_WITH_CONTENT = {"script", "style", "template", "iframe", "frame", "frameset", "object", "embed", "applet",
                        "noscript", "noembed", "noframes", "textarea", "title", "head", "svg", "math", "select",
                        "xmp", "plaintext", "video", "audio", "canvas", "form", "button", "input"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
BLOCKS = {"pre", "p", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "div", "dd", "dt"}
_CLASS = re.compile(r"[A-Za-z0-9_ -]*")
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*")
_ANCHOR = re.compile(r"[A-Za-z0-9_.:%=-]{1,200}")
_SAFE_HREF = re.compile(r"(https?://|mailto:|#)[^\s\"'<>`]*", re.I)
OURS = "grader-"   # the class prefix of what the grader writes on the page; never allowed in the notebook part


def _allowed_attribute(tag, name, value):
    if name == "class":
        return bool(_CLASS.fullmatch(value)) and OURS not in value
    if tag == "a" and name == "href":
        return bool(_SAFE_HREF.fullmatch(value))
    if tag == "img" and name == "src":
        return bool(_DATA_IMAGE.fullmatch(value))
    if tag == "img" and name == "alt":
        return True
    if name == "id" or tag == "a" and name == "name":   # anchors: nbgrader's table of contents, headings
        return bool(_ANCHOR.fullmatch(value))
    if tag in ("td", "th") and name in ("colspan", "rowspan"):
        return value.isdigit() and len(value) < 4
    return False


_CLEANER = bleach.Cleaner(tags=ALLOWED_TAGS, attributes=_allowed_attribute, protocols={"http", "https", "mailto", "data"},
                          strip=True, strip_comments=True)


class _Bounded(HTMLParser):
    """HTML written again with only the allowed tags and attributes, each block and the whole
    capped, and scripts, styles, frames and the like left out with their content."""

    def __init__(self, block_bytes, page_bytes):
        super().__init__(convert_charrefs=True)
        self.block_bytes, self.page_bytes = block_bytes, page_bytes
        self.out, self.size, self.full = [], 0, False
        self.stack = []   # [tag, bytes written inside] of each open element written
        self.skip = None  # [tag, depth, note]: everything up to this element's end is left out;
        #                   note: what to write before its end tag (a cut block), or None (dropped)

    def _block(self):
        return next((e for e in reversed(self.stack) if e[0] in BLOCKS), None)

    def _write(self, text, in_block=True):
        self.out.append(text)
        self.size += len(text)
        block = self._block() if in_block else None
        if block is not None:
            block[1] += len(text)
        if self.size > self.page_bytes:
            self.full = True

    def _cut_block(self):
        """The innermost block is over its cap: close what is open inside it and leave out the rest of it."""
        i = max(k for k, e in enumerate(self.stack) if e[0] in BLOCKS)
        tag, inner = self.stack[i][0], self.stack[i + 1:]
        del self.stack[i + 1:]
        for e in reversed(inner):
            self._write(f"</{e[0]}>", in_block=False)
        note = f"\n[\u2026 cut here: the feedback shows about {self.block_bytes // 1000:,} kB of each block]"
        self.skip = [tag, 1 + sum(e[0] == tag for e in inner), note]

    def handle_starttag(self, tag, attrs):
        if self.full:
            return
        if self.skip:
            if tag == self.skip[0] and tag not in VOID:
                self.skip[1] += 1
            return
        if tag in DROPPED_WITH_CONTENT:
            if tag not in VOID:
                self.skip = [tag, 1, None]
            return
        if tag not in ALLOWED_TAGS:
            return  # the tag goes, its content stays
        text = "<" + tag + "".join(f' {k}="{html.escape(v, quote=True)}"' for k, v in attrs
                                   if v is not None and _allowed_attribute(tag, k, v)) + ">"
        if tag == "img":
            if len(text) > self.page_bytes - self.size:
                text = "[an image is not shown: the page is full]"
            self._write(text, in_block=False)
            return
        block = self._block()
        if block is not None and block[1] + len(text) > self.block_bytes:
            self._cut_block()
            if tag == self.skip[0] and tag not in VOID:
                self.skip[1] += 1
            return
        self._write(text)
        if tag not in VOID:
            self.stack.append([tag, 0])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)   # as browsers do: <div/> opens a div

    def handle_endtag(self, tag):
        if self.full:
            return
        if self.skip:
            if tag == self.skip[0]:
                self.skip[1] -= 1
                if self.skip[1] == 0:
                    note, self.skip = self.skip[2], None
                    if note:
                        self._write(note, in_block=False)
                        self._close(tag)
            return
        self._close(tag)

    def _close(self, tag):
        if not any(e[0] == tag for e in self.stack):
            return
        while self.stack:
            name = self.stack.pop()[0]
            self._write(f"</{name}>", in_block=False)
            if name == tag:
                break

    def handle_data(self, data):
        if self.full or self.skip:
            return
        block = self._block()
        room = self.block_bytes - block[1] if block is not None else len(data)
        if len(data) <= room:
            self._write(html.escape(data, quote=False))
            return
        self._write(html.escape(data[: max(room, 0)], quote=False))
        self._cut_block()

    def text(self):
        closing = "".join(f"</{e[0]}>" for e in reversed(self.stack))
        note = (f"<p>[\u2026 the rest of the notebook is not shown: the feedback shows about {self.page_bytes // 2**20} MB "
                "of it; the scores at the top are complete]</p>") if self.full else ""
        return "".join(self.out) + closing + note


def bounded_html(text, block_bytes=MAX_BLOCK_BYTES, page_bytes=MAX_PAGE_BYTES):
    """``text`` (HTML) re-written with every block cut at ``block_bytes`` and the whole at about
    ``page_bytes``, scripts, styles, frames and the like removed with their content."""
    parser = _Bounded(block_bytes, page_bytes)
    for i in range(0, len(text), 1 << 16):
        parser.feed(text[i:i + (1 << 16)])
        if parser.full:
            break
    if not parser.full:
        parser.close()
    return parser.text()


def sanitize_html(text):
    """The notebook part of a page, safe to show: bounded, then sanitized by ``bleach``."""
    return _CLEANER.clean(bounded_html(text))


def _css():
    from pygments.formatters import HtmlFormatter

    own = (Path(__file__).with_name("feedback.css")).read_text(encoding="utf-8")
    return own + "\n" + HtmlFormatter(style="default").get_style_defs(".highlight") + "\n"


CSS = _css()
CSP = ("default-src 'none'; img-src data:; style-src 'sha256-"
       + base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode("ascii")
       + "'; base-uri 'none'; form-action 'none'")   # (frame-ancestors is ignored in a meta tag)


def page_html(title, header, body):
    """A feedback page of our own: ``header`` (HTML the grader wrote) above ``body`` (already safe)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
            "<meta name=\"referrer\" content=\"no-referrer\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(_one_line(title))}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<header class=\"grader-header\">{header}</header>\n"
            f"<main class=\"grader-notebook\">\n{body}\n</main>\n</body>\n</html>\n")


_BODY = re.compile(r"<body\b[^>]*>", re.I)


def safe_page(page, title, header):
    """A page of :func:`notebook_html`'s HTML (or any HTML page), made safe to open: its body bounded and
    sanitized, in :func:`page_html`."""
    m = _BODY.search(page)
    return page_html(title, header, sanitize_html(page[m.end():] if m else page))


def summary_html(res, problems_html):
    """The grader's part of a page: score, each test cell's result and message, the problems."""
    rows = "".join(
        f"<tr class=\"{'grader-pass' if score >= max_score else 'grader-fail'}\"><td>{'&#10004;' if score >= max_score else '&#10008;'}</td>"
        f"<td><code>{html.escape(str(gid))}</code></td><td>{_num(score)} / {_num(max_score)}</td><td>{html.escape(_one_line(msg))}</td></tr>"
        for _nb, gid, score, max_score, msg in res.cells)
    parts = [f"<h1>{html.escape(_one_line(res.assignment))}</h1>",
             f"<p class=\"grader-score\">Score: <b>{_num(res.score)} / {_num(res.max_score)}</b></p>"]
    if rows:
        parts.append(f"<table class=\"grader-cells\"><thead><tr><th></th><th>test</th><th>points</th><th>message</th></tr></thead><tbody>{rows}</tbody></table>")
    if problems_html:
        parts.append(f"<div class=\"grader-problems\"><b>Problems with this submission</b><ul>{problems_html}</ul></div>")
    parts.append("<p class=\"grader-note\">Below: the notebook as graded. Hidden tests are cut, tracebacks are reduced to "
                 "their message, text written in the notebook is shown as plain text and long cells or outputs are cut; "
                 "no script runs in this page.</p>")
    return "\n".join(parts)


def _num(x):
    return f"{float(x):.2f}".rstrip("0").rstrip(".")


def _one_line(text):
    from autograder.shown import one_line

    return one_line(text)


def grade_cells(nb):
    """``[(grade_id, points), ...]`` of the autograded test cells, in notebook order."""
    cells = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            cells.append((meta["grade_id"], float(meta.get("points", 0))))
    return cells


def cell_messages(nb_path, kind="grade"):
    """``{grade_id: message}`` for the cells of an executed notebook that raised an error.

    ``kind="grade"`` looks at the test cells, ``kind="solution"`` at the cells students write in
    (an error there, say a SyntaxError, is the real cause of the NameErrors in the tests after it).
    """
    nb = nbformat.read(str(nb_path), as_version=4)
    messages = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get(kind):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                messages[meta["grade_id"]] = error_message(out)
                break
    return messages


def order_of(nb_path):
    """Grade ids in the order their cells appear in a notebook."""
    nb = nbformat.read(str(nb_path), as_version=4)
    return [gid for gid, _ in grade_cells(nb)]


# -- the deduction line: rewritten in saved pages when the late policy changes ----------------

LATE_START, LATE_END = "<!--grader-late-->", "<!--/grader-late-->"
NOTEBOOK_START = "<main class=\"grader-notebook\">"   # where page_html's grader part ends


def late_region(sentence):
    """The region of a page that holds its deduction line (empty: nothing was deducted)."""
    inner = f"<p class=\"grader-late\"><b>{html.escape(_one_line(sentence))}</b></p>" if sentence else ""
    return LATE_START + inner + LATE_END


def with_late_line(page, sentence):
    """``page`` (made by :func:`page_html`) with ``sentence`` as its deduction line, under the score.

    Only the grader's part of the page, before :data:`NOTEBOOK_START`, is searched: all that a
    student wrote there is escaped (no ``<`` of theirs), and their notebook below has its comments
    stripped and cannot carry our classes, so no student text can be taken for the region or move
    it. A page without that part is returned as it is."""
    end = page.find(NOTEBOOK_START)
    if end < 0:
        return page
    head, region = page[:end], late_region(sentence)
    start = head.find(LATE_START)
    stop = head.find(LATE_END, start) if start >= 0 else -1
    if stop >= 0:
        return head[:start] + region + head[stop + len(LATE_END):] + page[end:]
    score = head.find("<p class=\"grader-score\">")
    header = head.find("<header class=\"grader-header\">")
    if score >= 0:
        at = head.index("</p>", score) + len("</p>")
    elif header >= 0:
        at = header + len("<header class=\"grader-header\">")
    else:
        return page   # not one of our pages
    return head[:at] + region + head[at:] + page[end:]
