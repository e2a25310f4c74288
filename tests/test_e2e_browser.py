"""End to end in a real browser: `streamlit run app.py`, upload a FITS file, visit the pages.

Covers what AppTest cannot: the file input, the client-side navigation that keeps the
session's current image, and plotly actually drawing in Chromium. Screenshots go to
test-artifacts/screenshots/ (EQUISCOPE_SCREENSHOTS=docs/screenshots for the README). Needs Debian's Chromium: `apt-get install chromium chromium-driver`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest

from bench._server import APP_IDLE, CHROMIUM, AppServer, drag_zoom, launch_browser
from core.atomic import atomic_write_bytes
from core.paths import REPO_ROOT, TEST_ARTIFACTS_DIR

# Screenshots go to test-artifacts/screenshots; EQUISCOPE_SCREENSHOTS=docs/screenshots refreshes the README's.
SCREENSHOTS = (REPO_ROOT / os.environ["EQUISCOPE_SCREENSHOTS"] if os.environ.get("EQUISCOPE_SCREENSHOTS")
               else TEST_ARTIFACTS_DIR / "screenshots")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium: "
                       "apt-get install chromium chromium-driver"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A `streamlit run app.py` subprocess on a free port (bench/_server.AppServer); yields its base URL."""
    yield from _serve(REPO_ROOT, tmp_path_factory)


def _serve(root: Path, tmp_path_factory):
    """Serve the app in `root` (laptop mode) until the generator is closed; yields its base URL."""
    app = AppServer(root=root, env={"EQUISCOPE_HOSTED": "0"}, log_path=tmp_path_factory.mktemp("server") / "streamlit.log")
    try:
        app.start(timeout_s=60)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield app.url
    finally:
        app.stop()


@pytest.fixture(scope="module")
def fits_file(tmp_path_factory) -> Path:
    """A 2-D disk-like FITS image (a ring with a gap) written with astropy."""
    from astropy.io import fits

    yy, xx = np.mgrid[-64:65, -64:65].astype(np.float32)
    r = np.hypot(xx, yy)
    image = np.exp(-r / 25.0) * (1.0 - 0.8 * np.exp(-0.5 * ((r - 30.0) / 3.0) ** 2))
    hdu = fits.PrimaryHDU(image.astype(np.float32))
    hdu.header["BUNIT"] = "Jy/beam"
    path = tmp_path_factory.mktemp("fits") / "e2e_disk.fits"
    hdu.writeto(path)
    return path


def _wait_idle(page, timeout_ms: int = 120_000) -> None:
    page.wait_for_timeout(300)  # let a rerun triggered by the last action start
    page.wait_for_selector(APP_IDLE, timeout=timeout_ms)


def _screenshot(page, name: str) -> None:
    atomic_write_bytes(SCREENSHOTS / f"{name}.png", page.screenshot(full_page=True))


def _goto_page(page, title: str) -> None:
    """Client-side navigation through the sidebar, which keeps the session (and its image)."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    _wait_idle(page)


def _lasso_middle(page) -> None:
    """Draw a lasso over the middle of the first plotly chart (its drag mode is lasso)."""
    box = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    w, h = box["width"] * 0.45, box["height"] * 0.45
    page.mouse.move(cx - w, cy - h)
    page.mouse.down()
    for x, y in [(cx + w, cy - h), (cx + w, cy + h), (cx - w, cy + h), (cx - w, cy - h + 2)]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


_AXIS_RANGE = """(i) => { const gd = document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')[i];
    return gd && gd._fullLayout ? JSON.stringify([gd._fullLayout.xaxis.range, gd._fullLayout.yaxis.range]) : null; }"""


_VISIBLE_POINT = """(i) => { const gd = document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')[i];
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.querySelector('.nsewdrag').getBoundingClientRect();
    const [x0, x1] = [Math.min(...xa.range), Math.max(...xa.range)], [y0, y1] = [Math.min(...ya.range), Math.max(...ya.range)];
    for (const cd of gd.calcdata || []) for (const p of cd) {
        if (typeof p.x === 'number' && typeof p.y === 'number' && p.x > x0 && p.x < x1 && p.y > y0 && p.y < y1)
            return [box.left + xa.l2p(p.x), box.top + ya.l2p(p.y)]; }
    return null; }"""


_HOVER_TEXT = """(i) => { const gd = document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')[i];
    return gd.querySelectorAll('.hoverlayer .hovertext').length > 0; }"""
_UNHOVER = """(i) => { const gd = document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')[i];
    if (window.Plotly && window.Plotly.Fx) window.Plotly.Fx.unhover(gd);
    gd.querySelectorAll('.hoverlayer > *').forEach((el) => el.remove()); }"""


def _zoom_and_hover(page, index: int = 0) -> str:
    """Drag a zoom box over the middle of plot `index`, check that its axes zoomed, then hover its
    centre and return the hover label's text."""
    plot = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').nth(index)
    plot.scroll_into_view_if_needed()
    zoom = plot.locator('.modebar-btn[data-val="zoom"]')
    if zoom.count():
        plot.hover()
        zoom.first.click()
    before = page.evaluate(_AXIS_RANGE, index)
    drag_zoom(page, plot)
    page.wait_for_function(f"(old) => ({_AXIS_RANGE})({index}) !== old", arg=before, timeout=10_000)
    # Under load plotly can still draw a hover label for the drag's starting point after the zoom
    # (read then in zoomed coordinates: x 41, y 87 instead of the centre's 64, 64). Take the pointer
    # off the plot, wait until no label is left, then hover the point from a box measured after the zoom.
    label = plot.locator(".hoverlayer .hovertext").first
    page.mouse.move(2, 2)
    page.wait_for_timeout(300)
    page.evaluate(_UNHOVER, index)
    page.wait_for_function(f"(i) => !({_HOVER_TEXT})(i)", arg=index, timeout=10_000)
    box = plot.locator(".nsewdrag").first.bounding_box()
    point = page.evaluate(_VISIBLE_POINT, index)  # a scatter needs the pointer on a point; images anywhere
    hx, hy = point if point else (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(hx + 1, hy + 1)
    page.mouse.move(hx, hy, steps=3)
    label.wait_for(timeout=10_000)
    page.wait_for_timeout(300)  # a label still on its way from the last pointer moves replaces this one
    return label.text_content()


def _lens_zip(folder: Path) -> Path:
    """A DeepLense-layout zip (no/ sphere/ vort/) of simulated 150 px lenses, 3 per class."""
    import io
    import zipfile

    from core.data.lenses import sample_lens_params, simulate_lens

    rng = np.random.default_rng(7)
    path = folder / "deeplense_small.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for folder_name, sub in (("no", "no_sub"), ("sphere", "cdm"), ("vort", "vortex")):
            for i in range(3):
                buf = io.BytesIO()
                np.save(buf, simulate_lens(sample_lens_params(rng), sub, size=150, rng=rng))
                zf.writestr(f"lenses/{folder_name}/{i:03d}.npy", buf.getvalue())
    return path


def _assert_no_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


@contextlib.contextmanager
def _page_with_upload(url: str, fits_file: Path):
    """A Chromium page on the app at `url` with `fits_file` given to the Data page's uploader."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            _wait_idle(page)
            page.locator('input[type="file"]').first.set_input_files(str(fits_file))
            _wait_idle(page)
            yield page
        finally:
            browser.close()


def test_upload_then_reconstruct_and_latent_map(server, fits_file):
    with _page_with_upload(server, fits_file) as page:
        page.wait_for_selector('[data-testid="stPlotlyChart"] .js-plotly-plot', timeout=60_000)
        _assert_no_exception(page)
        hover = _zoom_and_hover(page)  # the 129 px FITS: hover names original pixels
        assert "x 64 px, y 64 px" in hover or "x 63 px" in hover or "x 65 px" in hover, hover
        _screenshot(page, "data")

        _goto_page(page, "Reconstruct")
        _assert_no_exception(page)
        charts = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot')
        charts.first.wait_for(timeout=120_000)
        assert charts.count() == 2  # one linked figure per model (equivariant, CNN) ...
        assert charts.first.locator(".nsewdrag").count() == 3  # ... of original, reconstruction, residual
        assert page.locator('[data-testid="stPlotlyChart"] svg').count() > 0
        assert page.get_by_text("PSNR").count() > 0
        ranges = [page.evaluate(_AXIS_RANGE, 0)]
        assert "px" in _zoom_and_hover(page)
        zoomed = page.evaluate(_AXIS_RANGE, 0)
        assert zoomed != ranges[0]
        _screenshot(page, "reconstruct")

        _goto_page(page, "Latent map")
        page.wait_for_selector('[data-testid="stPlotlyChart"] canvas, [data-testid="stPlotlyChart"] svg',
                               timeout=300_000)
        _wait_idle(page, timeout_ms=300_000)
        _assert_no_exception(page)
        assert page.get_by_text("ARI").count() > 0
        _lasso_middle(page)
        page.get_by_text("selected images").first.wait_for(timeout=60_000)
        _wait_idle(page)
        _assert_no_exception(page)
        # the gallery of the selection (the sidebar's image list has thumbnails of its own)
        assert page.locator('[data-testid="stMainBlockContainer"] [data-testid="stImage"] img').count() > 0
        assert _zoom_and_hover(page, 1)  # the PCA map beside it
        _screenshot(page, "latent_map")

        for title, name, plot in [("Feature maps", "feature_maps", 0), ("Equivariance lab", "equivariance", 0),
                                  ("Lenses", "lenses", 4)]:  # Lenses: the first confusion matrix (after probabilities, finder ROC + AUROC table, ROC)
            _goto_page(page, title)
            page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first.wait_for(timeout=120_000)
            _wait_idle(page, timeout_ms=300_000)
            _assert_no_exception(page)
            assert _zoom_and_hover(page, plot)
            _screenshot(page, name)
        assert page.get_by_text("Confusion matrix").count() == 2  # shipped classifiers evaluated

        _goto_page(page, "Batch evaluation")
        page.locator('input[type="file"]').first.set_input_files(str(_lens_zip(fits_file.parent)))
        page.get_by_text("Misclassified:").first.wait_for(timeout=300_000)
        _wait_idle(page, timeout_ms=300_000)
        _assert_no_exception(page)
        # the picker shows the model the page evaluated: 150-px lenses of no known simulator go to the
        # equivariant DeepLense Model I classifier (core.analysis.model_choice)
        shown = page.evaluate("""() => { const el = document.querySelector('[data-testid="stMainBlockContainer"] [data-testid="stSelectbox"]');
            return el.textContent + ' ' + Array.from(el.querySelectorAll('input')).map(i => i.value).join(' '); }""")
        assert "lenses-model1-equivariant" in shown and "disks-ae" not in shown, shown
        assert page.get_by_text("Confusion matrix", exact=True).count() == 1  # the figure title (the caption says it too)
        assert "predicted" in _zoom_and_hover(page)  # the confusion matrix: true/predicted per cell
        _screenshot(page, "batch")

        _goto_page(page, "Train")  # no figure before a run: visited, no exception
        _assert_no_exception(page)


@pytest.fixture(scope="module")
def broken_server(tmp_path_factory):
    """The app served from a copy of the repository whose default equivariant disk autoencoder and lens
    classifier are truncated files, as a new user meets a model that does not load on their machine."""
    import shutil
    import subprocess

    root = tmp_path_factory.mktemp("repo")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        if (REPO_ROOT / rel).is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, root / rel)
    for name in BROKEN:
        path = root / "checkpoints" / f"{name}.pt"
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    yield from _serve(root, tmp_path_factory)


BROKEN = ("disks-ae-equivariant", "lenses-classifier-equivariant")


def _main_text(page) -> str:
    return page.locator('[data-testid="stMainBlockContainer"]').inner_text()


def test_every_page_works_around_models_that_do_not_load(broken_server, fits_file):
    """A new user's walk through every page when the default equivariant models do not load: no page
    shows a traceback or a server folder, each page still draws (with a model that loads), and each
    keeps a link; the sidebar's models panel says which checkpoints do not load and why."""
    with _page_with_upload(broken_server, fits_file) as page:
        for title, name in [("Reconstruct", "reconstruct"), ("Feature maps", "feature_maps"),
                            ("Latent map", "latent_map"), ("Equivariance lab", "equivariance"),
                            ("Lenses", "lenses"), ("Batch evaluation", "batch"), ("Super-resolution", "superres")]:
            _goto_page(page, title)
            if title not in ("Batch evaluation", "Super-resolution"):
                page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first.wait_for(timeout=300_000)
            _wait_idle(page, timeout_ms=300_000)
            _assert_no_exception(page)
            text = _main_text(page)
            assert "Traceback" not in text and "/tmp/" not in text and str(REPO_ROOT) not in text, (title, text[:500])
            assert "?" in page.url, (title, page.url)  # the view's link
            _screenshot(page, f"broken-{name}")
        panel = page.locator('[data-testid="stSidebar"] [data-testid="stExpander"]', has_text="Models on this server")
        panel.locator("summary").first.click()
        panel.get_by_role("button", name="Check").click()
        _wait_idle(page, timeout_ms=300_000)
        panel_text = panel.inner_text()
        for name in BROKEN:
            assert name in panel_text, panel_text[:1000]
        assert panel_text.count("✗") == len(BROKEN), panel_text[:1000]
        _screenshot(page, "broken-models-panel")
