"""A report as a list of blocks, rendered to Markdown and to one HTML file.

Blocks are headings, paragraphs (with ``code`` and **bold** inline), bullet lists, tables
(DataFrames) and figures (PNG files next to the report). Both renderings open with a table of
contents. The HTML embeds each figure, downscaled to the page's width and re-encoded (palette
PNG for plots, JPEG where that is much smaller, e.g. image grids), each linked to its full-size
file, until :data:`EMBED_BUDGET` bytes of images are embedded; figures past the budget are
linked only, so a study of hundreds of trials still gives a page a browser opens quickly.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from PIL import Image

from analysis.curves import degrees

EMBED_BUDGET = 1_600_000  # bytes of embedded images (base64 adds a third: ~2.1 MB of page)
MAX_WIDTH = 1100  # pixels: the page's width
_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 1150px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; padding-bottom: .15em; margin-top: 1.8em; }
nav.toc { background: #f7f7f7; border: 1px solid #ddd; padding: .4em 1.2em; font-size: 14px; }
nav.toc ul { margin: .2em 0; padding-left: 1.2em; }
table { border-collapse: collapse; font-size: 12px; margin: .8em 0; display: block;
        overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 2px 7px; text-align: right; }
th { background: #f0f0f0; }
tr:nth-child(even) td { background: #fafafa; }
code { background: #f3f3f3; padding: 0 3px; border-radius: 3px; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
figcaption { font-size: 13px; color: #555; }
"""


def _inline_html(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def slug(text: str) -> str:
    """The anchor of a heading as GitHub makes it: lower case, punctuation dropped, spaces to
    hyphens (``"1. Saliency vs. angle"`` → ``"1-saliency-vs-angle"``)."""
    plain = re.sub(r"[`*]", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", plain).replace(" ", "-")


def _readable(frame: pd.DataFrame) -> pd.DataFrame:
    # tabulate formats a whole row as floats when most cells are floats: an angle of 240
    # would print as "240.000"; angles (float since schema v2) print as degrees
    ints = [c for c in frame.columns if pd.api.types.is_integer_dtype(frame[c])]
    angles = [c for c in frame.columns if "angle" in str(c)
              and pd.api.types.is_float_dtype(frame[c])]
    out = frame.astype({c: str for c in ints}) if ints else frame
    for c in angles:
        out = out.assign(**{str(c): [degrees(v) if pd.notna(v) else "" for v in frame[c]]})
    return out


def embeddable(path: Path, max_width: int = MAX_WIDTH) -> tuple[str, bytes]:
    """``(mime type, bytes)`` of ``path`` as small as the page needs: at most ``max_width``
    pixels wide, a 256-colour PNG (exact for line plots), or a JPEG when that is under half
    the PNG's size (photographs, saliency maps; a plot stays a PNG, free of JPEG halos)."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        if img.width > max_width:
            img = img.resize((max_width, round(img.height * max_width / img.width)),
                             Image.Resampling.LANCZOS)
        png, jpeg = io.BytesIO(), io.BytesIO()
        img.quantize(256, method=Image.Quantize.MEDIANCUT).save(png, "PNG", optimize=True)
        img.save(jpeg, "JPEG", quality=70, optimize=True)
    if jpeg.tell() < 0.5 * png.tell():
        return "image/jpeg", jpeg.getvalue()
    return "image/png", png.getvalue()


@dataclass
class Document:
    """An ordered list of report blocks.

    Attributes:
        title: the H1 title.
        blocks: ``(kind, payload)`` pairs, added through the methods below.
    """

    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        """A section heading (level 2) or subsection (level 3)."""
        self.blocks.append(("heading", (level, text)))

    def paragraph(self, text: str) -> None:
        """A paragraph; ``code`` and **bold** are rendered in HTML."""
        self.blocks.append(("paragraph", text))

    def bullets(self, items: list[str]) -> None:
        """A bullet list."""
        if items:
            self.blocks.append(("bullets", list(items)))

    def table(self, frame: pd.DataFrame, floatfmt: str = ".3f", index: bool = False) -> None:
        """A table; ``index=True`` keeps the DataFrame's index as leading columns."""
        if index:
            frame = frame.reset_index()
        self.blocks.append(("table", (_readable(frame), floatfmt, False)))

    def figure(self, path: Path, caption: str) -> None:
        """A PNG figure (``path`` relative to the report's folder or absolute)."""
        self.blocks.append(("figure", (Path(path), caption)))

    def headings(self) -> list[tuple[int, str, str]]:
        """``(level, text, anchor)`` of every heading, anchors made unique as GitHub does
        (``-1``, ``-2`` for repeats)."""
        seen: dict[str, int] = {}
        out = []
        for kind, payload in self.blocks:
            if kind == "heading":
                level, text = payload  # type: ignore[misc]
                anchor = slug(text)
                n = seen.get(anchor, 0)
                seen[anchor] = n + 1
                out.append((level, text, f"{anchor}-{n}" if n else anchor))
        return out

    def to_markdown(self) -> str:
        """The report as Markdown (figures linked by their path relative to the report)."""
        out = [f"# {self.title}", "", "**Contents**", ""]
        out += [f"{'  ' * (level - 2)}- [{text}](#{anchor})"
                for level, text, anchor in self.headings()] + [""]
        for kind, payload in self.blocks:
            if kind == "heading":
                level, text = payload  # type: ignore[misc]
                out += ["#" * level + " " + text, ""]
            elif kind == "paragraph":
                out += [str(payload), ""]
            elif kind == "bullets":
                out += [f"- {item}" for item in payload] + [""]  # type: ignore[attr-defined]
            elif kind == "table":
                frame, fmt, index = payload  # type: ignore[misc]
                out += [frame.to_markdown(index=index, floatfmt=fmt), ""]
            else:
                path, caption = payload  # type: ignore[misc]
                out += [f"![{caption}]({path.as_posix()})", "", f"*{caption}*", ""]
        return "\n".join(out)

    def _toc_html(self) -> str:
        # nested lists: a level-3 heading's list sits inside its level-2 item
        items, level_open = [], 2
        for k, (level, text, anchor) in enumerate(self.headings()):
            level = min(max(level, 2), level_open + 1)
            if level > level_open:
                items.append("<ul>")
            elif k:
                items.append("</li>" + "</ul></li>" * (level_open - level))
            level_open = level
            items.append(f'<li><a href="#{anchor}">{_inline_html(text)}</a>')
        if items:
            items.append("</li>" + "</ul></li>" * (level_open - 2))
        return f'<nav class="toc"><strong>Contents</strong><ul>{"".join(items)}</ul></nav>'

    def to_html(self, base: Path, embed_budget: int = EMBED_BUDGET) -> str:
        """The report as one HTML page; figures (resolved against ``base``) embedded as
        compressed images within ``embed_budget`` bytes, each linked to its full-size file."""
        body = [f"<h1>{html.escape(self.title)}</h1>", self._toc_html()]
        anchors = iter(self.headings())
        budget = embed_budget
        for kind, payload in self.blocks:
            if kind == "heading":
                level, text, anchor = next(anchors)
                body.append(f'<h{level} id="{anchor}">{_inline_html(text)}</h{level}>')
            elif kind == "paragraph":
                body.append(f"<p>{_inline_html(str(payload))}</p>")
            elif kind == "bullets":
                items = "".join(f"<li>{_inline_html(i)}</li>" for i in payload)  # type: ignore[attr-defined]
                body.append(f"<ul>{items}</ul>")
            elif kind == "table":
                frame, fmt, index = payload  # type: ignore[misc]
                body.append(frame.to_html(index=index, border=0, na_rep="",
                                          float_format=lambda v, f=fmt: format(v, f)))
            else:
                path, caption = payload  # type: ignore[misc]
                figure, budget = _figure_html(base, path, caption, budget)
                body.append(figure)
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>"
                "<body>\n" + "\n".join(body) + "\n</body></html>\n")


def _figure_html(base: Path, path: Path, caption: str, budget: int) -> tuple[str, int]:
    href = html.escape(path.as_posix())
    alt = html.escape(caption)
    mime, data = embeddable(base / path) if budget > 0 else ("", b"")
    if data and len(data) <= budget:
        src = f"data:{mime};base64,{base64.b64encode(data).decode()}"
        budget -= len(data)
        note = ""
    else:
        src, note = href, " (not embedded: open the report's folder to see it)"
    return (f'<figure><a href="{href}"><img alt="{alt}" src="{src}"></a><figcaption>'
            f"{_inline_html(caption)}{html.escape(note)}</figcaption></figure>", budget)
