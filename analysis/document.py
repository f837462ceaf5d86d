"""A report as a list of blocks, rendered to Markdown and to one self-contained HTML file.

Blocks are headings, paragraphs (with ``code`` and **bold** inline), bullet lists, tables
(DataFrames) and figures (PNG files next to the report). The HTML embeds every figure as base64,
so ``report.html`` can be mailed or opened anywhere on its own.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 1150px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; padding-bottom: .15em; margin-top: 1.8em; }
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


def _integers_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    # tabulate formats a whole row as floats when most cells are floats: an angle of 240
    # would print as "240.000"
    ints = [c for c in frame.columns if pd.api.types.is_integer_dtype(frame[c])]
    return frame.astype({c: str for c in ints}) if ints else frame


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
        self.blocks.append(("table", (frame, floatfmt, False)))

    def figure(self, path: Path, caption: str) -> None:
        """A PNG figure (``path`` relative to the report's folder or absolute)."""
        self.blocks.append(("figure", (Path(path), caption)))

    def to_markdown(self) -> str:
        """The report as Markdown (figures linked by their path relative to the report)."""
        out = [f"# {self.title}", ""]
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
                out += [_integers_as_text(frame).to_markdown(index=index, floatfmt=fmt), ""]
            else:
                path, caption = payload  # type: ignore[misc]
                out += [f"![{caption}]({path.as_posix()})", "", f"*{caption}*", ""]
        return "\n".join(out)

    def to_html(self, base: Path) -> str:
        """The report as one HTML page; figures (resolved against ``base``) inlined as base64."""
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for kind, payload in self.blocks:
            if kind == "heading":
                level, text = payload  # type: ignore[misc]
                body.append(f"<h{level}>{_inline_html(text)}</h{level}>")
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
                data = base64.b64encode((base / path).read_bytes()).decode()
                body.append(f'<figure><img alt="{html.escape(caption)}" '
                            f'src="data:image/png;base64,{data}"><figcaption>'
                            f"{_inline_html(caption)}</figcaption></figure>")
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>"
                "<body>\n" + "\n".join(body) + "\n</body></html>\n")
