"""Disk autoencoders on the wider disk family (generator 2.1): noise-free quality, rings, clusters, real data.

Run: .venv/bin/python -m bench.disk_family [--n 300] [--seed 2024] [--realdata DIR]

Test images are simulated on the fly from an unseen seed (image i from `image_rng(seed, i)`, as
`python -m core simulate disks --seed SEED` would), noise-free (`noise=False`) and with their
thermal noise. Rows per shipped disk autoencoder:

- MS-SSIM(recon(noise-free), noise-free), all images and per morphology (full / transition / rings),
  and MS-SSIM(recon(noisy), noise-free): how well the noise is removed;
- ring-only disks: the share of images whose reconstruction's deprojected radial profile peaks
  within one beam FWHM of a true ring radius (and, stricter, of the noise-free image's own
  profile peak); a centrally
  peaked blob fails;
- ARI of k-means clusters of the latent (of the noisy images) against the planet count (k = 4)
  and against has-planet (k = 2), on the PCA-whitened latent (and on the raw standardised one), and on
  the observation-invariant directions (re-observations of other disks, core.analysis.observation_invariance);
- the third-party CASA ring image and its sky model (DIR/disks of the real-data folder given by
  --realdata or EQUISCOPE_REALDATA, bench/_realdata.py): MS-SSIM of the reconstruction against its
  input, whole frame (before cutouts) and on the cutout; "absent" without the folder.

Rows: every shipped disk autoencoder (ensembles included), then each `--checkpoint NAME` (e.g. an
experiment in runs/). For an ensemble the notes add the noise-free MS-SSIM and ring score of its
first k members averaged, k = 1..K. `--latents FILE.npz` keeps each model's latents, the planet
counts and morphologies for clustering experiments.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from bench._realdata import absent_note, add_argument, realdata_dir, realdata_file
from bench.record import record
from core.analysis.observation_invariance import observation_invariant_directions, project
from core.checkpoints import SHIPPED, list_checkpoints, load_model
from core.data.dataset_writer import image_rng, sample_params
from core.data.disks import profile_peak_au, simulate_disk
from core.data.preprocess import prepare
from core.data.simulator_versions import DISK_SIMULATOR_VERSION
from core.models.losses import ms_ssim_value

REAL_FILES = ("disks/ring20_robust0.5_clean.image.fits", "disks/ring20__model_image.fits")


def test_images(n: int, seed: int, size: int = 129):
    """(noise-free (n, 1, S, S), noisy (n, 1, S, S), params list) of the first n images of `seed`."""
    clean, noisy, params = [], [], []
    for i in range(n):
        rng = image_rng(seed, i)
        p = sample_params("disks", i, size, rng)
        noisy.append(prepare(simulate_disk(p, size, rng), size))
        clean.append(prepare(simulate_disk(p, size, noise=False), size))
        params.append(p)
    as_tensor = lambda a: torch.from_numpy(np.stack(a))[:, None]  # noqa: E731
    return as_tensor(clean), as_tensor(noisy), params


@torch.no_grad()
def run_model(model, x: torch.Tensor, batch: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    recon, z = [], []
    for i in range(0, len(x), batch):
        recon.append(model(x[i : i + batch]).clamp(0, 1))
        z.append(model.encode(x[i : i + batch]))
    return torch.cat(recon), torch.cat(z)


def per_image_ms_ssim(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    return np.array([float(ms_ssim_value(a[i : i + 1], b[i : i + 1])) for i in range(len(a))])


def ring_hits(recon: torch.Tensor, clean: torch.Tensor, params: list) -> tuple[int, int, int]:
    """(hits, same-peak hits, ring-only images): the reconstruction's deprojected profile peaks within one
    beam FWHM of a true ring radius (the issue's criterion); same-peak: within one beam of the noise-free
    image's own profile peak (stricter when a disk has several rings)."""
    hits = same = total = 0
    for i, p in enumerate(params):
        if p.morphology != "rings":
            continue
        beam_au = p.beam_fwhm_arcsec * p.distance_pc
        got = profile_peak_au(recon[i, 0].numpy(), p)
        total += 1
        hits += min(abs(got - ring) for ring in p.ring_radii_au) <= beam_au
        same += abs(got - profile_peak_au(clean[i, 0].numpy(), p)) <= beam_au
    return hits, same, total


@torch.no_grad()
def ensemble_curve(ensemble, clean: torch.Tensor, params: list, batch: int = 32) -> str:
    """"k: MS-SSIM, ring hits" for the mean reconstruction of the first k members, k = 1..K (noise-free inputs)."""
    outs = torch.stack([torch.cat([m(clean[i : i + batch]) for i in range(0, len(clean), batch)]) for m in ensemble.members])
    parts = []
    for k in range(1, len(outs) + 1):
        recon = outs[:k].mean(dim=0).clamp(0, 1)
        hits, _, total = ring_hits(recon, clean, params)
        parts.append(f"k={k} {per_image_ms_ssim(recon, clean).mean():.4f}, rings {hits}/{total}")
    return "; ".join(parts)


def cluster_ari(z: np.ndarray, labels: np.ndarray, k: int, whiten: bool, seed: int = 0) -> float:
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(z)
    if whiten:
        x = PCA(whiten=True, n_components=min(x.shape[1], 8), random_state=seed).fit_transform(x)
    pred = KMeans(k, n_init=10, random_state=seed).fit_predict(x)
    return float(adjusted_rand_score(labels, pred))


def reobserved_set(n_disks: int, views: int, seed: int = 5000, size: int = 129) -> tuple[torch.Tensor, np.ndarray]:
    """(images (n_disks * views, 1, S, S), disk index of each): every disk as drawn, then observed again
    `views - 1` times (`core.data.disks.reobserve`: new inclination, orientation, framing, beam, SNR)."""
    from core.data.disks import reobserve

    images, disk = [], []
    for i in range(n_disks):
        rng = image_rng(seed, i)
        p = sample_params("disks", i, size, rng)
        for v in range(views):
            q = p if v == 0 else reobserve(p, size, rng)
            images.append(prepare(simulate_disk(q, size, rng), size))
            disk.append(i)
    return torch.from_numpy(np.stack(images))[:, None], np.array(disk)


def real_data_scores(loaded, realdata: Path | None) -> list[str]:
    from core.analysis.reconstruct import reconstruct_cutout
    from core.io import read_image

    out = []
    for name in REAL_FILES:
        path = realdata_file(realdata, name)
        if path is None:
            out.append("absent")
            continue
        image = read_image(path)
        x = torch.from_numpy(prepare(image.data, loaded.image_size))[None, None]
        with torch.no_grad():
            whole = float(ms_ssim_value(loaded.model(x).clamp(0, 1), x))
        cut = reconstruct_cutout(loaded.model, loaded.image_size, image.data, pixel_scale_arcsec=image.meta.pixel_scale_arcsec,
                                 fill_value=image.meta.fill_value, bunit=image.meta.bunit)
        out.append(f"{whole:.3f} → {cut.metrics['ms_ssim']:.3f}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="test images")
    parser.add_argument("--seed", type=int, default=2024, help="simulation seed (unseen in training)")
    parser.add_argument("--checkpoint", action="append", default=[], help="also score this checkpoint (name or .pt); repeatable")
    parser.add_argument("--reobserved", type=int, default=200, help="disks (x 3 observations) that define the observation-invariant directions")
    parser.add_argument("--latents", default=None, help="write every model's latents and the labels to this .npz")
    add_argument(parser)
    args = parser.parse_args(argv)
    realdata = realdata_dir(args.realdata)
    missing = [absent_note(realdata, name, "the real-data columns") for name in REAL_FILES if realdata_file(realdata, name) is None]
    missing = [absent_note(None, " and ".join(REAL_FILES), "the real-data columns")] if realdata is None else missing
    for sentence in missing:
        print(sentence)
    torch.set_num_threads(2)
    clean, noisy, params = test_images(args.n, args.seed)
    reference, disk = reobserved_set(args.reobserved, 3)
    truth_hits, _, truth_total = ring_hits(clean, clean, params)
    morph = np.array([p.morphology for p in params])
    planets = np.array([p.n_planets for p in params])
    rows, notes, kept = [], [], {"planets": planets, "morphology": morph}
    names = [e["name"] for e in list_checkpoints() if e["name"] in SHIPPED and e["kind"] == "autoencoder"] + args.checkpoint
    for name in names:
        loaded = load_model(name)
        recon_clean, _ = run_model(loaded.model, clean)
        recon_noisy, z = run_model(loaded.model, noisy)
        scores = per_image_ms_ssim(recon_clean, clean)
        denoised = per_image_ms_ssim(recon_noisy, clean).mean()
        hits, same, total = ring_hits(recon_clean, clean, params)
        if hasattr(loaded.model, "members"):
            notes.append(f"{loaded.name}, first k members averaged: " + ensemble_curve(loaded.model, clean, params) + ".")
        z = z.numpy()
        kept[f"z/{loaded.name}"] = z
        aris = [cluster_ari(z, planets, 4, w) for w in (True, False)] + [cluster_ari(z, planets > 0, 2, w) for w in (True, False)]
        mean, scale, directions = observation_invariant_directions(run_model(loaded.model, reference)[1].numpy(), disk)
        projected = project(z, mean, scale, directions)
        aris += [cluster_ari(projected, planets, 4, False), cluster_ari(projected, planets > 0, 2, False)]
        real = real_data_scores(loaded, realdata)
        rows.append([name, f"{scores.mean():.4f}", *(f"{scores[morph == m].mean():.3f}" for m in ("full", "transition", "rings")), f"{denoised:.4f}",
                     f"{hits}/{total} = {hits / max(total, 1):.0%} ({same / max(total, 1):.0%})",
                     f"{aris[0]:.3f} ({aris[1]:.3f})", f"{aris[2]:.3f} ({aris[3]:.3f})",
                     f"{aris[4]:.3f} / {aris[5]:.3f} ({directions.shape[1]} dims)", *real])
    if args.latents:
        np.savez(args.latents, **kept)
    record("disk_family", "Disk autoencoders on the wider disk family: noise-free MS-SSIM, rings, clusters, real data",
           ["model", "MS-SSIM noise-free", "full", "transition", "rings", "MS-SSIM noisy input vs noise-free", "ring peak within 1 beam of a ring (of the noise-free peak)",
            "ARI planet count, whitened (raw)", "ARI has-planet, whitened (raw)",
            "ARI count / has-planet, observation-invariant directions",
            "CASA ring: whole frame → cutout", "sky model: whole frame → cutout"], rows,
           notes=f"Disk generator {DISK_SIMULATOR_VERSION}, seed {args.seed} (unseen), first {args.n} images on the 129-px grid "
                 f"({', '.join(f'{(morph == m).sum()} {m}' for m in ('full', 'transition', 'rings'))}). MS-SSIM with a "
                 "7-px window (core.models.losses) of the reconstruction of the noise-free image against it. Ring peak: "
                 "deprojected azimuthal profile of the reconstruction, peak within one beam FWHM of a true ring radius (in "
                 "brackets: of the noise-free image's own profile peak); the noise-free images themselves score "
                 f"{truth_hits}/{truth_total}. ARI: "
                 "k-means (k = 4 vs planet count, k = 2 vs has-planet) on the latent of the noisy images, standardised "
                 "and PCA-whitened to 8 components (in brackets: standardised only). Observation-invariant directions: "
                 f"{args.reobserved} other disks (seed 5000) each observed 3 times (core.data.disks.reobserve); the latent "
                 "directions whose between-disk variance exceeds the within-disk (re-observation) variance, as in LDA "
                 "with each disk as its own class (no planet labels), then k-means there. Real data: MS-SSIM of the "
                 "reconstruction against its input, the whole 512-px frame resampled to the grid vs the automatic "
                 "cutout (core.data.cutout), for the third-party CASA simobserve+tclean image of a 20 au ring and "
                 "its sky model (files disks/ring20_robust0.5_clean.image.fits and disks/ring20__model_image.fits of the "
                 "real-data folder, --realdata or EQUISCOPE_REALDATA). " + " ".join(missing + notes))


if __name__ == "__main__":
    main()
