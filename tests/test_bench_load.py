"""bench/load.py's check of the Reconstruct page: one figure per model, with original, reconstruction and
residual panels drawn (the page's layout since it draws one linked 3-panel figure per model)."""

from bench.load import figure_problems

TITLES = ["Original (model grid)", "Reconstruction", "Residual (original − reconstruction)"]


def figure(model: str, panels: int = 3, drawn: int = 3, titles=TITLES) -> dict:
    return {"key": f"recon_{model}", "panels": panels, "drawn": drawn, "titles": list(titles)}


def test_one_drawn_three_panel_figure_per_model_passes():
    figures = [figure("disks-ae-equivariant"), figure("disks-ae-cnn"), {"key": None, "panels": 1, "drawn": 1, "titles": []}]
    assert figure_problems(figures, 2) == []


def test_missing_figures_undrawn_panels_and_wrong_panels_are_named():
    assert figure_problems([figure("a")], 2) == ["1 reconstruction figures for 2 models"]
    (problem,) = figure_problems([figure("a", drawn=2)], 1)
    assert problem.startswith("a: 3 panels (2 drawn)")
    (problem,) = figure_problems([figure("a", panels=2, titles=TITLES[:2])], 1)
    assert problem.startswith("a: 2 panels")
    assert figure_problems([], 0) == ["no model shows its metrics"]
