"""Self-contained HTML report (jinja2): inline CSS, figures as base64 data URIs, no external links."""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2

from .context import (BACKGROUNDS, COLOURS, ReportContext, decision_records, figure_sections, notes_paragraphs,
               provenance_items, runs_table, summary_rows)

__all__ = ["render_html", "html_string"]

_TEMPLATES = Path(__file__).with_name("templates")


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,  # a typo in the template is an error, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def html_string(context: ReportContext) -> str:
    """The report as an HTML string (see :func:`render_html`)."""
    context.validate()
    number = 0
    figures = []
    for section, figs in figure_sections(context.figures):
        entries = []
        for path, caption in figs:
            number += 1
            entries.append({"src": _data_uri(path), "caption": caption, "number": number})
        figures.append((section, entries))
    runs_cols, runs_body = runs_table(context.runs)
    return _env().get_template("report.html.j2").render(
        title=context.title,
        study=context.study,
        date=str(context.provenance.get("date", "")),
        notes=notes_paragraphs(context.notes),
        summary=summary_rows(context.summary),
        decisions=decision_records(context.decisions),
        figures=figures,
        runs_cols=runs_cols,
        runs_body=runs_body,
        provenance=provenance_items(context.provenance),
        sections=context.sections,
        colours=COLOURS,
        backgrounds=BACKGROUNDS,
    )


def render_html(context: ReportContext, out_path) -> Path:
    """Write the self-contained HTML report to ``out_path`` (parents created); return the path."""
    out = Path(out_path)
    text = html_string(context)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
