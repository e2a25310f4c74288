"""Load: N concurrent scripted visitors upload an image and read its reconstruction.

    .venv/bin/python -m bench.load [--visitors 1 20] [--ramp 0 60] [--timeout 600] [--local] [--root DIR]

One `streamlit run app.py` server (bench/_server.py; hosted mode, EQUISCOPE_HOSTED=1, unless
--local) and one headless Chromium with one browser context per visitor (Playwright's async
API). Every visitor, all at once (or spread over --ramp seconds): opens the app, uploads an
image on the Data page (the shipped examples and freshly simulated disks and lenses, so most
uploads are new to the server's caches), goes to the Reconstruct page and waits until every
autoencoder's metrics (PSNR) and its one figure of three drawn panels (original, reconstruction,
residual) are shown and the run is finished.
Reported: sessions completed, errors (with the first error's text), p50/p95 of upload ->
reconstruction, total wall time, the server's peak memory and CPU use.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench._server import (
    APP_IDLE,
    BADGE,
    EXCEPTION,
    NAV_LINK,
    PLOT,
    ROOT,
    UPLOADER,
    AppServer,
    cpu_seconds,
    launch_browser,
    load_average,
    percentile,
)
from bench.record import record
from core.paths import EXAMPLES_DIR, LOGS_DIR

EXAMPLES = EXAMPLES_DIR
STEP_MS = 300_000  # longest wait for one step of one visitor


@dataclass
class Visit:
    """One visitor's session: what it uploaded, how long each part took (s), and what went wrong."""

    index: int
    upload: Path
    open_s: float | None = None  # goto -> the Data page's first run finished
    latency_s: float | None = None  # upload -> reconstruction figures and metrics shown
    error: str | None = None
    marks: list[tuple[str, float]] = field(default_factory=list)  # (step, s since the load started)

    @property
    def completed(self) -> bool:
        return self.latency_s is not None and self.error is None


def disk_fits(path: Path, seed: int) -> Path:
    """A simulated 129 px protoplanetary disk (core.data.disks) written as FITS to `path`."""
    from core.data.disks import sample_disk_params, simulate_disk
    from core.io import write_fits

    rng = np.random.default_rng(seed)
    image = simulate_disk(sample_disk_params(rng, int(rng.integers(0, 4)), size=129), size=129, rng=rng)
    write_fits(path, image, [("BUNIT", "Jy/beam", "")])
    return path


def upload_files(folder: Path, n: int) -> list[Path]:
    """n images to upload: the shipped examples first, then simulated disks (FITS) and lenses (.npy)."""
    from core.atomic import atomic_save_npy
    from core.data.lenses import sample_lens_params, simulate_lens

    shipped = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".fits", ".npy"))
    files = []
    for i in range(n):
        if i < len(shipped):
            dst = folder / f"v{i:02d}_{shipped[i].name}"  # own name per visitor, same pixels
            shutil.copyfile(shipped[i], dst)
        elif i % 2:
            dst = disk_fits(folder / f"v{i:02d}_sim_disk_seed{2000 + i}.fits", 2000 + i)
        else:
            rng = np.random.default_rng(3000 + i)
            sub = ("no_sub", "cdm", "vortex")[i % 3]
            image = simulate_lens(sample_lens_params(rng), sub, size=150, rng=rng)
            dst = folder / f"v{i:02d}_sim_lens_{sub}_seed{3000 + i}.npy"
            atomic_save_npy(dst, image)
        files.append(dst)
    return files


async def wait_idle(page, timeout_ms: int = STEP_MS) -> None:
    await page.wait_for_timeout(300)  # let a just-triggered run start
    await page.wait_for_selector(APP_IDLE, timeout=timeout_ms)


async def app_exception(page) -> str | None:
    errors = page.locator(EXCEPTION)
    return (await errors.first.inner_text())[:300] if await errors.count() else None


PANELS = ("Original", "Reconstruction", "Residual")  # the panel titles of one model's figure, in order
# Per drawn figure: its chart key (the element's st-key-<key> class), its subplots, how many of them hold a
# drawn image (a heatmap's or an image trace's <image>), and its panel titles (plotly annotations).
FIGURE_JS = """els => els.map(el => {
    const box = el.closest('[class*="st-key-"]');
    const key = box ? (box.className.match(/st-key-(\\S+)/) || [])[1] : null;
    const subplots = Array.from(el.querySelectorAll('.cartesianlayer > .subplot'));
    return {key: key || null, panels: subplots.length,
            drawn: subplots.filter(s => s.querySelector('.hm image, .im image')).length,
            titles: Array.from(el.querySelectorAll('.annotation-text')).map(t => t.textContent)};
})"""


def figure_problems(figures: list[dict], n_models: int) -> list[str]:
    """What is wrong with the Reconstruct page's figures: one per model (its chart keyed recon_<model>), each
    with an original, a reconstruction and a residual panel, all drawn. Empty when all is well."""
    if n_models == 0:
        return ["no model shows its metrics"]
    recon = [f for f in figures if (f["key"] or "").startswith("recon_")]
    problems = [] if len(recon) == n_models else [f"{len(recon)} reconstruction figures for {n_models} models"]
    for f in recon:
        model = f["key"][len("recon_"):]
        titles = [next((t for t in f["titles"] if t.startswith(p)), None) for p in PANELS]
        if f["panels"] != len(PANELS) or None in titles or f["drawn"] != len(PANELS):
            problems.append(f"{model}: {f['panels']} panels ({f['drawn']} drawn) titled {f['titles']}, "
                            "not original, reconstruction and residual")
    return problems


async def check_reconstructions(page, timeout_s: float = 30.0) -> None:
    """Wait (up to `timeout_s`: plotly draws after the run ends) until every model whose metrics are shown has
    its one 3-panel figure drawn; RuntimeError saying what is missing otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        n_models = await page.locator('[data-testid="stMetricLabel"]', has_text="PSNR").count()
        problems = figure_problems(await page.locator(PLOT).evaluate_all(FIGURE_JS), n_models)
        if not problems:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the Reconstruct page's figures: " + "; ".join(problems))
        await page.wait_for_timeout(500)


async def visit(browser, url: str, v: Visit, delay_s: float, start: float) -> Visit:
    """One visitor: open, upload, Reconstruct; fills v.open_s, v.latency_s or v.error.

    `v.marks` records when each step ended, in seconds since `start` (the whole load's start).
    """
    def mark(name: str) -> float:
        now = time.monotonic()
        v.marks.append((name, now - start))
        return now

    await asyncio.sleep(delay_s)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    step = "open the app"
    try:
        page = await context.new_page()
        t0 = mark("context")
        await page.goto(url, timeout=STEP_MS)
        mark("html")
        await page.wait_for_selector(UPLOADER, timeout=STEP_MS)
        mark("uploader")
        await wait_idle(page)
        v.open_s = mark("data page") - t0

        step = "upload"
        t0 = time.monotonic()
        await page.locator('input[type="file"]').first.set_input_files(str(v.upload))
        await page.locator(BADGE, has_text=f"Current image: {v.upload.name}").first.wait_for(
            timeout=STEP_MS)
        await page.wait_for_selector(APP_IDLE, timeout=STEP_MS)
        mark("uploaded")

        step = "reconstruct"
        await page.locator(NAV_LINK, has_text="Reconstruct").first.click(timeout=STEP_MS)
        await page.get_by_role("heading", name="Reconstruct").first.wait_for(timeout=STEP_MS)
        mark("recon page")
        await page.locator('[data-testid="stMetricLabel"]', has_text="PSNR").first.wait_for(timeout=STEP_MS)
        mark("metrics")
        await wait_idle(page)
        await check_reconstructions(page)
        v.latency_s = mark("reconstructed") - t0 - 0.3  # minus wait_idle's grace period
        shown = await app_exception(page)
        if shown:
            raise RuntimeError(f"the app shows an exception: {shown}")
    except Exception as exc:  # noqa: BLE001 - every failure is counted and its text reported
        v.latency_s = None
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        v.error = f"visitor {v.index} ({v.upload.name}), {step}: {type(exc).__name__}: {text[:300]}"
        try:
            shown = await app_exception(page)
            if shown:
                v.error += f" | app: {shown}"
        except Exception:  # noqa: BLE001 - the page may be gone
            pass
    finally:
        await context.close()
    return v


async def run(url: str, files: list[Path], timeout_s: float, ramp_s: float,
              server_pid: int) -> tuple[list[Visit], float, float]:
    """All visits in one browser: (visits, wall time s, browser CPU s).

    Unfinished visits at the timeout count as errors. Browser CPU = CPU seconds of this
    process's descendants other than the server (Playwright's driver and Chromium).
    """
    from playwright.async_api import async_playwright

    visits = [Visit(i, f) for i, f in enumerate(files)]
    async with async_playwright() as p:
        browser = await launch_browser(p)
        try:
            cpu0 = cpu_seconds(os.getpid()) - cpu_seconds(server_pid)
            t0 = time.monotonic()
            n = len(visits)
            tasks = [asyncio.create_task(visit(browser, url, v, ramp_s * i / max(n - 1, 1), t0))
                     for i, v in enumerate(visits)]
            done, pending = await asyncio.wait(tasks, timeout=timeout_s)
            wall = time.monotonic() - t0
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for v in visits:
                if v.latency_s is None and v.error is None:
                    v.error = f"visitor {v.index} ({v.upload.name}): not finished within the overall timeout of {timeout_s:.0f} s"
            browser_cpu = cpu_seconds(os.getpid()) - cpu_seconds(server_pid) - cpu0
        finally:
            await browser.close()
    return visits, wall, browser_cpu


HEADER = ["visitors", "arrival", "completed", "errors", "p50 upload→recon s", "p95 s", "max s", "p50 open s",
          "wall s", "server peak MiB", "server CPU cores", "server CPU s / visitor", "browser CPU cores"]


def warm_up(url: str, folder: Path, server_pid: int) -> float:
    """One untimed visit (a simulated disk no visitor uploads): loads the models, as after a hosted start."""
    path = disk_fits(folder / "warmup_sim_disk_seed9999.fits", 9999)
    visits, wall, _ = asyncio.run(run(url, [path], STEP_MS / 1000, 0.0, server_pid))
    if visits[0].error:
        raise RuntimeError(f"the warm-up visit failed: {visits[0].error}")
    return wall


def scenario(root: Path, env: dict, n_visitors: int, ramp_s: float, timeout_s: float, warm: bool = True) -> dict:
    """One load run on a fresh server: its table row, memory figures, first error and per-visit lines."""
    with tempfile.TemporaryDirectory() as tmp:
        files = upload_files(Path(tmp), n_visitors)
        with AppServer(root, env=env, log_path=LOGS_DIR / f"bench_load_server_{n_visitors}.log") as server:
            idle_mib = server.memory.sample()
            warm_s = warm_up(server.url, Path(tmp), server.proc.pid) if warm else None
            cpu0 = cpu_seconds(server.proc.pid)
            try:
                visits, wall, browser_cpu = asyncio.run(run(server.url, files, timeout_s, ramp_s, server.proc.pid))
            except Exception:  # noqa: BLE001 - report what happened, with the server's log
                traceback.print_exc()
                print(server.log_tail())
                raise
            server_cpu = cpu_seconds(server.proc.pid) - cpu0
            peak_tree, peak_hwm = server.memory.peak_tree_mib, server.memory.peak_hwm_mib
            log_tail = server.log_tail(1500)
    done = [v for v in visits if v.completed]
    errors = [v for v in visits if v.error]
    lat = [v.latency_s for v in done]
    opens = [v.open_s for v in visits if v.open_s is not None]
    row = [
        n_visitors, "at once" if not ramp_s else f"over {ramp_s:g} s", len(done), len(errors),
        f"{percentile(lat, 50):.1f}", f"{percentile(lat, 95):.1f}", f"{max(lat):.1f}" if lat else "nan",
        f"{percentile(opens, 50):.1f}", f"{wall:.0f}", f"{peak_tree:.0f}", f"{server_cpu / max(wall, 1e-9):.2f}",
        f"{server_cpu / n_visitors:.1f}", f"{browser_cpu / max(wall, 1e-9):.2f}",
    ]
    for v in visits:
        print(f"visitor {v.index:2d} {v.upload.name:40s} open {v.open_s or float('nan'):6.1f} s "
              f"upload→recon {v.latency_s or float('nan'):6.1f} s {v.error or ''}")
        print("    " + ", ".join(f"{name} {t:.1f}" for name, t in v.marks))
    if errors:
        print("server log tail:\n" + log_tail)
    phases = {}  # median seconds of each step of the completed visits
    for a, b, label in [("context", "data page", "open"), ("data page", "uploaded", "upload shown on the Data page"),
                        ("uploaded", "recon page", "switch to Reconstruct"),
                        ("recon page", "reconstructed", "reconstruction and metrics shown")]:
        spans = [dict(v.marks)[b] - dict(v.marks)[a] for v in done]
        phases[label] = percentile(spans, 50)
    n_examples = sum(1 for f in files if not f.name.split("_", 1)[1].startswith("sim"))
    return {"row": row, "phases": phases, "idle_mib": idle_mib, "warm_s": warm_s, "peak_hwm": peak_hwm, "n_examples": n_examples,
            "first_error": errors[0].error if errors else None, "n_errors": len(errors)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, nargs="+", default=[20],
                        help="concurrent browser sessions; several values run one after the other (e.g. 1 20)")
    parser.add_argument("--timeout", type=float, default=600.0, help="overall limit of one run in seconds")
    parser.add_argument("--ramp", type=float, nargs="+", default=[0.0],
                        help="spread the visitors' arrival over this many seconds; several values, several runs")
    parser.add_argument("--local", action="store_true", help="laptop settings instead of EQUISCOPE_HOSTED=1")
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip the untimed first visit that loads the models before the visitors arrive")
    parser.add_argument("--root", type=Path, default=ROOT, help="folder holding app.py and checkpoints/")
    parser.add_argument("--no-record", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    from core.checkpoints import list_checkpoints

    env = {} if args.local else {"EQUISCOPE_HOSTED": "1"}
    load_before = load_average()
    runs = []
    for n in args.visitors:
        for ramp in (args.ramp if n > 1 else [0.0]):
            print(f"--- {n} visitors, arrival over {ramp:g} s", flush=True)
            runs.append(scenario(args.root, env, n, ramp, args.timeout, warm=not args.no_warmup))
    load_after = load_average()

    models = ", ".join(f"{e['name']} (sha256 {(e.get('sha256') or '?')[:12]}…)" for e in list_checkpoints(
        [Path(args.root) / "checkpoints"]))
    errors = [f"{r['row'][0]} visitors {r['row'][1]}: {r['first_error']}" for r in runs if r["first_error"]]
    phases = "; ".join(f"{r['row'][0]} visitors {r['row'][1]}: " + ", ".join(
        f"{k} {v:.1f} s" for k, v in r["phases"].items()) for r in runs)
    memory = "; ".join(f"{r['row'][0]} visitors {r['row'][1]}: {r['idle_mib']:.0f} MiB idle, peak "
                       f"{r['row'][9]} MiB, largest VmHWM {r['peak_hwm']:.0f} MiB" for r in runs)
    if args.no_warmup:
        warm_text = "No warm-up: the first visitors also load the models. "
    else:
        warm_times = ", ".join(f"{r['warm_s']:.0f} s" for r in runs)
        warm_text = ("Before the visitors, one untimed warm-up visit (a simulated disk no visitor uploads) loaded the "
                     f"models, as after a hosted start ({warm_times}). ")
    notes = (
        f"{'Hosted mode (EQUISCOPE_HOSTED=1)' if not args.local else 'Laptop settings'}; each row is a fresh server "
        f"and one headless Chromium with one browser context per visitor, all on the same 2-core machine; "
        f"overall timeout {args.timeout:.0f} s per row. Uploads: the first {runs[-1]['n_examples']} are copies of the "
        f"shipped examples (own file names), the rest freshly simulated disks (FITS) and lenses (.npy). "
        f"Latency = upload given to the Data page's uploader → the Reconstruct page (sidebar link) shows "
        f"original, reconstruction and residual of every autoencoder with their metrics, and its run has finished. "
        f"Open = new browser context → Data page rendered. Median time of each step ({phases}). "
        f"{warm_text}"
        f"Server memory (sampled VmRSS of the server's process "
        f"tree): {memory}. CPU cores = CPU seconds of the server's / Chromium's (+ Playwright driver's) processes "
        f"over the wall time. Machine load (1/5/15-min load average; colleagues were training models): "
        f"{load_before} before, {load_after} after. Checkpoints: {models or 'none'}.\n\n"
        f"First error: {' | '.join(errors) if errors else '—'}"
    )
    rows = [r["row"] for r in runs]
    if args.no_record:
        from bench.record import markdown_table

        print(markdown_table(HEADER, rows))
        print(notes)
    else:
        title = f"Load: {'/'.join(str(n) for n in args.visitors)} concurrent visitors upload and reconstruct"
        record("load", title, HEADER, rows, notes)
    return 0 if not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
