"""Benchmark of lib.measure.curvature.explanation_change_curvature on the smoke profile's ConvNet (width 8, 8x8
inputs, softplus twin), the target-free curvature G = (2/P) J^T J of the explanation change.

Prints the seconds per input of the measurement (one batched call: the map with its graph, batched Lanczos for
the spectral norm, Hutchinson for the trace and ||G||_F^2), the operator calls it used, the peak memory (GPU:
torch's peak allocation; CPU: the process's peak resident set, and how much the measurement raised it), and
the spectral norm and trace against the exact G from torch.autograd.functional.jacobian (time, error).
Untrained weights (He initialisation), random inputs, float32 as the book's models run.
Usage: python benchmarks/bench_change_curvature.py [--threads 2] [--n 10] [--method gradient] [--tol 1e-4]
                                                  [--max-iter 50] [--probes 32] [--beta 10] [--device cpu]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from lib.measure.curvature import explanation_change_curvature
from lib.measure.explain import explanation_map
from lib.nn.models import build_model, softplus_twin


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=10, help="inputs (measured in one batch)")
    ap.add_argument("--method", default="gradient")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--max-iter", type=int, default=50)
    ap.add_argument("--probes", type=int, default=32)
    ap.add_argument(
        "--beta", type=float, default=10.0, help="softplus beta of the twin"
    )
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = args.device
    model = (
        softplus_twin(build_model("convnet", 1, 10, width=8), args.beta).to(dev).eval()
    )
    x = torch.rand(args.n, 1, 8, 8, device=dev)
    kw = dict(tol=args.tol, max_iter=args.max_iter, n_probes=args.probes, seed=0)

    # Warm-up: the first autograd calls of a process pay one-off set-up costs.
    explanation_change_curvature(model, x[:2], args.method, max_iter=2, n_probes=2)
    if dev.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before = rss_mib()
    t0 = time.perf_counter()
    res = explanation_change_curvature(model, x, args.method, **kw)
    if dev.startswith("cuda"):
        torch.cuda.synchronize()
    t_measure = time.perf_counter() - t0
    rss_after = rss_mib()

    t0 = time.perf_counter()
    exact = []
    for i in range(args.n):
        j = torch.autograd.functional.jacobian(
            lambda z: explanation_map(model, z[None], args.method, create_graph=True)[
                0
            ].flatten(),
            x[i],
        ).reshape(64, 64)
        g = (2 / 64 * j.T @ j).double()
        exact.append(
            (torch.linalg.eigvalsh(g)[-1], torch.diagonal(g).sum(), g.pow(2).sum())
        )
    t_exact = time.perf_counter() - t0

    calls = int(res["iterations"].max()) + args.probes
    print(
        f"device {dev}, threads {torch.get_num_threads()}, smoke ConvNet width 8 softplus twin "
        f"(beta {args.beta}), 8x8, {args.method} map, float32, {args.n} inputs in one batch"
    )
    print(
        f"explanation_change_curvature: {t_measure:.3f} s = {t_measure / args.n * 1e3:.1f} ms per input; "
        f"{calls} batched operator calls (Lanczos {int(res['iterations'].max())}, tol {args.tol:g}, "
        f"converged {int(res['converged'].sum())}/{args.n}; Hutchinson {args.probes} probes)"
    )
    if dev.startswith("cuda"):
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.1f} MiB")
    print(
        f"peak resident memory of the process: {rss_after:.0f} MiB "
        f"(raised by {rss_after - rss_before:.1f} MiB during the measurement)"
    )
    print(
        f"exact G from the full 64x64 Jacobian, one input at a time: {t_exact:.3f} s "
        f"= {t_exact / args.n * 1e3:.1f} ms per input"
    )
    print(
        " in   spectral (estimate / exact, rel err)     trace (estimate +- stderr / exact)"
        "      ||G||_F^2 (estimate / exact)"
    )
    for i, (lam, tr, fro) in enumerate(exact):
        s, t, f = (
            float(res["spectral"][i]),
            float(res["trace"][i]),
            float(res["frobenius_sq"][i]),
        )
        print(
            f"{i:3d}   {s:10.4g} / {float(lam):10.4g}  {abs(s - lam) / lam:8.1e}     "
            f"{t:10.4g} +- {float(res['trace_stderr'][i]):8.2g} / {float(tr):10.4g}     "
            f"{f:10.4g} / {float(fro):10.4g}"
        )


if __name__ == "__main__":
    main()
