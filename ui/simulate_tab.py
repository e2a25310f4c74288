"""The Data page's Simulate tab: a protoplanetary disk or a strong lens from sliders, seed included.

The same controls serve a shared link: `add_simulation` runs them on the link's values (`_Values`
stands in for `st`), so a link makes the very image the sliders would.
"""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from core.errors import InputError
from core.io import LoadedImage
from ui import image_list
from ui.image_panel import current_identity, image_panel, refusal_here, use
from ui.jobs import heavy_job
from ui.state import check_choice, check_number


@st.cache_data(max_entries=32, show_spinner="Simulating…")
def _simulate(kind: str, params_json: str, extra_json: str) -> LoadedImage:
    from core.data.simulated_images import disk_image, lens_image

    params, extra = json.loads(params_json), json.loads(extra_json)
    if kind == "disk":
        from core.data.disks import DiskParams

        return disk_image(DiskParams.from_dict(params), **extra)[0]
    from core.data.lenses import LensParams

    return lens_image(LensParams.from_dict(params), **extra)[0]


def _simulated(kind: str, params_json: str, extra_json: str) -> LoadedImage:
    """`_simulate` as one heavy job of the session (queued on a hosted demo), unless this server made it already
    (st.cache_data keeps it: `heavy_job`'s key)."""
    with heavy_job("simulation", key=("simulation", kind, params_json, extra_json)):
        return _simulate(kind, params_json, extra_json)


class _Values:
    """Stands in for `st` in the simulation controls: each widget returns its value from a dict (a shared
    link's parameters, a list entry) or its default, and draws nothing. A value is taken as the widget
    would take it, with the bounds the controls give the widget: clamped to its range and step, or refused
    for its default (`ui.state.check_number` / `check_choice`); `used` holds what was taken, `problems`
    one sentence per value changed."""

    def __init__(self, values: dict, texts: dict | None = None):
        self.values = values
        self.texts = texts or {}  # the values as the address bar holds them, quoted in the sentences
        self.used: dict = {}
        self.problems: list[str] = []

    def _take(self, key, checked: tuple) -> object:
        value, problem = checked
        self.used[key] = value
        if problem:
            self.problems.append(problem)
        return value

    def columns(self, spec, **_):
        return [self] * (spec if isinstance(spec, int) else len(spec))

    def slider(self, label, min_value, max_value, value, step=None, *, key, **_):
        if key not in self.values:
            return value
        return self._take(key, check_number(label, self.values[key], min_value, max_value, value, step,
                                            self.texts.get(key)))

    def number_input(self, label, min_value, max_value, value, step=None, *, key, **_):
        return self.slider(label, min_value, max_value, value, step, key=key)

    def selectbox(self, label, options, index=0, *, key, **_):
        if key not in self.values:
            return options[index]
        return self._take(key, check_choice(label, self.values[key], options, options[index], self.texts.get(key)))

    def caption(self, *_, **__):
        return None


def _disk_controls(ui) -> tuple[dict, dict]:
    from core.data.disks import DiskParams

    d = DiskParams()
    c1, c2, c3 = ui.columns(3)
    n = c1.slider("Planets", 0, 3, 1, key="sim_disk_n")
    radii, masses = [], []
    for k in range(n):
        radii.append(c2.slider(f"Planet {k + 1} orbit (au)", 10.0, 150.0, [35.0, 70.0, 100.0][k], 1.0,
                               key=f"sim_disk_r{k}"))  # fmt: skip
        masses.append(c3.slider(f"Planet {k + 1} mass (M_Jup)", 0.1, 10.0, [1.0, 2.0, 0.5][k], 0.1,
                                key=f"sim_disk_m{k}"))  # fmt: skip
    c1, c2, c3, c4, c5 = ui.columns(5)
    fov_au = c5.slider("Field of view (au)", 100.0, 400.0, 220.0, 10.0, key="sim_disk_fov",
                       help=f"Image width at {d.distance_pc:g} pc; sets the pixel scale of the 129-px image.")  # fmt: skip
    params = {
        **d.to_dict(),
        "pixel_scale_arcsec": fov_au / d.distance_pc / 129,
        "planet_radii_au": radii,
        "planet_masses_mjup": masses,
        "planet_azimuths_deg": [90.0 * k for k in range(n)],
        "inclination_deg": c1.slider("Inclination (deg)", 0.0, 80.0, 30.0, 1.0, key="sim_disk_inc"),
        "position_angle_deg": c2.slider("Position angle (deg)", 0.0, 180.0, 30.0, 1.0, key="sim_disk_pa"),
        "beam_fwhm_arcsec": c3.slider("Beam FWHM (arcsec)", 0.02, 0.2, 0.04, 0.01, key="sim_disk_beam"),
        "snr": c4.slider("Peak SNR", 5.0, 200.0, 50.0, 5.0, key="sim_disk_snr"),
    }
    params.pop("n_planets", None)
    seed = ui.columns(5)[0].number_input("Noise seed", 0, 10**6, 0, key="sim_disk_seed")
    return params, {"size": 129, "seed": int(seed)}


def _lens_controls(ui) -> tuple[dict, dict]:
    from core.data.lenses import SUBSTRUCTURES, LensParams

    c1, c2, c3 = ui.columns(3)
    theta_e = c1.slider("Einstein radius θ_E (arcsec)", 0.5, 2.0, 1.2, 0.05, key="sim_lens_theta")
    ellipticity = c2.slider("Ellipticity |e|", 0.0, 0.4, 0.1, 0.01, key="sim_lens_e")
    e_angle = np.radians(c3.slider("Ellipticity angle (deg)", 0.0, 180.0, 0.0, 5.0, key="sim_lens_phi"))
    c1, c2, c3 = ui.columns(3)
    shear = c1.slider("External shear |γ|", 0.0, 0.2, 0.03, 0.01, key="sim_lens_g")
    g_angle = np.radians(c2.slider("Shear angle (deg)", 0.0, 180.0, 45.0, 5.0, key="sim_lens_gphi"))
    snr = c3.slider("SNR", 5.0, 100.0, 25.0, 1.0, key="sim_lens_snr")
    c1, c2, c3 = ui.columns(3)
    substructure = c1.selectbox("Substructure", SUBSTRUCTURES, index=1, key="sim_lens_sub",
                                format_func={"no_sub": "none", "cdm": "CDM subhalos", "vortex": "vortex"}.get)  # fmt: skip
    amount = None
    if substructure == "cdm":
        amount = c2.slider("Number of subhalos", 1, 20, 5, key="sim_lens_n")
    elif substructure == "vortex":
        c2.caption("The vortex line's mass, length and position are drawn from the seed.")
    seed = c3.number_input("Seed", 0, 10**6, 0, key="sim_lens_seed")
    params = {
        **LensParams().to_dict(),
        "theta_E_arcsec": theta_e,
        "e1": float(ellipticity * np.cos(2 * e_angle)),
        "e2": float(ellipticity * np.sin(2 * e_angle)),
        "gamma1": float(shear * np.cos(2 * g_angle)),
        "gamma2": float(shear * np.sin(2 * g_angle)),
        "snr": snr,
    }
    return params, {"substructure": substructure, "n_subhalos": amount, "seed": int(seed), "size": 150}


CONTROLS = {"disk": _disk_controls, "lens": _lens_controls}


def sim_name(kind: str, params: dict, extra: dict) -> str:
    """simulated_lens_vortex_seed7.fits, simulated_disk_2_planets_seed0.fits"""
    detail = f"{len(params['planet_radii_au'])}_planets" if kind == "disk" else extra["substructure"]
    return f"simulated_{kind}_{detail}_seed{extra['seed']}.fits"


def sim_widget_values(kind: str) -> dict:
    """The simulation controls' current values ({widget key: value}) of one kind."""
    prefix = f"sim_{kind}_"
    return {k: st.session_state[k] for k in sorted(st.session_state) if str(k).startswith(prefix)}


def checked_values(kind: str, values: dict, texts: dict | None = None) -> tuple[dict, list[str]]:
    """A link's control values ({widget key: value}) as the controls take them, and one sentence per value
    clamped or refused (quoting `texts`, the values as typed, when given); values no control of this kind
    reads are left out."""
    if kind not in CONTROLS:
        raise InputError(f"Simulations are of a 'disk' or a 'lens', not {kind!r}.")
    ui = _Values(values, texts)
    CONTROLS[kind](ui)
    return ui.used, ui.problems


def add_simulation(kind: str, values: dict, make_current: bool = True) -> image_list.Entry:
    """The simulated image of these control values ({widget key: value}; missing ones take their
    defaults, others are taken as `checked_values` takes them) into the list; the same values give the
    same entry, and the entry remembers the values taken (a link made from it carries those)."""
    values, _ = checked_values(kind, values)
    params, extra = CONTROLS[kind](_Values(values))
    params_json, extra_json = json.dumps(params, sort_keys=True), json.dumps(extra, sort_keys=True)
    loaded = _simulated(kind, params_json, extra_json)
    return image_list.add_image(
        loaded, sim_name(kind, params, extra), kind=kind, source="simulation",
        identity=f"sim:{kind}:{params_json}:{extra_json}", make_current=make_current,
        origin={"sim": kind, "widgets": {"sim_kind": kind, **values}},
    )


def draw() -> None:
    """The Simulate tab: a disk or a lens, its controls, the image they make, one click to use it."""
    kind = st.radio("Simulate", ["disk", "lens"], horizontal=True, key="sim_kind",
                    format_func={"disk": "a protoplanetary disk", "lens": "a strong lens"}.get)  # fmt: skip
    params, extra = CONTROLS[kind](st)
    try:
        params_json, extra_json = json.dumps(params, sort_keys=True), json.dumps(extra, sort_keys=True)
        loaded = _simulated(kind, params_json, extra_json)
    except (InputError, ValueError) as exc:
        st.error(str(exc))
        return
    refusal_here("simulate")
    values = sim_widget_values(kind)
    identity = f"sim:{kind}:{params_json}:{extra_json}"
    image_panel(loaded, f"sim-{kind}", sim_name(kind, params, extra), kind=kind, kind_fixed=True, current=current_identity() == identity,
                on_use=use, use_args=("simulate", add_simulation, kind, values))
