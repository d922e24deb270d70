"""PDF report (reportlab platypus, A4 landscape) with the same content as the HTML report.

Text is drawn with the standard Helvetica/Courier fonts, so it is extractable (pdftotext finds
every outcome string). Figures are scaled to the frame width (and capped in height so that a
figure and its caption fit on one page).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import (Image, KeepTogether, Paragraph, Preformatted, SimpleDocTemplate, Spacer,
                                Table, TableStyle)

from .context import (BACKGROUNDS, COLOURS, ReportContext, decision_records, figure_sections, notes_paragraphs,
               provenance_items, runs_table, summary_rows)

__all__ = ["render_pdf"]

_PAGE = landscape(A4)
_MARGIN = 1.5 * cm
_RUN_COLS_PER_CHUNK = 10  # wider run tables are split into column chunks (first column repeated)


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": base["Title"],
        # headings stay on the page of what follows them
        "h1": ParagraphStyle("h1", parent=base["Heading1"], keepWithNext=1),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], keepWithNext=1),
        "h3": ParagraphStyle("h3", parent=base["Heading3"], keepWithNext=1, fontSize=11.5, leading=14),
        "body": ParagraphStyle("body", parent=base["BodyText"], fontSize=9.5, leading=12),
        "bullet": ParagraphStyle("bullet", parent=base["BodyText"], fontSize=9.5, leading=12, spaceBefore=0,
                                 spaceAfter=1, leftIndent=12, bulletIndent=2),
        "cell": ParagraphStyle("cell", parent=base["BodyText"], fontSize=7.5, leading=9),
        "cellb": ParagraphStyle("cellb", parent=base["BodyText"], fontSize=7.5, leading=9,
                                fontName="Helvetica-Bold"),
        "caption": ParagraphStyle("caption", parent=base["BodyText"], fontSize=8.5, leading=10.5,
                                  textColor=colors.HexColor("#444444"), alignment=1),
        "pre": ParagraphStyle("pre", parent=base["Code"], fontSize=7.5, leading=9, leftIndent=12),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _table(header: list[str], body: list[list], st, widths=None, extra_style=()) -> Table:
    data = [[_p(h, st["cellb"]) for h in header]]
    data += [[c if isinstance(c, Paragraph) else _p(c, st["cell"]) for c in row] for row in body]
    t = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    t.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        *extra_style,
    ]))
    return t


def _coloured(text: str, cls: str, st) -> Paragraph:
    return Paragraph(f'<font color="{COLOURS[cls]}"><b>{escape(text)}</b></font>', st["cell"])


def _wrap_pre(text: str, width: int = 150) -> str:
    lines = []
    for line in text.splitlines():
        lines.extend(textwrap.wrap(line, width, subsequent_indent="    ", drop_whitespace=False,
                                   replace_whitespace=False) or [""])
    return "\n".join(lines)


def _story(ctx: ReportContext, frame_w: float, frame_h: float) -> list:
    st = _styles()
    s: list = []
    s.append(_p(ctx.title, st["title"]))
    date = ctx.provenance.get("date", "")
    s.append(_p(f"Study {ctx.study}" + (f" - {date}" if date else ""), st["body"]))
    s.append(Spacer(1, 0.3 * cm))

    notes = notes_paragraphs(ctx.notes)
    if notes:
        s.append(_p("Notes", st["h1"]))
        s.extend(_p(p, st["body"]) for p in notes)

    decisions = decision_records(ctx.decisions)
    s.append(_p("Decisions at a glance", st["h1"]))
    body, style = [], []
    for i, d in enumerate(decisions, start=1):
        body.append([d["id"], d["title"], _coloured(d["outcome"], d["cls"], st)])
        style.append(("BACKGROUND", (2, i), (2, i), colors.HexColor(BACKGROUNDS[d["cls"]])))
    s.append(_table(["id", "title", "outcome"], body, st, [1.5 * cm, 12 * cm, 8 * cm], style))

    s.append(_p("Hypotheses and criteria", st["h1"]))
    rows = summary_rows(ctx.summary)
    if rows:
        keys = ["hypothesis", "experiment", "metric", "n", "estimate", "ci", "criterion", "test",
                "statistic", "p_value", "p_adjusted"]
        header = ["hyp.", "exp.", "metric", "n", "estimate", "95% CI", "criterion", "test", "stat.", "p",
                  "p (Bonf.)", "verdict"]
        widths = [1.1, 1.2, 3.4, 0.8, 1.7, 3.4, 2.2, 3.0, 1.6, 1.7, 1.7, 1.9]
        body, style = [], []
        for i, r in enumerate(rows, start=1):
            body.append([r[k] for k in keys] + [_coloured(r["verdict"], r["cls"], st)])
            style.append(("BACKGROUND", (11, i), (11, i), colors.HexColor(BACKGROUNDS[r["cls"]])))
        s.append(_table(header, body, st, [w * cm for w in widths], style))
        s.append(_p("A criterion passes when its estimate satisfies the rule and its Bonferroni-adjusted "
                    "p-value is below alpha. * = no test could be computed (n < 2); decided by the point "
                    "estimate only.", st["caption"]))
    else:
        s.append(_p("No hypothesis tests were supplied.", st["body"]))

    # a heading goes inside the KeepTogether of what follows it (keepWithNext alone does not hold
    # a heading to a KeepTogether block in platypus)
    lead = [_p("Milestones and decisions", st["h1"])]
    for d in decisions:
        block = lead + [Paragraph(f'{escape(d["title"])} \u2014 <font color="{COLOURS[d["cls"]]}">{escape(d["outcome"])}</font>',
                           st["h3"]),
                 Paragraph(f"<b>Rule:</b> {escape(d['rule'])}", st["body"])]
        if d["reason"]:
            block.append(Paragraph(f"<b>Reason:</b> {escape(d['reason'])}", st["body"]))
        if d["inputs"]:
            block.append(Paragraph("<b>Inputs:</b>", st["body"]))
            block.extend(Paragraph(escape(i), st["bullet"], bulletText="\u2022") for i in d["inputs"])
        if d["thresholds"]:
            block.append(Paragraph(f"<b>Thresholds:</b> {escape('; '.join(d['thresholds']))}", st["body"]))
        if d["caveats"]:
            block.append(Paragraph("<b>Caveats:</b>", st["body"]))
            block.extend(Paragraph(escape(c), st["bullet"], bulletText="\u2022") for c in d["caveats"])
        if d["mitigation"]:
            block.append(Paragraph(f"<b>Mitigation:</b> {escape(d['mitigation'])}", st["body"]))
        s.append(KeepTogether(block))
        lead = []

    for sec in ctx.sections:
        s.append(_p(sec["title"], st["h1"]))
        s.extend(_p(p, st["body"]) for p in sec["paragraphs"])
        if sec["rows"]:
            s.append(_table(list(sec["columns"]), [list(r) for r in sec["rows"]], st))
        if sec["note"]:
            s.append(_p(sec["note"], st["caption"]))

    groups = figure_sections(ctx.figures)
    if groups:
        lead = [_p("Figures", st["h1"])]
        number = 0
        for section, figs in groups:
            lead.append(_p(section, st["h2"]))
            for path, caption in figs:
                number += 1
                iw, ih = ImageReader(str(path)).getSize()
                # page width, capped in height so that about two figures with captions fit a page
                scale = min(frame_w / iw, 0.45 * frame_h / ih)
                img = Image(str(path), width=iw * scale, height=ih * scale)
                s.append(KeepTogether(lead + [img, Spacer(1, 0.15 * cm),
                                              _p(f"Figure {number}. {caption}", st["caption"]), Spacer(1, 0.4 * cm)]))
                lead = []

    s.append(_p("Runs", st["h1"]))
    cols, body = runs_table(ctx.runs)
    if body:
        first = cols[:1]
        rest = list(range(1, len(cols)))
        chunks = [rest[i:i + _RUN_COLS_PER_CHUNK - 1] for i in range(0, len(rest), _RUN_COLS_PER_CHUNK - 1)] or [[]]
        for chunk in chunks:
            idx = [0] + chunk
            s.append(_table(first + [cols[j] for j in chunk], [[row[j] for j in idx] for row in body], st))
            s.append(Spacer(1, 0.2 * cm))
    else:
        s.append(_p("No runs were supplied.", st["body"]))

    s.append(_p("Provenance", st["h1"]))
    items = provenance_items(ctx.provenance)
    if items:
        for key, text, pre in items:
            if pre:
                s.append(KeepTogether([Paragraph(f"<b>{escape(key)}</b>", st["body"]),
                                       Preformatted(_wrap_pre(text), st["pre"])]))
            else:
                s.append(Paragraph(f"<b>{escape(key)}:</b> {escape(text)}", st["body"]))
    else:
        s.append(_p("No provenance was supplied.", st["body"]))
    return s


def _page_number(canvas, doc) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 7.5)
    canvas.drawRightString(_PAGE[0] - _MARGIN, 0.8 * cm, f"{doc.title} - page {doc.page}")
    canvas.restoreState()


def render_pdf(context: ReportContext, out_path) -> Path:
    """Write the PDF report to ``out_path`` (parents created); return the path."""
    context.validate()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = SimpleDocTemplate(str(out), pagesize=_PAGE, leftMargin=_MARGIN, rightMargin=_MARGIN,
                            topMargin=_MARGIN, bottomMargin=_MARGIN, title=context.title,
                            author="predictive-training", subject=f"study {context.study}",
                            invariant=1)  # no timestamps/ids: the same input gives the same bytes
    doc.build(_story(context, doc.width, doc.height), onFirstPage=_page_number, onLaterPages=_page_number)
    return out
