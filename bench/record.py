"""Shared by the benchmarks: print a table and record it in BENCHMARKS.md.

Each benchmark owns one section of BENCHMARKS.md, between
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; re-running replaces only that section.
Paths inside the repository are written relative to it (`data/disks-test`), never as a folder
of the machine that ran the benchmark.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import torch

from core.paths import REPO_ROOT

ROOT = REPO_ROOT
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, Python {platform.python_version()}, torch {torch.__version__}"


def markdown_table(header: list[str], rows: list[list]) -> str:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def repo_relative_text(text: str) -> str:
    """`text` with every absolute path inside the repository written relative to it."""
    return re.sub(re.escape(str(ROOT)) + r"(/|(?![\w-]|\.\w))", lambda m: "" if m.group(1) else ".", text)


def record(name: str, title: str, header: list[str], rows: list[list], notes: str = "") -> str:
    """Print the table and replace this benchmark's section of BENCHMARKS.md."""
    table = markdown_table(header, rows)
    print(table)
    script = Path(sys.argv[0]).resolve()
    target = f"-m bench.{script.stem}" if script.parent == ROOT / "bench" else os.path.relpath(script, ROOT)
    command = f"python {target} " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = repo_relative_text(
        f"<!-- bench:{name} -->\n## {title}\n\n"
        f"Machine: {machine()}  \nCommand: `{command}`  \nRecorded: {stamp}\n\n"
        f"{table}\n" + (f"\n{notes.strip()}\n" if notes.strip() else "") + f"<!-- /bench:{name} -->"
    )
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n\nEach section is written by the script named in it.\n"
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else text.rstrip() + "\n\n" + body + "\n"
    from core.atomic import atomic_write_bytes

    atomic_write_bytes(BENCHMARKS_MD, text.encode())
    return table
