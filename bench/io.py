"""core.io speed: milliseconds per `read_image` for each format, and fuzz throughput.

Run: .venv/bin/python -m bench.io [--repeat 30] [--realdata DIR]
Datasets read every training image through read_image, so its cost per file matters. The real
third-party disk FITS files (DIR/disks/*.fits, bench/_realdata.py) are timed when the folder is given.
"""

from __future__ import annotations

import argparse
import io
import random
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from PIL import Image

from bench._realdata import absent_note, add_argument, realdata_dir
from bench.record import record
from core.errors import InputError
from core.io import read_image


def _cases(realdata: Path | None) -> list[tuple[str, bytes, str]]:
    """(description, file bytes, file name), written here so every run measures the same thing."""
    rng = np.random.default_rng(0)
    cases = []
    buf = io.BytesIO()
    np.save(buf, rng.normal(size=(150, 150)).astype(np.float32))
    cases.append(("lens .npy 150x150 float32", buf.getvalue(), "lens.npy"))
    buf = io.BytesIO()
    np.savez_compressed(buf, image=rng.normal(size=(150, 150)).astype(np.float32))
    cases.append(("lens .npz (compressed) 150x150", buf.getvalue(), "lens.npz"))
    buf = io.BytesIO()
    fits.PrimaryHDU(rng.normal(size=(1, 1, 600, 600)).astype(np.float32)).writeto(buf)
    cases.append(("disk FITS (1,1,600,600) float32", buf.getvalue(), "disk.fits"))
    buf = io.BytesIO()
    Image.fromarray((rng.random((256, 256, 3)) * 255).astype(np.uint8)).save(buf, format="PNG")
    cases.append(("RGB PNG 256x256", buf.getvalue(), "photo.png"))
    buf = io.BytesIO()
    Image.fromarray(rng.normal(size=(512, 512)).astype(np.float32)).save(buf, format="TIFF")
    cases.append(("float TIFF 512x512", buf.getvalue(), "image.tif"))
    for path in sorted(realdata.glob("disks/*.fits")) if realdata is not None else []:
        cases.append((f"real: {path.name}", path.read_bytes(), path.name))
    return cases


def ms_per_read(raw: bytes, name: str, repeat: int) -> float:
    read_image(raw, name)  # warm imports
    t = time.perf_counter()
    for _ in range(repeat):
        read_image(raw, name)
    return (time.perf_counter() - t) / repeat * 1e3


def fuzz_rate(cases: list[tuple[str, bytes, str]], n: int) -> tuple[float, float]:
    """(mutated files per second, share refused with InputError) over random byte mutations."""
    rnd = random.Random(0)
    refused = 0
    t = time.perf_counter()
    for _ in range(n):
        _, raw, name = rnd.choice(cases[:5])
        data = bytearray(raw[:4096])
        for _ in range(rnd.randint(1, 4)):
            at = rnd.randrange(len(data))
            data[at : at + 4] = bytes(rnd.randrange(256) for _ in range(4))
        try:
            read_image(bytes(data), name)
        except InputError:
            refused += 1
    return n / (time.perf_counter() - t), refused / n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--fuzz", type=int, default=2000)
    add_argument(parser)
    args = parser.parse_args(argv)
    realdata = realdata_dir(args.realdata)
    cases = _cases(realdata)
    missing = ""
    if not any(what.startswith("real: ") for what, _, _ in cases):
        missing = " " + absent_note(realdata, "disks/*.fits", "the real-file rows")
        print(missing.strip())
    rows = [
        [what, f"{len(raw) / 1e6:.2f}", ms_per_read(raw, name, args.repeat)]
        for what, raw, name in cases
    ]
    rate, refused = fuzz_rate(cases, args.fuzz)
    record(
        "io",
        "Image I/O: read_image per file",
        ["file", "size (MB)", "ms per read_image"],
        rows,
        notes=f"Fuzz: {rate:.0f} mutated files/s (first 4 kB of the synthetic files, 1-4 random 4-byte overwrites), "
        f"{refused:.0%} refused with InputError, no other exception (n = {args.fuzz})." + missing,
    )


if __name__ == "__main__":
    main()
