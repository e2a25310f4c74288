"""The README tour's screenshots, taken from a real server in headless Chromium (not a benchmark).

    .venv/bin/python -m bench.tour_screenshots [--out docs/screenshots]

Drives `streamlit run app.py` (bench/_server.AppServer) the way a visitor does: a DeepLense-style
zip of class folders and a disk FITS file join the image list; the Data page's viewer zoomed in,
with its hover label and the cutout box; Reconstruct with the familiarity note; the Equivariance
lab; batch evaluation of the list's labelled images; the Train page on those images. Each
screenshot is the browser's viewport, downscaled and reduced to a 128-colour palette so the
README's images stay small (the whole set well under 1.5 MB).
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from bench._server import APP_IDLE, BADGE, NAV_LINK, PLOT, AppServer, drag_zoom, launch_browser
from core.atomic import atomic_write_bytes
from core.paths import EXAMPLES_DIR, LOGS_DIR, REPO_ROOT

VIEWPORT = {"width": 1400, "height": 900}
WIDTH = 1100  # pixels of the saved PNG
LONG_MS = 600_000


def lens_zip(folder: Path, n_per_class: int = 3) -> Path:
    """DeepLense's layout (no/ sphere/ vort/) of simulated 150 px lenses."""
    from core.data.lenses import sample_lens_params, simulate_lens

    rng = np.random.default_rng(11)
    path = folder / "deeplense_sample.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, sub in (("no", "no_sub"), ("sphere", "cdm"), ("vort", "vortex")):
            for i in range(n_per_class):
                buf = io.BytesIO()
                np.save(buf, simulate_lens(sample_lens_params(rng), sub, size=150, rng=rng))
                zf.writestr(f"deeplense_sample/{name}/{i:03d}.npy", buf.getvalue())
    return path


def save(page, out: Path, name: str, clip: dict | None = None) -> None:
    """The viewport (or `clip`), WIDTH px wide, 128-colour PNG."""
    from PIL import Image

    shot = Image.open(io.BytesIO(page.screenshot(clip=clip) if clip else page.screenshot()))
    shot = shot.convert("RGB")
    if shot.width > WIDTH:
        shot = shot.resize((WIDTH, round(shot.height * WIDTH / shot.width)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    shot.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buf, "PNG", optimize=True)
    atomic_write_bytes(out / f"{name}.png", buf.getvalue())
    print(f"{name}.png: {len(buf.getvalue()) / 1024:.0f} KiB", flush=True)


def idle(page, timeout_ms: int = LONG_MS) -> None:
    page.wait_for_timeout(400)
    page.wait_for_selector(APP_IDLE, timeout=timeout_ms)


def goto(page, title: str) -> None:
    page.locator(NAV_LINK, has_text=title).first.click()
    idle(page)
    page.locator(PLOT).first.wait_for(timeout=LONG_MS)
    idle(page)


def zoom_and_hover(page, index: int = 0) -> None:
    """Drag a zoom box over the middle of plot `index`, then hover its centre (label left on screen)."""
    plot = page.locator(PLOT).nth(index)
    plot.scroll_into_view_if_needed()
    cx, cy = drag_zoom(page, plot, 0.25)
    page.wait_for_timeout(800)
    page.mouse.move(cx + 12, cy - 8, steps=4)
    page.wait_for_timeout(800)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p, \
            AppServer(log_path=LOGS_DIR / "tour_screenshots.log") as server:
        disk = Path(tmp) / "my_disk.fits"
        shutil.copyfile(EXAMPLES_DIR / "disk_2_planets.fits", disk)
        archive = lens_zip(Path(tmp))
        browser = launch_browser(p)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(server.url)
            idle(page)
            for upload in (archive, disk):  # the disk last: the current image
                page.locator('input[type="file"]').first.set_input_files(str(upload))
                idle(page)
            page.locator(BADGE, has_text=f"Current image: {disk.name}").first.wait_for(timeout=LONG_MS)
            save(page, args.out, "image_list")

            zoom_and_hover(page)  # the Data page's viewer: zoom, hover in pixels and RA/Dec, the cutout box
            save(page, args.out, "viewer_zoom")

            for title, name in (("Reconstruct", "familiarity"), ("Equivariance lab", "equivariance")):
                goto(page, title)
                page.mouse.move(5, 5)
                save(page, args.out, name)

            page.locator(NAV_LINK, has_text="Batch evaluation").first.click()  # the list's labelled lenses
            page.get_by_text("Misclassified:").first.wait_for(timeout=LONG_MS)
            idle(page)
            save(page, args.out, "batch")

            page.locator(NAV_LINK, has_text="Train").first.click()
            idle(page)
            page.locator('[data-testid="stSelectbox"]').first.click()  # the model: a classifier for labelled lenses
            page.get_by_role("option", name="Equivariant classifier").first.click()
            idle(page)
            page.get_by_text("The images in the list").first.click()
            idle(page)
            page.mouse.move(5, 5)
            save(page, args.out, "train")
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
