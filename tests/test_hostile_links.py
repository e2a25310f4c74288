"""Links typed by strangers (ui/share.py): every value a link carries is taken as its widget would take it.

A link's slider, number, choice and toggle values are clamped to the widget's bounds and steps or refused
for its default, each change said in one sentence in the sidebar, and the address bar then holds what was
taken, so a reload does not repeat the bad value. The bounds are the widget's own: the Simulate tab's
controls for `sim_*`, ui.state.PAGE_SETTINGS for the pages' settings (the pages that draw their widgets from
literals are compared with them here).
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_share import _app_py_every_run, open_link  # noqa: F401 - the same link opener and autouse fixture

from ui import state


def sentences(at: AppTest) -> list[str]:
    return [w.value.replace("\\", "") for w in at.sidebar.warning]


def simulated_widgets(at: AppTest) -> dict:
    """The control values the current (simulated) image was made with."""
    (entry,) = at.session_state["image_list"]
    return entry.origin["widgets"]


# (link, the key it abuses, the value taken, the sentence's words): the links first
SIMULATION_LINKS = [
    ({"sim": "lens", "sim_lens_sub": "cdm", "sim_lens_n": "50000", "sim_lens_seed": "7"}, "sim_lens_n", 20,
     "“Number of subhalos” to 50000, above its maximum of 20: 20 is used."),
    ({"sim": "disk", "sim_disk_n": "1000"}, "sim_disk_n", 3, "“Planets” to 1000, above its maximum of 3: 3 is used."),
    ({"sim": "disk", "sim_disk_n": "-5"}, "sim_disk_n", 0, "“Planets” to -5, below its minimum of 0: 0 is used."),
    ({"sim": "disk", "sim_disk_fov": "0"}, "sim_disk_fov", 100.0, "below its minimum of 100.0: 100.0 is used."),
    ({"sim": "lens", "sim_lens_theta": "1e30"}, "sim_lens_theta", 2.0, "to 1e30, above its maximum of 2.0"),
    ({"sim": "lens", "sim_lens_sub": "<b>zzz</b>"}, "sim_lens_sub", "cdm", "which is not one of its choices"),
    ({"sim": "lens", "sim_lens_seed": "NaN"}, "sim_lens_seed", 0, "“Seed” to NaN, which is not a number: 0, its"),
    ({"sim": "disk", "sim_disk_beam": "0.033"}, "sim_disk_beam", 0.03, "between its steps of 0.01: 0.03 is used."),
]


@pytest.mark.parametrize("link, key, taken, words", SIMULATION_LINKS, ids=[f"{c[1]}={c[0][c[1]]}" for c in SIMULATION_LINKS])
def test_a_simulation_link_is_clamped_said_once_and_corrected_in_the_address_bar(link, key, taken, words):
    at = open_link(link)
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    (sentence,) = sentences(at)
    assert words in sentence and sentence.startswith("The link set")
    assert simulated_widgets(at)[key] == taken and type(simulated_widgets(at)[key]) is type(taken)
    assert at.query_params[key] == str(taken).lower() if isinstance(taken, bool) else at.query_params[key] == str(taken)
    again = open_link(dict(at.query_params))  # a reload opens what was taken, without a word
    assert not again.exception and not sentences(again)
    assert again.session_state["current_image"]["name"] == at.session_state["current_image"]["name"]


def test_the_heavy_lens_link_simulates_what_the_slider_allows():
    """Regression: `sim_lens_n=50000` simulated 50 000 subhalos (31 s of a core; each seed a new cache entry)."""
    at = open_link({"sim": "lens", "sim_lens_sub": "cdm", "sim_lens_n": "50000", "sim_lens_seed": "7"})
    assert at.session_state["current_image"]["name"] == "simulated_lens_cdm_seed7.fits"
    assert dict(at.query_params) == {"sim": "lens", "sim_lens_sub": "cdm", "sim_lens_n": "20", "sim_lens_seed": "7"}


PAGE_LINKS = [
    ({"page": "feature_maps", "example": "lens_cdm.npy", "fm_angle": "abc"}, "fm_angle", 0,
     "“Rotate the input (degrees)” to abc, which is not a number: 0, its default, is used."),
    ({"page": "equivariance", "example": "lens_cdm.npy", "eq_angle": "1e9", "eq_curves_on": "false"}, "eq_angle", 360.0,
     "“Rotation angle (degrees)” to 1e9, above its maximum of 360.0: 360.0 is used."),
    ({"page": "equivariance", "example": "lens_cdm.npy", "eq_flip": "abc", "eq_curves_on": "false"}, "eq_flip", False,
     "“Flip” to abc, which is neither true nor false: false, its default, is used."),
    ({"page": "equivariance", "example": "lens_cdm.npy", "eq_dx": "-500", "eq_curves_on": "false"}, "eq_dx", -20,
     "“Shift right (px)” to -500, below its minimum of -20: -20 is used."),
]


@pytest.mark.parametrize("link, key, taken, words", PAGE_LINKS, ids=[f"{c[1]}={c[0][c[1]]}" for c in PAGE_LINKS])
def test_a_page_setting_in_a_link_is_clamped_or_refused_said_once_and_corrected(link, key, taken, words):
    at = open_link(link)
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    (sentence,) = sentences(at)
    assert words in sentence
    assert at.session_state[key] == taken and type(at.session_state[key]) is type(taken)
    assert at.query_params[key] == (str(taken).lower() if isinstance(taken, bool) else str(taken))
    again = open_link(dict(at.query_params))
    assert not again.exception and not sentences(again) and again.session_state[key] == taken


@pytest.mark.parametrize("key, text, taken, words", [
    ("map_k", "1e6", 12, "“Clusters (0 = choose by silhouette)” to 1e6, above its maximum of 12: 12 is used."),
    ("sr_seed", "-1", 0, "“Seed” to -1, below its minimum of 0: 0 is used."),
    ("recon_contours", "true", 0, "“Contours” to true, which is not a number: 0, its default, is used."),
    ("recon_cmap", "<img src=x>", None, "“Colour map” to <img src=x>, which is not one of its choices"),
    ("lens_model_eq", "../../etc/passwd", None, "names the model ../../etc/passwd for “Equivariant classifier”, which "
                                                "this server does not have: the page picks its default."),
    ("eq_curves_on", "1", True, "“Measure every angle"),
    ("map_search", "12", "12", None),  # any text is a search; a number stays the text it was
    ("batch_source", "list", "list", None),
])  # fmt: skip
def test_settings_of_other_pages_are_checked_when_the_link_opens(key, text, taken, words):
    """The Data page opens; the settings of the other pages wait in the session, already checked."""
    at = open_link({key: text})
    assert not at.exception and not at.error
    assert [t.value for t in at.title] == ["Data"]
    found = sentences(at)
    assert (not found) if words is None else (len(found) == 1 and words in found[0]), found
    if taken is None:  # refused: the widget will show its default
        assert key not in at.session_state
    else:
        assert at.session_state[key] == taken and type(at.session_state[key]) is type(taken)
    assert key not in at.query_params  # the Data page's link does not carry another page's setting


# ---------------------------------------------------------------- the checks themselves


def test_check_number_clamps_snaps_and_refuses_like_a_slider():
    assert state.check_number("x", 5, 0, 3, 1) == (3, "The link set “x” to 5, above its maximum of 3: 3 is used.")
    assert state.check_number("x", 2, 0, 3, 1) == (2, None)
    assert state.check_number("x", 2.0, 0, 3, 1) == (2, None)  # 2.0 is the whole number 2
    assert state.check_number("x", 1.2000000000000002, 0.5, 2.0, 1.2, 0.05) == (1.2, None)  # float noise is no step
    value, said = state.check_number("x", 2.6, 0, 3, 1)
    assert value == 3 and type(value) is int and "between its steps of 1" in said
    for bad in (True, "abc", math.nan, math.inf, -math.inf, None, [1]):
        value, said = state.check_number("x", bad, 0.0, 3.0, 1.5, 0.5)
        assert value == 1.5 and "which is not a number: 1.5, its default, is used." in said
    value, said = state.check_number("x", 10**400, 0, 10**6, 0)  # an integer with 400 digits
    assert value == 10**6 and "above its maximum" in said and len(said) < 120  # the value is shortened
    value, said = state.check_number("x", 7, 0.0, 10.0, 5.0, 1.0)  # a float widget takes a whole number as a float
    assert (value, said) == (7.0, None) and type(value) is float


def test_check_choice_and_the_specs():
    assert state.check_choice("Sub", "cdm", ("no_sub", "cdm"), "no_sub") == ("cdm", None)
    value, said = state.check_choice("Sub", "[x](y)", ("no_sub", "cdm"), "no_sub")
    assert value == "no_sub" and "\\[x\\]\\(y\\)" in said  # Markdown shown literally
    assert state.Flag("f", True).check("yes", "yes")[0] is True and state.Flag("f").check(True, "true") == (True, None)
    assert state.Text("t").check(12, "0012") == ("0012", None)  # text as typed, not as the number it looks like
    assert state.Choice("c", "ui.image_encoding:CUTS").check("99 %", "99 %") == ("99 %", None)
    assert state.Number("n", 0, 12, 0).bounds() == {"min_value": 0, "max_value": 12, "value": 0, "step": None}


# ---------------------------------------------------------------- the bounds are the widgets' own

# Widgets drawn from literals in modules that do not read ui.state: where their call is. The others are
# drawn from the specs themselves (test_every_other_linked_widget_is_drawn_from_its_spec) or list checkpoints (Model).
MIRRORED: dict[str, str] = {}
# Drawn from their specs under the caller's key (ui.viewer.controls for every viewer, ui.widgets.pick_stretch),
# which the AST cannot name: tests/test_viewer.py draws them and compares each with its spec.
CALLER_KEYED = {"recon_stretch", "recon_cut", "recon_cmap", "recon_contours", "sr_stretch"}
WIDGETS = {"slider", "number_input", "selectbox", "radio", "segmented_control", "toggle", "checkbox", "text_input"}


def _widget_call(path: Path, label: str) -> tuple[ast.Call, dict[str, ast.expr]]:
    """The widget call labelled `label` in `path`, and the file's simple assignments (name -> value)."""
    tree = ast.parse(path.read_text())
    assigned = {t.id: n.value for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Name)}
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr in WIDGETS and n.args and isinstance(n.args[0], ast.Constant) and n.args[0].value == label]
    assert len(calls) == 1, f"{path.name}: {len(calls)} widgets labelled {label!r}"
    return calls[0], assigned


def _value(node: ast.expr):
    return eval(compile(ast.Expression(node), "<widget>", "eval"), {"__builtins__": {}})  # literals like 10**6


def test_every_linked_setting_is_checked_against_its_widget_bounds():
    assert set(state.SETTINGS) == {k for page in state.PAGE_SETTINGS.values() for k in page}
    for key, where in MIRRORED.items():
        spec = state.SETTINGS[key]
        call, assigned = _widget_call(ROOT / where, spec.label)
        keywords = {k.arg: k.value for k in call.keywords}
        if isinstance(spec, state.Number):
            low, high, default = (_value(a) for a in call.args[1:4])
            step = _value(keywords["step"]) if "step" in keywords else None
            assert (low, high, default, step) == (spec.low, spec.high, spec.default, spec.step), key
            assert type(default) is type(spec.default), key
        elif isinstance(spec, state.Flag):
            assert (_value(keywords["value"]) if "value" in keywords else False) is spec.default, key
        elif isinstance(spec, state.Choice):
            options = call.args[1]
            if isinstance(spec.options, str):  # the widget lists the very constant the spec names
                names = {n.id for n in ast.walk(options) if isinstance(n, ast.Name)}
                names |= {n.attr for n in ast.walk(options) if isinstance(n, ast.Attribute)}
                assert spec.options.partition(":")[2] in names, key
            else:  # literal options, or a local list of them: the same strings
                source = assigned.get(options.id, options) if isinstance(options, ast.Name) else options
                found = {n.value for n in ast.walk(source) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
                assert found == set(spec.options), key
        else:
            assert isinstance(spec, state.Text) and call.func.attr == "text_input", key


def _key_of(call: ast.Call, assigned: dict[str, ast.expr]) -> object:
    """The widget key a call passes: a literal, a name assigned a literal in its file, or a constant of ui.state."""
    node = next((k.value for k in call.keywords if k.arg == "key"), None)
    if isinstance(node, ast.Name):
        node = assigned.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "state":
        return getattr(state, node.attr, None)
    return node.value if isinstance(node, ast.Constant) else None


def test_every_other_linked_widget_is_drawn_from_its_spec():
    """A linked widget not in MIRRORED takes its label, bounds, choices and default from ui.state.SETTINGS (no
    literal copy that could drift from what a link is checked against)."""
    calls: dict[str, list[tuple[str, ast.Call]]] = {}
    for path in sorted([*(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py")]):
        tree = ast.parse(path.read_text())
        assigned = {t.id: n.value for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets
                    if isinstance(t, ast.Name)}
        for n in ast.walk(tree):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in WIDGETS and n.args:
                calls.setdefault(_key_of(n, assigned), []).append((path.name, n))
    for key, spec in state.SETTINGS.items():
        if key in MIRRORED or key in CALLER_KEYED or isinstance(spec, state.Model):
            continue
        assert calls.get(key), f"no widget with key {key!r} in pages/ or ui/"
        for where, call in calls[key]:
            assert not isinstance(call.args[0], ast.Constant), f"{where}: {key} has a literal label"
            if isinstance(spec, state.Number):
                assert len(call.args) == 1 and "value" not in {k.arg for k in call.keywords}, f"{where}: {key} bounds"
            if isinstance(spec, state.Choice):
                assert not isinstance(call.args[1], ast.List | ast.Tuple), f"{where}: {key} has literal choices"
            if isinstance(spec, state.Flag):
                value = next((k.value for k in call.keywords if k.arg == "value"), None)
                assert not isinstance(value, ast.Constant), f"{where}: {key} has a literal default"
