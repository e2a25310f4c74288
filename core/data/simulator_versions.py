"""Which simulators exist and which version each writes into a data set's manifest.

Kinds: disks (core.data.disks; presets "dsharp" and "dsharp-figures": core.data.dsharp), lenses (core.data.lenses; presets "deeplense-model1" and
"deeplense-model2": core.data.deeplense), lensfinding (core.data.lensfinding, domain easy | hard,
stored as the preset) and sky (core.data.sky: HST / Euclid-like lens finding on the model grid, versions
sky-*). A version changes whenever a simulator draws other images for the same seed;
the app and `python -m core reproduce` compare it with a data set's manifest.
"""

from __future__ import annotations

SIMULATOR_VERSION = "1.4"  # 1.1 vortex one mass per pixel; 1.2 learnable substructure; 1.3 disks fill the frame; 1.4 lens substructure clearly visible (heavier subhalos and vortex, near-complete rings)
DISK_SIMULATOR_VERSION = "2.1"  # 2.0 disk family: transition disks, ring-only disks, sizes, elliptical beams, clean residuals, SNR 10-1000; 2.1 ring-only disks' cavity reaches the innermost ring (no central peak)
DSHARP_DISK_VERSION = "3.0"  # disk presets dsharp / dsharp-figures (core.data.dsharp): multi-ring, spiral and crescent disks, 0.03-0.05" beams at high S/N, the 2.1 family mixed in; figures: stretched, normalised renderings
DISK_PRESETS = ("project", "dsharp", "dsharp-figures")  # "project": generator DISK_SIMULATOR_VERSION
DEEPLENSE_PRESET_VERSION = "dl-1.1"  # manifest "version" of preset data sets; 1.1: Model II deflections scaled as the official multi-plane call does
KINDS = ("disks", "lenses", "lensfinding", "sky")
LENS_PRESETS = ("project", "deeplense-model1", "deeplense-model2")
FINDING_DOMAINS = ("easy", "hard")  # lensfinding presets (core.data.lensfinding.DOMAINS)
NOISES = ("thermal", "none")  # --noise none: the noise-free images (disks only), same parameters as the noisy ones
DEFAULT_SIZE = {"disks": 128, "lenses": 150, "lensfinding": 64, "sky": 64}


def version_of(kind: str, preset: str = "project") -> str:
    """The simulator version recorded in a manifest: disks have their own since 2.0, DeepLense presets theirs."""
    if kind == "disks":
        return DISK_SIMULATOR_VERSION if preset == "project" else DSHARP_DISK_VERSION
    if kind == "lensfinding":
        from core.data.lensfinding import VERSION

        return VERSION
    if kind == "sky":
        from core.data.sky import VERSION as SKY_VERSION

        return SKY_VERSION
    return DEEPLENSE_PRESET_VERSION if preset != "project" else SIMULATOR_VERSION


def default_size(kind: str, preset: str = "project") -> int:
    if kind == "lenses" and preset != "project":
        from core.data.deeplense import NATIVE_SIZE

        return NATIVE_SIZE[preset]
    return DEFAULT_SIZE[kind]
