"""Label on the map in a real browser: a lasso on the plotly map, a class name, "Label selected",
twice; the map turns into predicted classes. Then 20 labels per class restored from a CSV (the
README's few-label workflow) and a screenshot of the result (docs/screenshots/label_map.png with
EQUISCOPE_SCREENSHOTS=docs/screenshots). Needs Debian's Chromium, like tests/test_e2e_browser.py.
"""

from __future__ import annotations

import os

import pytest
from test_e2e_browser import server  # noqa: F401 - the module's `streamlit run app.py`

from bench._server import APP_IDLE, CHROMIUM, EXCEPTION, launch_browser
from core.atomic import atomic_write_bytes
from core.paths import REPO_ROOT, TEST_ARTIFACTS_DIR

SCREENSHOTS = (REPO_ROOT / os.environ["EQUISCOPE_SCREENSHOTS"] if os.environ.get("EQUISCOPE_SCREENSHOTS")
               else TEST_ARTIFACTS_DIR / "screenshots")
BACKBONES = ("lenses-ssl-equivariant", "lenses-model2-equivariant")  # the first shipped one: both map Model II lenses
PER_CLASS = 20


def _backbone() -> str:
    from core.checkpoints import list_checkpoints

    names = {e["name"] for e in list_checkpoints()}
    return next(name for name in BACKBONES if name in names)


pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium: "
                       "apt-get install chromium chromium-driver"),
]

_TRACES = """() => { const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    return gd && gd.data ? gd.data.map(t => t.name) : []; }"""


def _wait_idle(page, timeout_ms: int = 120_000) -> None:
    page.wait_for_timeout(300)  # let a rerun triggered by the last action start
    page.wait_for_selector(APP_IDLE, timeout=timeout_ms)
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.text_content()


def _open_map(page, url: str, model: str) -> None:
    page.goto(f"{url}/?page=latent_map&map_model={model}")
    page.wait_for_selector('[data-testid="stPlotlyChart"] .js-plotly-plot', timeout=600_000)
    _wait_idle(page, timeout_ms=600_000)


def _lasso(page, x0: float, x1: float) -> None:
    """A lasso over the horizontal band [x0, x1] (fractions of the width) of the first map."""
    plot = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first
    plot.evaluate("el => el.scrollIntoView({block: 'center'})")  # wholly in view: the button below scrolled away
    page.wait_for_timeout(300)
    box = plot.locator(".nsewdrag").first.bounding_box()
    left, right = box["x"] + x0 * box["width"], box["x"] + x1 * box["width"]
    top, bottom = box["y"] + 0.02 * box["height"], box["y"] + 0.98 * box["height"]
    page.mouse.move(left, top)
    page.mouse.down()
    for x, y in [(right, top), (right, bottom), (left, bottom), (left, top + 2)]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    _wait_idle(page)


def _label(page, name: str) -> None:
    caption = page.get_by_text("points on the map,").first
    caption.wait_for(timeout=30_000)
    assert not caption.text_content().startswith("Selected: 0 points"), caption.text_content()
    field = page.get_by_label("Class name")
    field.fill(name)
    field.press("Enter")
    _wait_idle(page)
    page.get_by_role("button", name="Label selected").click()
    _wait_idle(page)
    page.get_by_text(f"as “{name}”").first.wait_for(timeout=30_000)


def _few_labels_csv(tmp_path, model: str) -> str:
    """20 reference images per class with their true class, as the Download labels button writes them."""
    from core.analysis.probe import few_label_split
    from core.analysis.reference_sets import preset_of, reference_folder_name
    from core.data.datasets import scan_dataset

    folder = reference_folder_name("lenses", preset_of(model))
    index = scan_dataset(folder)
    train, _ = few_label_split(index.labels, PER_CLASS, seed=0)
    rows = ["file,x,y,class"] + [f"{index.files[i].relative_to(folder)},,,{index.labels[i]}" for i in train]
    path = tmp_path / "labels_20_per_class.csv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_lasso_name_label_and_the_probe_colours_the_map(server, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_browser(p)
        try:
            model = _backbone()
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            _open_map(page, server, model)
            _lasso(page, 0.02, 0.4)
            _label(page, "left")
            page.get_by_text("Label images of at least two classes").first.wait_for(timeout=30_000)
            _lasso(page, 0.6, 0.98)
            _label(page, "right")
            names = page.evaluate(_TRACES)
            assert {n for n in names if n.startswith("predicted ")} == {"predicted left", "predicted right"}, names
            assert "labelled" in names

            page = browser.new_page(viewport={"width": 1400, "height": 2400})  # a new session: no labels
            _open_map(page, server, model)
            uploader = page.locator('[data-testid="stFileUploader"]', has_text="Restore labels from a CSV")
            uploader.locator('input[type="file"]').set_input_files(_few_labels_csv(tmp_path, model))
            _wait_idle(page)
            page.get_by_text(f"Restored {3 * PER_CLASS} labels.").first.wait_for(timeout=60_000)
            names = page.evaluate(_TRACES)
            assert {"predicted no_sub", "predicted cdm", "predicted vortex"} <= set(names), names
            # the maps and the panel, from the "Colour by" controls to the downloads (the viewport holds them all)
            top = page.get_by_text("Colour by").first.bounding_box()["y"] - 10
            bottom = page.get_by_role("button", name="Download the probe").bounding_box()
            bottom = bottom["y"] + bottom["height"] + 10
            shot = page.screenshot(clip={"x": 0, "y": top, "width": 1400, "height": bottom - top})
            atomic_write_bytes(SCREENSHOTS / "label_map.png", shot)
        finally:
            browser.close()
