"""App latency in a real browser, on a quiet machine or with a training job on the cores.

    .venv/bin/python -m bench.app_latency [--repeats 5] [--cold-repeats 3] [--load {none,train,matmul}]
                                          [--only angle,flip,upload,switch,...] [--no-record] [--root DIR]

Targets: cold start <= 10 s; every warm interaction <= 1 s on a quiet machine (--load none) and
<= 2 s with another training job on the cores (--load train: bench/cpu_load.py starts a real
training job on 2 torch threads before the server and waits for its first batch; --load matmul: a
matrix-product loop on 2 threads, the same load on any machine). Warm interactions are reported as
p50 / p90 / max over the repeats; "met" means p90 <= target. A full run records its table in
BENCHMARKS.md: section `app_latency` (quiet) or `app_latency_loaded` (with --load), with the
machine and the command; `--only` (a subset, e.g. a smoke run) prints and records nothing.

Each measurement drives `streamlit run app.py` (bench/_server.py) from headless Chromium, the way
a visitor does (waits are for what the visitor waits for, then for the script run to finish):

- cold (cold start): the server process is started -> the Data page is rendered (its title and
  the file uploader visible, and the page's script run finished). The browser is already open;
  the server is a fresh process each time (imports from a warm OS file cache).
- angle (Equivariance lab, everything computed once): the slider's thumb is moved one degree with
  the keyboard -> the first figure holds new pixels, and then -> the page's rerun has finished.
- flip (Equivariance lab, curves measured once for both flips): a click on the Flip toggle -> the
  first figure holds new pixels, then -> the page's rerun has finished.
- upload (the Latent map built once): a file the server has not seen is given to the Data page's
  uploader -> (sidebar link to Latent map) -> the star of that file is in the map's figure; also
  split into the Data page part and the map part.
- switch (every page visited once): a sidebar click from one page to the next of SWITCH_PAGES ->
  the new page's title drawn, its run finished and its first figure drawn; `repeats` rounds.
- visitor: a second browser session on the warmed-up server, with an image the server has not
  seen: its first visits of Equivariance lab and Latent map.
- server: the angle and Latent-map reruns timed with Streamlit's AppTest in this process (no
  browser): the rest of a browser figure is transport and the front end.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from bench._server import (
    APP_IDLE,
    BADGE,
    EXCEPTION,
    NAV_LINK,
    PLOT,
    ROOT,
    UPLOADER,
    AppServer,
    launch_browser,
    load_average,
    percentile,
)
from bench.load import disk_fits
from bench.record import record
from core.paths import LOGS_DIR

TARGET_COLD_S = 10.0
TARGET_WARM_S = {False: 1.0, True: 2.0}  # quiet, loaded
TARGET_VISITOR_S = 5.0
INTERACTIONS = ("cold", "angle", "flip", "upload", "switch", "visitor", "server")
SWITCH_PAGES = ("Reconstruct", "Feature maps", "Latent map", "Equivariance lab", "Data")  # a disk image's pages, in a cycle
VIEWPORT = {"width": 1400, "height": 1000}
TITLE = 'h1:has-text("Data")'
LONG_MS = 600_000  # first builds (reference set, t-SNE) on a busy 2-core machine
STEP_MS = 120_000

FIRST_PLOT_PIXELS = f"""() => {{
    const gd = document.querySelector('{PLOT}');
    if (!gd || !gd.data || !gd.data.length) return null;
    const z = gd.data[0].z;
    return z && z.bdata !== undefined ? z.bdata : JSON.stringify(z);
}}"""

FIRST_PLOT_DRAWN = f"""() => {{
    const gd = document.querySelector('{PLOT}');
    return !!(gd && gd._fullLayout && gd.querySelector('.main-svg'));
}}"""

HAS_TRACE = f"""(name) => Array.from(document.querySelectorAll('{PLOT}'))
    .some(gd => (gd.data || []).some(t => t.name === name && t.x && (t.x.length || t.x.bdata)))"""


def wait_idle_now(page, timeout_ms: int = LONG_MS) -> None:
    """Wait for the idle state with no grace period (used once a rerun is known to have happened)."""
    page.wait_for_selector(APP_IDLE, timeout=timeout_ms)


def goto_page(page, title: str) -> None:
    """Client-side navigation through the sidebar, which keeps the session's current image."""
    page.locator(NAV_LINK, has_text=title).first.click()


def arrive(page, title: str, timeout_ms: int = LONG_MS) -> None:
    """After a click on `title`'s sidebar link: its title is drawn (the new run is under way), then the run ends."""
    page.locator("h1", has_text=title).first.wait_for(timeout=timeout_ms)
    wait_idle_now(page, timeout_ms)


def check_no_exception(page, where: str) -> None:
    errors = page.locator(EXCEPTION)
    if errors.count():
        raise RuntimeError(f"{where}: the app shows an exception: {errors.first.inner_text()[:500]}")


# ---------------------------------------------------------------- the measurements


def cold_start(playwright, root: Path, repeats: int) -> tuple[list[float], list[float], tuple[int, float]]:
    """(process start -> Data page rendered, process start -> health "ok") in seconds, per repeat,
    and (requests, MB of response bodies) a fresh browser fetched for the first render."""
    rendered, healthy, transfer = [], [], (0, 0.0)
    browser = launch_browser(playwright)
    try:
        for i in range(repeats):
            page = browser.new_page(viewport=VIEWPORT)  # a new context: empty browser cache
            requests = []
            page.on("requestfinished", lambda request, seen=requests: seen.append(request))
            with AppServer(root, log_path=LOGS_DIR / f"bench_app_latency_cold{i}.log") as server:
                page.goto(server.url)
                page.wait_for_selector(TITLE, state="visible", timeout=STEP_MS)
                page.wait_for_selector(UPLOADER, state="visible", timeout=STEP_MS)
                page.wait_for_selector(APP_IDLE, state="attached", timeout=STEP_MS)
                rendered.append(time.monotonic() - server.started_at)
                healthy.append(server.healthy_after_s)
                check_no_exception(page, "cold start")
                if i == 0:
                    transfer = (len(requests), sum(r.sizes()["responseBodySize"] for r in requests) / 1e6)
            page.close()
            print(f"cold start {i + 1}/{repeats}: {rendered[-1]:.2f} s (health after {healthy[-1]:.2f} s)", flush=True)
    finally:
        browser.close()
    return rendered, healthy, transfer


def first_visit(page, title: str) -> float:
    """Seconds from the sidebar click to the page's first run finished (builds what the page needs once)."""
    t0 = time.monotonic()
    goto_page(page, title)
    arrive(page, title)
    check_no_exception(page, title)
    return time.monotonic() - t0


def rotation_angle(page, repeats: int) -> tuple[list[float], list[float]]:
    """(keypress -> first figure updated, keypress -> page rerun finished) in seconds, per repeat.

    The Equivariance lab is already open."""
    slider = page.locator('[data-testid="stSlider"] input[type="range"]').first
    figure, whole = [], []
    for _ in range(repeats):
        before = page.evaluate(FIRST_PLOT_PIXELS)
        value = slider.get_attribute("value")
        slider.focus()
        t0 = time.monotonic()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"(old) => ({FIRST_PLOT_PIXELS})() !== old", arg=before, timeout=STEP_MS)
        figure.append(time.monotonic() - t0)
        wait_idle_now(page)
        whole.append(time.monotonic() - t0)
        check_no_exception(page, "Equivariance lab")
        print(f"rotation {value} -> {slider.get_attribute('value')} deg: figure {figure[-1]:.2f} s, "
              f"page {whole[-1]:.2f} s", flush=True)
    return figure, whole


def flip_toggle(page, repeats: int) -> tuple[list[float], list[float]]:
    """(click on Flip -> first figure updated, click -> page rerun finished) in seconds, per repeat.

    The Equivariance lab is open and its curves were measured once (both flips at once), so a
    toggle only redraws."""
    toggle = page.locator('[data-testid="stCheckbox"]', has_text="Flip").first
    figure, whole = [], []
    for _ in range(repeats):
        before = page.evaluate(FIRST_PLOT_PIXELS)
        t0 = time.monotonic()
        toggle.click()
        page.wait_for_function(f"(old) => ({FIRST_PLOT_PIXELS})() !== old", arg=before, timeout=STEP_MS)
        figure.append(time.monotonic() - t0)
        wait_idle_now(page)
        whole.append(time.monotonic() - t0)
        check_no_exception(page, "Equivariance lab (flip)")
        print(f"flip toggle: figure {figure[-1]:.2f} s, page {whole[-1]:.2f} s", flush=True)
    return figure, whole


def upload_on_map(page, files: list[Path]) -> tuple[list[float], list[float], list[float]]:
    """(upload -> star on the map, upload -> Data page shows it, nav click -> star) in seconds, per file.

    The map was built before (by the first visit to the Latent map)."""
    total, data_part, map_part = [], [], []
    for path in files:
        goto_page(page, "Data")
        arrive(page, "Data")
        t0 = time.monotonic()
        page.locator('input[type="file"]').first.set_input_files(str(path))
        page.locator(BADGE, has_text=f"Current image: {path.name}").first.wait_for(
            timeout=STEP_MS)  # the badge names the new current image once the Data page has read the upload
        wait_idle_now(page)
        t1 = time.monotonic()
        goto_page(page, "Latent map")
        page.wait_for_function(HAS_TRACE, arg=path.name, timeout=STEP_MS)
        t2 = time.monotonic()
        check_no_exception(page, "Latent map")
        total.append(t2 - t0)
        data_part.append(t1 - t0)
        map_part.append(t2 - t1)
        wait_idle_now(page)
        print(f"upload {path.name}: {total[-1]:.2f} s (Data page {data_part[-1]:.2f} s, map {map_part[-1]:.2f} s)",
              flush=True)
    return total, data_part, map_part


def page_switches(page, repeats: int) -> dict[str, list[float]]:
    """{page title: seconds per switch to it}: sidebar click -> its title drawn, run finished, first figure drawn.

    Every page of SWITCH_PAGES is visited once first (untimed: what a page builds once), then the
    cycle is walked `repeats` times; each switch comes from the page before it in the cycle."""
    has_plot = {}
    for title in SWITCH_PAGES:
        first_visit(page, title)
        has_plot[title] = page.locator('[data-testid="stPlotlyChart"]').count() > 0
    times = {title: [] for title in SWITCH_PAGES}
    for _ in range(repeats):
        for title in SWITCH_PAGES:
            t0 = time.monotonic()
            goto_page(page, title)
            arrive(page, title, STEP_MS)
            if has_plot[title]:
                page.wait_for_function(FIRST_PLOT_DRAWN, timeout=STEP_MS)
            times[title].append(time.monotonic() - t0)
            check_no_exception(page, title)
        print("page switch: " + ", ".join(f"{t} {v[-1]:.2f} s" for t, v in times.items()), flush=True)
    return times


def second_visitor(browser, url: str, path: Path) -> tuple[float, float]:
    """A new session on the warmed-up server (models loaded, reference map built by the first visitor) with
    an image the server has not seen: (first visit to Equivariance lab, first visit to Latent map) in seconds.
    The lab still measures its curves for the new image, the map still places it."""
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(url)
        arrive(page, "Data")
        page.locator('input[type="file"]').first.set_input_files(str(path))
        page.locator(BADGE, has_text=f"Current image: {path.name}").first.wait_for(timeout=STEP_MS)
        wait_idle_now(page)
        eq = first_visit(page, "Equivariance lab")
        lm = first_visit(page, "Latent map")
        print(f"second visitor: Equivariance lab {eq:.2f} s, Latent map {lm:.2f} s", flush=True)
        return eq, lm
    finally:
        page.close()


def server_side(files: list[Path], repeats: int) -> tuple[list[float], list[float]]:
    """Script-run seconds of the angle and upload interactions without a browser (Streamlit's AppTest, this process).

    (Equivariance lab rerun for a new angle, Latent map rerun for a new current image); the
    difference to the browser figures is websocket, front end and drawing.
    """
    from streamlit.testing.v1 import AppTest

    from core.io import read_image

    def page(path: str, image) -> AppTest:
        at = AppTest.from_file(str(ROOT / path), default_timeout=LONG_MS / 1000)
        at.session_state["current_image"] = {"data": image.data, "meta": image.meta, "name": image.meta.filename,
                                             "kind": "disk"}
        at.run()  # first run: models, reference map
        if at.exception:
            raise RuntimeError(f"{path}: {at.exception[0].value}")
        return at

    images = [read_image(f) for f in files]
    eq, angles = page("pages/equivariance.py", images[0]), []
    for i in range(repeats):
        t0 = time.monotonic()
        eq.slider(key="eq_angle").set_value(91.0 + i).run()
        angles.append(time.monotonic() - t0)
    lm, placed = page("pages/latent_map.py", images[0]), []
    for image in images[1:]:
        lm.session_state["current_image"] = {"data": image.data, "meta": image.meta, "name": image.meta.filename,
                                             "kind": "disk"}
        t0 = time.monotonic()
        lm.run()
        placed.append(time.monotonic() - t0)
    if eq.exception or lm.exception:
        raise RuntimeError(f"AppTest: {(eq.exception or lm.exception)[0].value}")
    return angles, placed


# ---------------------------------------------------------------- the table


HEADER = ["measurement", "n", "p50 s", "p90 s", "max s", "target s", "met", "rendered ="]


def timed_row(what: str, values: list[float], target: float | None, rendered: str, digits: int = 2) -> list:
    """One row: p50 / p90 / max of `values`; met = p90 within the target."""
    p50, p90 = percentile(values, 50), percentile(values, 90)
    met = "—" if target is None else ("yes" if p90 <= target else "no")
    return [what, len(values), f"{p50:.{digits}f}", f"{p90:.{digits}f}", f"{max(values):.{digits}f}",
            "—" if target is None else f"≤ {target:g}", met, rendered]


def warm_rows(page, browser, server_url: str, files: list[Path], later: Path, want: set[str], repeats: int,
              target: float) -> list[list]:
    """The warm interactions asked for (`want`) in one browser session, as table rows."""
    rows, once = [], []
    if want & {"angle", "flip"}:
        once.append(("first visit to Equivariance lab after the server start", first_visit(page, "Equivariance lab")))
    if "angle" in want:
        figure, whole = rotation_angle(page, repeats)
        rows += [timed_row("new rotation angle → first figure updated", figure, target, "new pixels in the first figure"),
                 timed_row("new rotation angle → page rerun finished", whole, target, "all figures of the page sent")]
    if "flip" in want:
        figure, whole = flip_toggle(page, repeats)
        rows += [timed_row("Flip toggled → first figure updated", figure, target, "new pixels in the first figure"),
                 timed_row("Flip toggled → page rerun finished", whole, target, "curves redrawn from the cache")]
    if "upload" in want:
        once.append(("first visit to Latent map after the server start", first_visit(page, "Latent map")))
        total, data_part, map_part = upload_on_map(page, files[1:])
        rows += [timed_row("new upload → its star on the Latent map", total, target, "star trace in the map figure"),
                 timed_row("… of which: upload → Data page shows it", data_part, None, "badge names the file, run finished"),
                 timed_row("… of which: navigation → star on the map", map_part, None, "star trace in the map figure")]
    if "switch" in want:
        times = page_switches(page, repeats)
        rows.append(timed_row("page switch (sidebar click), all pages", [t for v in times.values() for t in v], target,
                              "title drawn, run finished, first figure drawn"))
        rows += [timed_row(f"… to {title}", values, target, "same") for title, values in times.items()]
    if "visitor" in want:
        eq, lm = second_visitor(browser, server_url, later)
        rows += [timed_row("after the warm-up: a new visitor's first visit to Equivariance lab (new image)", [eq],
                           TARGET_VISITOR_S, "run finished, figures drawn"),
                 timed_row("after the warm-up: a new visitor's first visit to Latent map (new image)", [lm],
                           TARGET_VISITOR_S, "run finished, figures drawn")]
    rows += [timed_row(f"{what} (once per server)", [s], None, "run finished, figures drawn") for what, s in once]
    return rows


def browser_rows(playwright, args, want: set[str], target: float) -> tuple[list[list], dict]:
    """Cold starts and the warm interactions in a real browser; (rows, facts for the notes)."""
    rows, facts = [], {}
    if "cold" in want and args.cold_repeats > 0:
        cold, health, (facts["requests"], facts["megabytes"]) = cold_start(playwright, args.root, args.cold_repeats)
        rows += [timed_row("cold start: process start → Data page rendered", cold, TARGET_COLD_S,
                           "title + uploader visible, run finished"),
                 timed_row("cold start: process start → health 'ok' (part of the above)", health, None, "/_stcore/health")]
    if not want - {"cold", "server"}:
        return rows, facts
    with tempfile.TemporaryDirectory() as tmp, \
            AppServer(args.root, log_path=LOGS_DIR / "bench_app_latency_warm.log") as server:
        files = [disk_fits(Path(tmp) / f"bench_disk_seed{1000 + i}.fits", 1000 + i) for i in range(args.repeats + 2)]
        later = files.pop()  # the image of a second visitor, after the server's warm-up
        browser = launch_browser(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(server.url)
            arrive(page, "Data")
            page.locator('input[type="file"]').first.set_input_files(str(files[0]))
            page.locator(BADGE, has_text=f"Current image: {files[0].name}").first.wait_for(timeout=STEP_MS)
            wait_idle_now(page)
            rows += warm_rows(page, browser, server.url, files, later, want, args.repeats, target)
        finally:
            browser.close()
        facts["peak_mib"] = server.memory.peak_tree_mib
    return rows, facts


def server_rows(args) -> list[list]:
    """The AppTest rows (this checkout's pages in this process), or none for another --root."""
    if Path(args.root).resolve() != ROOT:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        files = [disk_fits(Path(tmp) / f"apptest_disk_seed{1500 + i}.fits", 1500 + i) for i in range(args.repeats + 1)]
        angle, place = server_side(files, args.repeats)
    return [timed_row("server only: Equivariance lab rerun for a new angle", angle, None, "AppTest script run", 3),
            timed_row("server only: Latent map rerun for a new image", place, None, "AppTest script run", 3)]


def notes(args, load, facts: dict, loads: tuple[str, str], load_cores: float | None) -> str:
    from core.checkpoints import list_checkpoints

    models = ", ".join(f"{e['name']} (sha256 {(e.get('sha256') or '?')[:12]}…)" for e in list_checkpoints(
        [Path(args.root) / "checkpoints"]))
    target = TARGET_WARM_S[load is not None]
    background = ("none started by the benchmark (a quiet machine: the load average below says how quiet)"
                  if load is None else f"{load.describe()}, started before the server and running from its first "
                  f"batch on; it used {load_cores:.2f} cores on average while the measurements ran")
    transfer = (f" A fresh browser fetched {facts['requests']} responses, {facts['megabytes']:.1f} MB of bodies, for "
                "the first render (the front end, cacheable)." if "requests" in facts else "")
    memory = (f" Server peak memory during the warm runs (VmRSS of its process tree): {facts['peak_mib']:.0f} MiB."
              if "peak_mib" in facts else "")
    return (
        f"Seconds: p50 / p90 / max over the repeats; 'met' = p90 ≤ target (warm interactions ≤ {target:g} s "
        f"{'with the load' if load else 'on a quiet machine'}). Laptop settings (EQUISCOPE_HOSTED unset), server "
        f"OMP_NUM_THREADS=1. Background load: {background}. Machine load average (1/5/15 min, "
        f"{_cores()} cores): {loads[0]} before, {loads[1]} after.{memory}{transfer} Checkpoints served: "
        f"{models or 'none'}.\n\n"
        "What 'rendered' means: headless Chromium (Debian's, via Playwright) waits for what a visitor sees. Cold start "
        "= fresh `streamlit run app.py` process (browser open, OS file cache warm) until the Data page's title and file "
        "uploader are visible and its run has finished. Rotation = one ArrowRight on the Equivariance lab's angle "
        "slider (1°) until the first figure holds new pixels (includes the slider's own delay before it sends the "
        "value), then until the page's whole rerun has finished. Flip = one click on the lab's Flip toggle, timed the "
        "same way (the curves of both flips were measured on the first visit). Upload = a freshly simulated 129 px "
        "disk FITS never seen by the server, given to the Data page's uploader, then the sidebar link to Latent map, "
        "until a trace named after the file (its star) is in the map's figure; the map was built before timing "
        f"started. Page switch = a sidebar click through {' → '.join(SWITCH_PAGES)} → …, each page visited once "
        "before (untimed), until the new page's title is drawn, its run has finished and its first figure is drawn. "
        "First visits load the models and build the reference map once per server process (latents and map are also "
        "cached on disk under cache/). 'After the warm-up' rows: a second browser session on the same server, with "
        "an image the server has not seen. 'Server only' rows time the same reruns with Streamlit's AppTest in the "
        "benchmark's process: the rest of a browser figure is transport, the front end and drawing in a "
        "software-rendered headless Chromium on the same cores."
    )


def _cores() -> int:
    import os

    return os.cpu_count() or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="warm interactions of each kind (rounds of page switches)")
    parser.add_argument("--cold-repeats", type=int, default=3, help="cold starts (a fresh server each)")
    parser.add_argument("--load", choices=["none", "train", "matmul"], default="none",
                        help="background CPU load started first (bench/cpu_load.py): a training job or a matmul loop, "
                             "2 threads")
    parser.add_argument("--only", default=",".join(INTERACTIONS),
                        help=f"comma-separated subset of {','.join(INTERACTIONS)}; a subset is printed, not recorded")
    parser.add_argument("--root", type=Path, default=ROOT, help="folder holding app.py and checkpoints/")
    parser.add_argument("--no-record", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    want = {w.strip() for w in args.only.split(",") if w.strip()}
    if not want or want - set(INTERACTIONS):
        parser.error(f"--only takes a comma-separated subset of {', '.join(INTERACTIONS)}; got {args.only!r}.")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1.")
    from playwright.sync_api import sync_playwright

    from bench.cpu_load import CpuLoad

    loaded = args.load != "none"
    target = TARGET_WARM_S[loaded]
    before = load_average()
    if not loaded and float(before.split(" / ")[0]) > 0.5 * _cores():
        print(f"note: the machine is not quiet (load average {before}); the quiet-machine figures will be slower.", flush=True)
    with (CpuLoad(args.load) if loaded else nullcontext()) as load:
        if load is not None:
            print(f"background load running: {load.describe()}", flush=True)
            load.mark()
        with sync_playwright() as p:
            rows, facts = browser_rows(p, args, want, target)
        if "server" in want:
            rows += server_rows(args)
        load_cores = load.cores() if load is not None else None
        after = load_average()
        text = notes(args, load, facts, (before, after), load_cores)
    title = ("App latency in a real browser, quiet machine (cold start, warm interactions)" if not loaded else
             f"App latency in a real browser with a {'training job' if args.load == 'train' else 'matmul loop'} "
             "on the cores (warm interactions)")
    if args.no_record or want != set(INTERACTIONS):
        from bench.record import markdown_table

        print(markdown_table(HEADER, rows))
        print(text)
    else:
        record("app_latency_loaded" if loaded else "app_latency", title, HEADER, rows, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
