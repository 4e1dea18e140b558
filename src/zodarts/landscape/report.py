"""A landscape's report (`zodarts landscape-report`): DIR/report/landscape.md, its figures and
summary.json — the verdict first (:mod:`.verdict`), then the numbers (:mod:`.summary`) as
Markdown (:mod:`.markdown`) and figures (:mod:`.figures`)."""

from __future__ import annotations

import json
from pathlib import Path

from zodarts.landscape import figures, markdown
from zodarts.landscape.summary import summarise
from zodarts.landscape.table import read_table
from zodarts.utils.io import atomic_write_text

REPORT_DIR = "report"
REPORT = "landscape.md"


def write_report(root: str | Path, compare: list[str | Path] = ()) -> Path:
    """Write DIR/report/landscape.md, its figures and summary.json; returns the Markdown's
    path."""
    table = read_table(root)
    others = [read_table(other) for other in compare]
    summary = summarise(table, others)
    out = table.root / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    drawn = figures.draw(table, summary, out)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1, default=str) + "\n")
    path = out / REPORT
    atomic_write_text(path, markdown.render(summary, drawn, str(table.root)))
    return path
