"""The `paper` profile's exact code path at toy size on the CPU, so that no GPU hour is lost to a crash.

Every experiment of the profile (MNIST and Fashion-MNIST with the ConvNet, MNIST and CIFAR-10 with the
full-width ResNet-18 on 1x28x28 and 3x32x32 inputs), every stage (``python -m lib.plan``) and every chapter
and the HTML build run with the profile's own models, methods and settings, shrunk only in size: a few
images, one epoch, one seed, two TRADES weights plus MAT, a few pairs and attack steps, small landscapes.
Usage: ``python scripts/paper_dry.py`` (``make paper-dry``); RESULTS_DIR defaults to a fresh temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {  # only sizes change; every method, model and setting not named here is the paper profile's
    "device": "cpu",
    "threads": 2,
    "seeds": [0],
    "sweep.betas": [0.0, 1.0],
    "manipulation.pairs": 4,
    "manipulation.steps": 3,
    "prototypes.n_clusters": 3,
    "prototypes.victims_per_cluster": 2,
    "prototypes.steps": 3,
    "prototypes.validation.n_images": 4,
    "prototypes.validation.n_clusters": 2,
    "prototypes.validation.victims_per_cluster": 1,
    "prototypes.validation.targets_per_victim": 1,
    "prototypes.validation.kmeans_seeds": 2,
    "prototypes.validation.resamples": 20,
    "prototypes.validation.timing_pairs": [2],
    "prototypes.validation.timing_steps": 1,
    "landscape.victims": 3,
    "landscape.points": 5,
    "landscape.gaussian": 1,
    "landscape.sign": 1,
    "landscape.surface_victims": 1,
    "landscape.surface_points": 5,
    "landscape.eig_max_iter": 3,
    "landscape.trace_probes": 2,
}
EXPERIMENT_SIZES = {
    "data.n_train": 40,
    "data.n_test": 40,
    "train.epochs": 1,
    "train.batch_size": 20,
    "train.monitor_n": 10,
    "train.attack.steps": 1,
    "eval.n": 40,
    "eval.batch_size": 40,
    "eval.attack.steps": 2,
    "eval.masking_attack.steps": 2,
    "eval.masking_attack.restarts": 2,
}
EXPERIMENTS = (
    "mnist",
    "mnist-resnet18",
    "fashion-mnist",
    "cifar10",
    "cifar10-resnet18",
)


def overrides(device: str = "cpu") -> list[str]:
    """The `--set` arguments that shrink the paper profile."""
    sets = {
        **SIZES,
        "device": device,
        **{
            f"experiments.{e}.{k}": v
            for e in EXPERIMENTS
            for k, v in EXPERIMENT_SIZES.items()
        },
        # two lambdas per experiment (the paper's, one of each sign) instead of eight: fewer SEP models
        **{f"sep.lambdas.{e}": [-3000.0, 50000.0] for e in EXPERIMENTS},
    }
    out = []
    for k, v in sets.items():
        out += ["--set", f"{k}={v}".replace("'", "")]
    return out


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    print("[paper-dry]", " ".join(cmd[:4]), "...", flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    return time.perf_counter() - t0


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--device", default="cpu", help="cpu (CI) or cuda (the same toy run on a GPU)"
    )
    ap.add_argument(
        "--stages-only",
        action="store_true",
        help="skip the chapters and the HTML build",
    )
    args = ap.parse_args()
    os.environ.setdefault("RESULTS_DIR", tempfile.mkdtemp(prefix="paper-dry-"))
    os.environ.setdefault("TQDM_DISABLE", "1")
    py = sys.executable
    t_tasks = run([py, "-m", "lib.plan", "--profile", "paper", *overrides(args.device)])
    t_list = run(
        [py, "-m", "lib.plan", "--profile", "paper", "--list", *overrides(args.device)]
    )
    if args.stages_only:
        print(
            f"[paper-dry] every stage {t_tasks:.0f} s on {args.device}, listing {t_list:.0f} s"
        )
        return 0
    t_book = run(
        [py, "scripts/build_book.py", "--profile", "paper", *overrides(args.device)]
    )
    print(
        f"[paper-dry] every stage {t_tasks:.0f} s, listing {t_list:.0f} s, every chapter and the HTML "
        f"{t_book:.0f} s; store {os.environ['RESULTS_DIR']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
