"""The pixel readout under every viewer: one pixel's value and sky position (degrees and sexagesimal),
and the statistics of a box or circle centred on it (core.analysis.regions), in an expander."""

from __future__ import annotations

import numpy as np

from ui.image_wcs import celestial, sky_position


def _forget_outside(key: str, low: int, high: int) -> None:
    """Drop a number input's kept value that the current image's bounds no longer allow (another image)."""
    import streamlit as st

    value = st.session_state.get(key)
    if value is not None and not low <= value <= high:
        del st.session_state[key]


def pixel_line(image: np.ndarray, x: int, y: int, *, meta=None, bunit: str | None = None) -> str:
    """One line: the pixel's value, and with a celestial WCS its RA/Dec in degrees and sexagesimal."""
    parts = [f"Pixel ({x}, {y}): {float(image[y, x]):.6g}{f' {bunit}' if bunit else ''}"]
    wcs = celestial(meta)
    if wcs is not None:
        pos = sky_position(wcs, x, y)
        (lon_name, lat_name), (lon, lat) = pos["names"], pos["degrees"]
        parts.append(f"{lon_name} {lon:.7f}°, {lat_name} {lat:+.7f}°")
        if pos["hmsdms"]:
            parts.append(pos["hmsdms"])
    return " · ".join(parts)


def stats_rows(stats: dict, bunit: str | None) -> list[tuple[str, str]]:
    """core.analysis.regions.region_stats as table rows."""
    unit = f" {bunit}" if bunit else ""
    rows = [("pixels", f"{stats['n']:,}")]
    rows += [(name, f"{stats[name]:.6g}{unit}") for name in ("sum", "mean", "std", "min", "max")]
    rows.append(("peak at (x, y)", "({}, {})".format(*stats["peak"])))
    if stats["flux_jy"] is not None:
        rows.append(("flux density (sum / beam area)", f"{stats['flux_jy']:.6g} Jy"))
        rows.append(("beam area", f"{stats['beam_pixels']:.4g} px"))
    return rows


def readout(key: str, image: np.ndarray, *, meta=None, bunit: str | None = None):
    """An expander: one pixel's value and sky position (degrees and sexagesimal), and the statistics of a
    box or circle centred on it (core.analysis.regions). Returns the region to outline on the image, or None."""
    import streamlit as st

    from core.analysis.regions import SHAPES, Region, region_stats
    from ui.markdown import markdown_table, md_escape

    data = np.asarray(image, dtype=np.float32)
    h, w = data.shape
    peak_y, peak_x = np.unravel_index(int(np.argmax(data)), data.shape)
    keys = [f"{key}_{name}" for name in ("px", "py", "pshape", "psize")]
    for k, high in ((keys[0], w - 1), (keys[1], h - 1), (keys[3], max(h, w))):
        _forget_outside(k, 0 if k != keys[3] else 1, high)
    with st.expander("Pixel readout and region statistics"):
        a, b, c, d = st.columns(4)
        x = a.number_input("Pixel x", 0, w - 1, int(peak_x), key=keys[0], help="0-based, as the axes; starts at the brightest pixel.")
        y = b.number_input("Pixel y", 0, h - 1, int(peak_y), key=keys[1])
        shape = c.selectbox("Region around it", ("none", *SHAPES), key=keys[2],
                            help="A box (its side) or a circle (its radius) centred on the pixel, outlined on the image.")
        size = d.number_input("Side / radius (px)", 1, max(h, w), min(9, max(h, w)), key=keys[3])
        st.markdown(md_escape(pixel_line(data, int(x), int(y), meta=meta, bunit=bunit)))
        if shape == "none":
            return None
        region = Region(shape, float(x), float(y), float(size))
        try:
            stats = region_stats(data, region, bunit=bunit, beam=getattr(meta, "beam", None),
                                 pixel_scale_arcsec=getattr(meta, "pixel_scale_arcsec", None))
        except ValueError as exc:
            st.caption(str(exc))
            return region
        st.markdown(markdown_table(stats_rows(stats, bunit), ("region statistics", "value")))
        if stats["flux_note"]:
            st.caption(stats["flux_note"][0].upper() + stats["flux_note"][1:] + ".")
    return region
