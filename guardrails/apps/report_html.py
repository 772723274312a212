"""The sections of a report and how each is written: HTML blocks, page CSS, PNG bytes."""

from __future__ import annotations

import base64
import copy
import html
import io
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from guardrails.apps.report_draw import _DPI, _drawing

if TYPE_CHECKING:
    from matplotlib.figure import Figure


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class _Plot:
    kind: str
    title: str
    how_to_read: str
    figure: Figure
    data: str | None
    values: Mapping[str, Any]


@dataclass(frozen=True)
class _Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str | None


@dataclass(frozen=True)
class _Text:
    title: str | None
    paragraphs: tuple[str, ...]


_Section: TypeAlias = "_Plot | _Table | _Text"


_CSS = (
    "body{margin:0;background:#f6f6f4;color:#222;"
    "font:15px/1.5 -apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif}"
    "main{max-width:940px;margin:0 auto;padding:24px 20px 40px}"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:18px;margin:0 0 8px}"
    ".subtitle{margin:0;color:#555}.privacy{margin:6px 0 0;color:#777;font-size:13px}"
    "header,nav,section{background:#fff;border:1px solid #ddd;border-radius:6px;"
    "padding:16px 20px;margin:0 0 18px}"
    "nav ol{margin:0;padding-left:22px}nav a{color:#333}"
    "figure{margin:0}figure img{display:block;width:100%;height:auto}"
    "figcaption{margin-top:8px;color:#333}.how{font-weight:600}"
    "figcaption .data{display:block;margin-bottom:4px}"
    "table{border-collapse:collapse;width:100%;font-size:14px}"
    "th,td{border-bottom:1px solid #e2e2e2;padding:6px 10px;text-align:left}"
    ".num{text-align:right;font-variant-numeric:tabular-nums}"
    "th{background:#f0f0ee}.note{color:#555;font-size:13px;margin:8px 0 0}"
    "footer{color:#888;font-size:12px;text-align:center}"
)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _render(i: int, section: _Section) -> str:
    anchor = f'id="section-{i}"'
    if isinstance(section, _Plot):
        data = base64.b64encode(_png(section)).decode("ascii")
        data_line = (
            f'<span class="data"><span class="how">Data: </span>{_esc(section.data)}</span>'
            if section.data
            else ""
        )
        return (
            f'<section {anchor} class="plot"><figure>'
            f'<img src="data:image/png;base64,{data}" alt="{_esc(section.title)}" />'
            f"<figcaption>{data_line}"
            f'<span class="how">How to read it: </span>'
            f"{_esc(section.how_to_read)}</figcaption></figure></section>"
        )
    if isinstance(section, _Table):
        numeric = [_is_numeric_column(section.rows, j) for j in range(len(section.header))]
        head = "".join(
            f'<th class="num">{_esc(h)}</th>' if numeric[j] else f"<th>{_esc(h)}</th>"
            for j, h in enumerate(section.header)
        )
        body = "".join(
            "<tr>"
            + "".join(
                f'<td class="num">{_esc(c)}</td>' if numeric[j] else f"<td>{_esc(c)}</td>"
                for j, c in enumerate(row)
            )
            + "</tr>"
            for row in section.rows
        )
        note = f'<p class="note">{_esc(section.note)}</p>' if section.note else ""
        return (
            f'<section {anchor} class="table"><h2>{_esc(section.title)}</h2>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</section>"
        )
    heading = f"<h2>{_esc(section.title)}</h2>" if section.title else ""
    paragraphs = "".join(f"<p>{_esc(p)}</p>" for p in section.paragraphs)
    return f'<section {anchor} class="text">{heading}{paragraphs}</section>'


_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+(e[-+]?\d+)?%?$|^\u2013$")


def _is_numeric_column(rows: tuple[tuple[str, ...], ...], j: int) -> bool:
    return bool(rows) and all(_NUMBER.match(row[j]) for row in rows)


def _png(plot: _Plot, *, footnote: bool = False) -> bytes:
    """The plot as PNG bytes; ``footnote`` writes its data line under it (a PNG on its own
    has no caption to say which rows it draws; in the HTML the caption does)."""
    buffer = io.BytesIO()
    describe = plot.how_to_read if not plot.data else f"Data: {plot.data} {plot.how_to_read}"
    with _drawing():
        note = None
        if footnote and plot.data:
            width = int(plot.figure.get_figwidth() * 14)
            note = plot.figure.text(
                0.01,
                -0.01,
                textwrap.fill(f"Data: {plot.data}", width=width),
                ha="left",
                va="top",
                fontsize=8,
                color="#555555",
            )
        try:
            plot.figure.savefig(
                buffer,
                format="png",
                dpi=_DPI,
                bbox_inches="tight" if note is not None else None,
                metadata={"Software": None, "Title": plot.title, "Description": describe},
            )
        finally:
            if note is not None:
                note.remove()
    return buffer.getvalue()


def _frozen(values: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a plot's numbers: arrays become tuples of floats, so none can change."""

    def freeze(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return tuple(v.tolist())
        if isinstance(v, Mapping):
            return {k: freeze(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return tuple(freeze(x) for x in v)
        return v

    return {k: freeze(v) for k, v in values.items()}


def _thawed(values: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(values))
