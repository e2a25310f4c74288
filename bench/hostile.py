"""Hostile visitors against a hosted server: crafted links and bomb files, then heavy links beside a normal visitor.

    .venv/bin/python -m bench.hostile [--heavy 6] [--no-record]

One `streamlit run app.py` server in hosted mode (EQUISCOPE_HOSTED=1) and headless Chromium
(bench/_server.py). Part 1: each crafted link of issue 22 and each bomb file (a zip of a
15400 x 15400 float64 .npy of zeros; a FITS cube declaring 10 million planes) is opened or
uploaded by its own visitor, one after another; reported: seconds until the page is idle, the
server's extra resident memory over its level before (peak of 0.25-s samples), whether a
traceback was shown, and the first sentence the page showed. Part 2: a normal visitor opens a
simulated lens on the Lenses page, first on a quiet server, then while `--heavy` visitors open
the heavy lens link with different seeds at the same moment; reported: both times and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from bench._server import APP_IDLE, EXCEPTION, PLOT, UPLOADER, AppServer, launch_browser
from bench.record import record
from core.paths import LOGS_DIR

STEP_MS = 120_000
HOSTILE_LINKS = {
    "lens with 50 000 subhalos": "?sim=lens&sim_lens_sub=cdm&sim_lens_n=50000&sim_lens_seed=7",
    "disk with 1000 planets": "?sim=disk&sim_disk_n=1000",
    "disk with -5 planets": "?sim=disk&sim_disk_n=-5",
    "disk field of view 0 au": "?sim=disk&sim_disk_fov=0",
    "Einstein radius 1e30 arcsec": "?sim=lens&sim_lens_theta=1e30",
    "feature-map angle 'abc'": "?page=feature_maps&example=lens_cdm.npy&fm_angle=abc",
}
NORMAL_LINK = "?page=lenses&sim=lens&sim_lens_sub=vortex&sim_lens_seed={seed}"
HEAVY_LINK = "?page=lenses&sim=lens&sim_lens_sub=cdm&sim_lens_n=50000&sim_lens_seed={seed}"
MESSAGES = '[data-testid="stAlert"], [data-testid="stNotification"], [data-testid="stToast"]'


def zip_bomb(path: Path, side: int = 15400) -> Path:
    """A small zip holding one `side` x `side` float64 .npy of zeros (written in chunks, never whole in memory)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (side, side)})
    row_block = bytes(8 * side * 256)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf, \
            zf.open("zeros.npy", "w", force_zip64=True) as member:
        member.write(header.getvalue())
        for start in range(0, side, 256):
            member.write(row_block[: 8 * side * min(256, side - start)])
    return path


def plane_bomb(path: Path, planes: int = 10_000_000) -> Path:
    """A FITS file whose header declares a 4 x 4 x `planes` cube, with one block of data."""
    cards = ["SIMPLE  =                    T", "BITPIX  =                  -32", "NAXIS   =                    3",
             "NAXIS1  =                    4", "NAXIS2  =                    4", f"NAXIS3  = {planes:20d}", "END"]
    header = "".join(c.ljust(80) for c in cards).ljust(2880).encode("ascii")
    path.write_bytes(header + bytes(2880 * 6))
    return path


async def _first_message(page) -> str:
    boxes = page.locator(MESSAGES)
    for i in range(await boxes.count()):
        text = (await boxes.nth(i).inner_text()).strip()
        if text:
            return " ".join(text.split())[:160]
    return ""


async def _settle(page, timeout_ms: int = STEP_MS) -> None:
    await page.wait_for_timeout(400)
    await page.wait_for_selector(APP_IDLE, timeout=timeout_ms)


async def hostile_case(browser, server: AppServer, link: str | None, upload: Path | None) -> list:
    """One visitor opens `link` or uploads `upload`: [seconds, extra MiB, traceback?, first message]."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    try:
        if upload is not None:
            await page.goto(server.url, timeout=STEP_MS)
            await page.wait_for_selector(UPLOADER, timeout=STEP_MS)
            await _settle(page)
        before = server.memory.sample()
        n0 = len(server.memory.samples)
        t0 = time.monotonic()
        if upload is not None:
            await page.locator('input[type="file"]').first.set_input_files(str(upload))
        else:
            await page.goto(server.url + "/" + link, timeout=STEP_MS)
        try:
            await _settle(page)
            seconds = time.monotonic() - t0
        except Exception:  # noqa: BLE001 - a page that never settles is the finding
            seconds = float("inf")
        extra = max(rss for _, rss in server.memory.samples[n0 - 1:]) - before
        traceback_shown = await page.locator(EXCEPTION).count() > 0
        return [f"{seconds:.1f}", f"{extra:.0f}", "yes" if traceback_shown else "no", await _first_message(page)]
    finally:
        await context.close()


async def open_lenses(browser, url: str) -> float:
    """Seconds from opening `url` until the Lenses page is idle with a figure drawn."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = await context.new_page()
        t0 = time.monotonic()
        await page.goto(url, timeout=STEP_MS * 3)
        await page.wait_for_selector(PLOT, timeout=STEP_MS * 3)
        await _settle(page, STEP_MS * 3)
        return time.monotonic() - t0
    finally:
        await context.close()


async def run(server: AppServer, folder: Path, n_heavy: int) -> tuple[list[list], list[list]]:
    from playwright.async_api import async_playwright

    files = {"zip bomb (15400² float64 zeros)": zip_bomb(folder / "bomb.zip"),
             "FITS cube declaring 10⁷ planes": plane_bomb(folder / "planes.fits")}
    async with async_playwright() as p:
        browser = await launch_browser(p)
        try:
            await open_lenses(browser, server.url + "/" + NORMAL_LINK.format(seed=1))  # warm: models loaded
            cases = [[name, "link", *await hostile_case(browser, server, link, None)]
                     for name, link in HOSTILE_LINKS.items()]
            cases += [[name, "upload", *await hostile_case(browser, server, None, path)]
                      for name, path in files.items()]
            quiet = await open_lenses(browser, server.url + "/" + NORMAL_LINK.format(seed=2))
            heavy = [asyncio.create_task(open_lenses(browser, server.url + "/" + HEAVY_LINK.format(seed=100 + i)))
                     for i in range(n_heavy)]
            await asyncio.sleep(1.0)
            loaded = await open_lenses(browser, server.url + "/" + NORMAL_LINK.format(seed=3))
            heavy_s = await asyncio.gather(*heavy)
        finally:
            await browser.close()
    load_rows = [[n_heavy, f"{quiet:.1f}", f"{loaded:.1f}", f"{loaded / quiet:.2f}", f"{max(heavy_s):.1f}"]]
    return cases, load_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heavy", type=int, default=6, help="heavy links opened beside the normal visitor")
    parser.add_argument("--no-record", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, \
            AppServer(env={"EQUISCOPE_HOSTED": "1"}, log_path=LOGS_DIR / "bench_hostile_server.log") as server:
        cases, load_rows = asyncio.run(run(server, Path(tmp), args.heavy))
    header = ["hostile input", "via", "s until idle", "extra server MiB", "traceback", "what the page said"]
    load_header = ["heavy links at once", "normal visitor quiet s", "with heavy links s", "ratio", "slowest heavy link s"]
    if args.no_record:
        from bench.record import markdown_table

        print(markdown_table(header, cases))
        print(markdown_table(load_header, load_rows))
        return 0
    record("hostile", "Hostile visitors on a hosted server (issue 22)", header, cases,
           notes="Targets: one sentence, no traceback, <= 20 s and <= 500 MB extra per hostile input.")
    record("hostile_load", "A normal visitor beside heavy links (hosted)", load_header, load_rows,
           notes="Target: the normal visitor's page within 2x its quiet time.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
