"""Shared by the app benchmarks: a real `streamlit run app.py` server and a headless Chromium.

`AppServer` starts the app as a subprocess on a free loopback port, waits until
`/_stcore/health` answers "ok", samples the memory of the server and all its child
processes from /proc while it runs, and stops it again. `launch_browser` starts Debian's
Chromium through Playwright (never `playwright install`). The helpers that read the page
(`APP_IDLE`, `goto_page`, ...) follow tests/test_e2e_browser.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from core.paths import LOGS_DIR, REPO_ROOT

ROOT = REPO_ROOT  # the folder holding app.py
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'  # no script run in progress
EXCEPTION = '[data-testid="stException"]'
PLOT = '[data-testid="stPlotlyChart"] .js-plotly-plot'  # a figure plotly has drawn
UPLOADER = '[data-testid="stFileUploaderDropzone"]'  # the Data page's file uploader
NAV_LINK = '[data-testid="stSidebarNav"] a'  # sidebar links; client-side navigation keeps the session
BADGE = '[data-testid="stCaptionContainer"]'  # holds "Current image: <name> ..." once an image is chosen
PAGE_SIZE = 4096  # bytes per /proc/<pid>/statm page on x86-64 Linux


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- memory from /proc


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        out = []
        for task in tasks:
            text = (task / "children").read_text().split()
            out += [int(c) for c in text]
        return out
    except OSError:
        return []


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc/<pid>/task/*/children)."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo += _children(p)
    return seen


def status_kb(pid: int, field_name: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS: resident now, VmHWM: peak resident); 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class MemorySampler:
    """Samples the resident memory (MiB) of a process tree every `interval_s` in a thread.

    `peak_tree_mib` is the largest sum of VmRSS over the server and its children seen in a
    sample; `peak_hwm_mib` the largest VmHWM (the kernel's exact peak resident size) of any
    single process of the tree, which also catches spikes between two samples.
    """

    pid: int
    interval_s: float = 0.25
    samples: list[tuple[float, float]] = field(default_factory=list)  # (time s, tree RSS MiB)
    peak_hwm_mib: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> float:
        pids = process_tree(self.pid)
        rss = sum(status_kb(p, "VmRSS") for p in pids) / 1024
        hwm = max((status_kb(p, "VmHWM") for p in pids), default=0) / 1024
        self.peak_hwm_mib = max(self.peak_hwm_mib, hwm)
        self.samples.append((time.monotonic(), rss))
        return rss

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def start(self) -> MemorySampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample()

    @property
    def peak_tree_mib(self) -> float:
        return max((rss for _, rss in self.samples), default=0.0)


# ---------------------------------------------------------------- the server


class AppServer:
    """`streamlit run app.py` on a free loopback port; use as a context manager.

    `root` is the folder holding app.py (default: this repository); `env` adds environment
    variables (e.g. {"EQUISCOPE_HOSTED": "1"}). The server's output goes to `log_path`
    (default: a file in logs/), kept for finding bottlenecks after a run.
    """

    def __init__(self, root: str | Path = ROOT, env: dict[str, str] | None = None,
                 log_path: str | Path | None = None, threads: int = 1):
        self.root = Path(root).resolve()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = {"OMP_NUM_THREADS": str(threads), **(env or {})}
        self.log_path = Path(log_path) if log_path else LOGS_DIR / f"bench_server_{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.memory: MemorySampler | None = None
        self.started_at: float | None = None  # time.monotonic() just before the process was started
        self.healthy_after_s: float | None = None  # process start -> /_stcore/health == "ok"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
                "--server.address", "127.0.0.1", "--server.headless", "true",
                "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]

    def start(self, timeout_s: float = 120.0) -> AppServer:
        """Start the process and return once health answers "ok"; RuntimeError with the log otherwise."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed with the process in stop()
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.command(), cwd=self.root, env={**os.environ, **self.extra_env},
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()  # the child holds its own descriptor
        self.memory = MemorySampler(self.proc.pid).start()
        deadline = self.started_at + timeout_s
        while not self.healthy():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"streamlit did not answer on {self.url}/_stcore/health "
                                   f"within {timeout_s:.0f} s: {tail}")
            time.sleep(0.05)
        self.healthy_after_s = time.monotonic() - self.started_at
        return self

    def healthy(self) -> bool:
        """True when GET /_stcore/health returns "ok"."""
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                return r.read().strip() == b"ok"
        except OSError:
            return False

    def log_tail(self, n_chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate the server (then kill after 10 s) and stop the memory sampler."""
        if self.memory is not None:
            self.memory.stop()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> AppServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------- the browser


def launch_browser(playwright):
    """Headless Debian Chromium through a Playwright (sync or async) instance's `chromium`."""
    if not CHROMIUM.exists():
        raise RuntimeError("Chromium is missing at /usr/bin/chromium: apt-get install -y chromium chromium-driver")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def drag_zoom(page, plot, fraction: float = 0.3) -> tuple[float, float]:
    """Drag a zoom box from -fraction to +fraction of plot's area about its centre (a Playwright locator of a
    `.js-plotly-plot`); returns the centre (page pixels) the box was measured with."""
    box = plot.locator(".nsewdrag").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - box["width"] * fraction, cy - box["height"] * fraction)
    page.mouse.down()
    page.mouse.move(cx + box["width"] * fraction, cy + box["height"] * fraction, steps=8)
    page.mouse.up()
    return cx, cy


def cpu_seconds(pid: int) -> float:
    """User + system CPU time (s) used so far by `pid` and its descendants (/proc/<pid>/stat).

    Live processes count their own time plus that of their children that have exited and
    been waited for (cutime, cstime), so short-lived renderer processes are not lost.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15]) / ticks  # utime, stime, cutime, cstime (stat 14-17)
        except (OSError, IndexError, ValueError):
            pass
    return total


def load_average() -> str:
    """The machine's 1/5/15-minute load averages (runnable processes; 2 cores here)."""
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; nan for no values."""
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")
