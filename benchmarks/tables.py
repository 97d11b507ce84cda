"""The Markdown table every benchmark prints and saves in benchmarks/results/."""

from __future__ import annotations

import platform
from pathlib import Path


def write_table(title: str, command: str, header: list[str], rows: list[list[str]], out: Path | None, notes: str = "") -> str:
    """Print a titled Markdown table with the machine and the command that made it; save it when `out` is set."""
    lines = [
        f"# {title}",
        "",
        f"Machine: {platform.machine()}, {platform.system()}, Python {platform.python_version()}.",
        f"Command: `{command}`",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if notes:
        lines += ["", notes]
    report = "\n".join(lines)
    print(report)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(report + "\n")
    return report
