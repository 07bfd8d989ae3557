"""Benchmark of lib.measure.landscape and lib.measure.curvature on the ConvNet (width 16) with 28x28 inputs,
in one run.

Prints:
1. the cost of a 1-D slice relative to the model's own batched passes over the same points: a forward pass
   for the CE slice, a forward + backward pass (the gradient map) for the explanation-loss slice;
2. then runs benchmarks/bench_curvature.py: the extreme Hessian eigenvalues by batched Lanczos against the
   exact ones of the full torch.autograd.functional.hessian (HVPs used, agreement, time), and Hutchinson's
   trace against the exact trace.
Untrained weights (He initialisation), random inputs, float32. Median of --repeats runs.
Usage: python benchmarks/bench_landscape.py [--threads 2] [--n 10] [--points 21] [--directions 7] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from lib.measure.explain import explanation_loss, explanation_map
from lib.measure.landscape import make_grid, random_directions, slice_1d
from lib.nn.models import build_model

sys.path.insert(0, str(Path(__file__).parent))


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=10, help="victims")
    ap.add_argument("--points", type=int, default=21)
    ap.add_argument("--directions", type=int, default=7)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-curvature", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("convnet", 1, 10, width=16).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    n, k = args.n, args.points
    x = torch.rand(n, 1, 28, 28)
    y = torch.randint(0, 10, (n,))
    labels = model(x).argmax(1)
    target_maps = explanation_map(model, torch.rand(n, 1, 28, 28)).detach()
    dirs = [
        random_directions(x, "gaussian", 28.0, seed=j) for j in range(args.directions)
    ]
    ts = make_grid(0.3, k)

    def ce(z, owner):
        return F.cross_entropy(model(z), y[owner], reduction="none")

    def expl(z, owner):
        return explanation_loss(
            explanation_map(model, z, "gradient", target=labels[owner]),
            target_maps[owner],
        )

    points = [
        (x.unsqueeze(1) + ts.view(1, k, 1, 1, 1) * d.unsqueeze(1)).flatten(0, 1)
        for d in dirs
    ]
    owner = torch.arange(n).repeat_interleave(k)
    bs = args.batch_size

    def forward_only():
        with torch.no_grad():
            for p in points:
                for i in range(0, len(p), bs):
                    model(p[i : i + bs])

    def forward_backward():
        for p in points:
            for i in range(0, len(p), bs):
                z = p[i : i + bs].clone().requires_grad_(True)
                logits = model(z)
                torch.autograd.grad(
                    logits.gather(1, labels[owner[i : i + bs]][:, None]).sum(), z
                )

    def slices(loss):
        def run():
            for d in dirs:
                slice_1d(loss, x, d, ts, batch_size=bs, with_owner=True)

        return run

    total = n * k * args.directions
    print(
        f"threads {torch.get_num_threads()}, ConvNet width 16, 28x28, {n} victims x {args.directions} directions "
        f"x {k} points = {total} points, batches of {bs}, median of {args.repeats}"
    )
    t_f = median_time(forward_only, args.repeats)
    t_ce = median_time(slices(ce), args.repeats)
    print(
        f"CE slice:          {t_ce * 1e3:8.1f} ms   model forward over the same points {t_f * 1e3:8.1f} ms   "
        f"ratio {t_ce / t_f:.2f}x (aim <= 1.5x)"
    )
    t_fb = median_time(forward_backward, args.repeats)
    t_ex = median_time(slices(expl), args.repeats)
    print(
        f"expl. loss slice:  {t_ex * 1e3:8.1f} ms   forward + backward over the same points {t_fb * 1e3:8.1f} ms   "
        f"ratio {t_ex / t_fb:.2f}x (aim <= 1.5x)"
    )
    if not args.skip_curvature:
        import bench_curvature

        print()
        sys.argv = [sys.argv[0], "--threads", str(args.threads)]
        bench_curvature.main()


if __name__ == "__main__":
    main()
