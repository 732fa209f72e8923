"""A small document model (numbered headings, paragraphs, tables) and its PDF, written with
reportlab so that the same document gives the same bytes on every run.

Determinism: reportlab's invariant mode (no random document id, no time stamp), the creation
and modification dates fixed to the date given (the data cut-off), fonts embedded as subsets
of DejaVu Sans (shipped with matplotlib, a dependency already; it covers the non-ASCII text of
findings that the 14 standard PDF fonts cannot show).

>>> doc = Document("Title", subtitle="Study X")                      # doctest: +SKIP
>>> doc.heading(1, "Introduction"); doc.para("Plain text & more.")   # doctest: +SKIP
>>> doc.table(["Name", "Label"], [["DM", "Demographics"]])           # doctest: +SKIP
>>> write_pdf(doc, Path("guide.pdf"), created=dt.datetime(2025, 11, 27))  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Sequence

FONT, FONT_BOLD = "SBDejaVuSans", "SBDejaVuSans-Bold"


@dataclass(frozen=True)
class Heading:
    level: int                 # 1 or 2 (3 allowed)
    number: str                # "1", "1.3"
    text: str


@dataclass(frozen=True)
class Para:
    text: str                  # plain text (escaped on rendering)
    style: str = "body"        # body / note


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...] | None = None     # relative column widths


@dataclass
class Document:
    """A reviewer's guide as data: what :func:`write_pdf` renders and tests read."""

    title: str
    subtitle: str = ""
    lines: tuple[str, ...] = ()                      # title-page lines under the subtitle
    blocks: list = field(default_factory=list)
    _counters: list = field(default_factory=lambda: [0, 0, 0])

    def heading(self, level: int, text: str) -> str:
        """Add a numbered heading (1, 1.1, 1.1.1) and return its number."""
        self._counters[level - 1] += 1
        for i in range(level, len(self._counters)):
            self._counters[i] = 0
        number = ".".join(str(n) for n in self._counters[:level])
        self.blocks.append(Heading(level, number, text))
        return number

    def appendix(self, text: str) -> None:
        """An unnumbered top-level heading (appendices)."""
        self.blocks.append(Heading(1, "", text))

    def para(self, text: str, style: str = "body") -> None:
        self.blocks.append(Para(text, style))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]],
              widths: Sequence[float] | None = None) -> None:
        self.blocks.append(Table(tuple(header), tuple(tuple(_cell(v) for v in r)
                                                      for r in rows),
                                 tuple(widths) if widths else None))

    def headings(self) -> list[str]:
        """Every heading as printed (``"4.2 Issues Summary"``), in order."""
        return [f"{h.number} {h.text}".strip() for h in self.blocks if isinstance(h, Heading)]


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


@cache
def _fonts() -> None:
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(ttf / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(ttf / "DejaVuSans-Bold.ttf")))
    addMapping(FONT, 0, 0, FONT)
    addMapping(FONT, 1, 0, FONT_BOLD)
    addMapping(FONT, 0, 1, FONT)
    addMapping(FONT, 1, 1, FONT_BOLD)


def _esc(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def render_pdf(doc: Document, *, created: dt.datetime, author: str = "",
               subject: str = "") -> bytes:
    """The PDF bytes of ``doc``: US Letter, the title and page number in the footer, one PDF
    bookmark per heading (FDA asks for bookmarks), dates fixed to ``created``."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import inch
    from reportlab.platypus import (KeepTogether, PageBreak, Paragraph, SimpleDocTemplate,
                                    Spacer)
    from reportlab.platypus import Table as RLTable
    from reportlab.platypus import TableStyle

    _fonts()
    stamp = created.strftime("D:%Y%m%d%H%M%S+00'00'")
    styles = {
        "title": ParagraphStyle("title", fontName=FONT_BOLD, fontSize=20, leading=25,
                                spaceAfter=14),
        "subtitle": ParagraphStyle("subtitle", fontName=FONT, fontSize=13, leading=17,
                                   spaceAfter=10),
        "line": ParagraphStyle("line", fontName=FONT, fontSize=10, leading=14),
        "h1": ParagraphStyle("h1", fontName=FONT_BOLD, fontSize=14, leading=18,
                             spaceBefore=12, spaceAfter=6),
        "h2": ParagraphStyle("h2", fontName=FONT_BOLD, fontSize=11.5, leading=15,
                             spaceBefore=9, spaceAfter=4),
        "h3": ParagraphStyle("h3", fontName=FONT_BOLD, fontSize=10, leading=13,
                             spaceBefore=6, spaceAfter=3),
        "body": ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=13,
                               spaceAfter=5),
        "note": ParagraphStyle("note", fontName=FONT, fontSize=8.5, leading=11,
                               spaceAfter=5, textColor=colors.HexColor("#4a5560")),
        "cell": ParagraphStyle("cell", fontName=FONT, fontSize=7.5, leading=9.2),
        "head": ParagraphStyle("head", fontName=FONT_BOLD, fontSize=7.5, leading=9.2),
    }
    width = letter[0] - 1.6 * inch

    class _Doc(SimpleDocTemplate):
        def afterFlowable(self, flowable):
            key = getattr(flowable, "_sb_bookmark", None)
            if key:
                level, text = key
                self.canv.bookmarkPage(f"h{self._sb_n}")
                self.canv.addOutlineEntry(text, f"h{self._sb_n}", level=level - 1,
                                          closed=level > 1)
                self._sb_n += 1

    def page(canvas, d):
        canvas.setDateFormatter(lambda *a: stamp)
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#4a5560"))
        canvas.drawString(0.8 * inch, 0.5 * inch, doc.title)
        canvas.drawRightString(letter[0] - 0.8 * inch, 0.5 * inch, f"Page {d.page}")
        canvas.restoreState()

    flow: list = [Spacer(1, 1.6 * inch), Paragraph(_esc(doc.title), styles["title"])]
    if doc.subtitle:
        flow.append(Paragraph(_esc(doc.subtitle), styles["subtitle"]))
    flow += [Paragraph(_esc(line), styles["line"]) for line in doc.lines]
    flow.append(PageBreak())
    for b in doc.blocks:
        if isinstance(b, Heading):
            text = f"{b.number} {b.text}".strip()
            p = Paragraph(_esc(text), styles[f"h{min(b.level, 3)}"])
            p._sb_bookmark = (b.level, text)
            flow.append(p)
        elif isinstance(b, Para):
            flow.append(Paragraph(_esc(b.text).replace("\n", "<br/>"), styles[b.style]))
        elif isinstance(b, Table):
            rel = b.widths or (1.0,) * len(b.header)
            total = sum(rel)
            cols = [width * w / total for w in rel]
            data = [[Paragraph(_esc(h), styles["head"]) for h in b.header]]
            data += [[Paragraph(_esc(c), styles["cell"]) for c in r] for r in b.rows]
            t = RLTable(data, colWidths=cols, repeatRows=1, hAlign="LEFT")
            t.setStyle(TableStyle([
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf2")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#b8c2cc")),
                ("FONTNAME", (0, 0), (-1, -1), FONT), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
            flow.append(KeepTogether([t]) if len(b.rows) <= 8 else t)
            flow.append(Spacer(1, 6))

    buf = io.BytesIO()
    d = _Doc(buf, pagesize=letter, leftMargin=0.8 * inch, rightMargin=0.8 * inch,
             topMargin=0.8 * inch, bottomMargin=0.8 * inch, title=doc.title,
             author=author, subject=subject, creator="studybuild", producer="studybuild",
             invariant=1, pageCompression=1, initialFontName=FONT, initialFontSize=9.5)
    d._sb_n = 0
    d.build(flow, onFirstPage=page, onLaterPages=page)
    return buf.getvalue()


def write_pdf(doc: Document, path: Path, *, created: dt.datetime, author: str = "",
              subject: str = "") -> Path:
    """Render ``doc`` (:func:`render_pdf`) and write it atomically to ``path``."""
    from studybuild.atomic import write_bytes

    write_bytes(Path(path), render_pdf(doc, created=created, author=author, subject=subject))
    return Path(path)
