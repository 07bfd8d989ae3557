"""Benchmark of lib.measure.curvature on the softplus twin of the ConvNet (width 16) with 28x28 inputs and
the CE loss.

Prints, per example: the extreme eigenvalues of the input Hessian from batched Lanczos (HVPs used, time) against
the exact eigenvalues of the full 784x784 Hessian from torch.autograd.functional.hessian (time), their relative
error and the speed-up; then Hutchinson's trace estimate (with its standard error) against the exact trace.
Untrained weights (He initialisation), random inputs and labels, float32 as the book's models run.
Usage: python benchmarks/bench_curvature.py [--threads 2] [--n 4] [--tol 1e-4] [--max-iter 60] [--probes 64]
"""

from __future__ import annotations

import argparse
import time

import torch

from lib.measure.curvature import ce_loss_fn, extreme_eigenvalues, hessian_trace
from lib.nn.models import build_model, softplus_twin


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--n", type=int, default=4, help="examples (Lanczos runs on all at once)"
    )
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--max-iter", type=int, default=60)
    ap.add_argument("--probes", type=int, default=64)
    ap.add_argument(
        "--beta", type=float, default=10.0, help="softplus beta of the twin"
    )
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = args.device
    model = (
        softplus_twin(build_model("convnet", 1, 10, width=16), args.beta).to(dev).eval()
    )
    for p in model.parameters():
        p.requires_grad_(
            False
        )  # curvature w.r.t. the input only: no weight-gradient bookkeeping
    x = torch.rand(args.n, 1, 28, 28, device=dev)
    y = torch.randint(0, 10, (args.n,), device=dev)
    loss_fn = ce_loss_fn(model, y)

    # Warm-up: the first autograd call of a process pays about 0.7 s of one-off set-up here, which would
    # otherwise be charged to whichever method runs first.
    extreme_eigenvalues(loss_fn, x, tol=args.tol, max_iter=3)
    hessian_trace(loss_fn, x, n_probes=2, seed=0)
    t0 = time.perf_counter()
    res = extreme_eigenvalues(loss_fn, x, tol=args.tol, max_iter=args.max_iter)
    t_lanczos = time.perf_counter() - t0

    t0 = time.perf_counter()
    hessians = [
        torch.autograd.functional.hessian(
            lambda z: ce_loss_fn(model, y[i : i + 1])(z.unsqueeze(0))[0], x[i]
        ).reshape(784, 784)
        for i in range(args.n)
    ]
    t_hessian = time.perf_counter() - t0
    h = torch.stack(hessians).double()
    h = 0.5 * (h + h.transpose(1, 2))
    t0 = time.perf_counter()
    ev = torch.linalg.eigvalsh(h)
    t_eigh = time.perf_counter() - t0
    t_exact = t_hessian + t_eigh

    t0 = time.perf_counter()
    tr = hessian_trace(loss_fn, x, n_probes=args.probes, seed=0)
    t_trace = time.perf_counter() - t0
    exact_trace = torch.diagonal(h, dim1=1, dim2=2).sum(1)

    print(
        f"device {dev}, threads {torch.get_num_threads()}, ConvNet width 16 softplus twin (beta {args.beta}), "
        f"28x28, CE loss, float32, {args.n} examples"
    )
    print(
        f"Lanczos (batched over {args.n}, tol {args.tol:g}, cap {args.max_iter}): {res.n_hvp} HVPs, "
        f"{t_lanczos:.2f} s; converged {int(res.converged.sum())}/{args.n}, "
        f"iterations per example {res.iterations.tolist()}"
    )
    print(
        f"exact: full 784x784 Hessian per example {t_hessian:.2f} s + eigvalsh {t_eigh:.2f} s = {t_exact:.2f} s"
    )
    print(f"speed-up: {t_exact / t_lanczos:.1f}x")
    print(
        " ex   lambda_max (Lanczos / exact, rel err, residual)"
        "        lambda_min (Lanczos / exact, rel err, residual)"
    )
    for i in range(args.n):
        lmax, lmin = float(res.largest[i]), float(res.smallest[i])
        emax, emin = float(ev[i, -1]), float(ev[i, 0])
        print(
            f"{i:3d}   {lmax:11.5g} / {emax:11.5g}  {abs(lmax - emax) / abs(emax):8.1e}  "
            f"{float(res.error_largest[i]):8.1e}     {lmin:11.5g} / {emin:11.5g}  "
            f"{abs(lmin - emin) / abs(emin):8.1e}  {float(res.error_smallest[i]):8.1e}"
        )
    print(
        f"Hutchinson trace ({args.probes} Rademacher probes, {tr.n_hvp} HVPs, {t_trace:.2f} s):"
    )
    for i in range(args.n):
        est, se, ex = float(tr.trace[i]), float(tr.stderr[i]), float(exact_trace[i])
        print(
            f"{i:3d}   estimate {est:11.5g} +- {se:9.3g}   exact {ex:11.5g}   "
            f"(error {abs(est - ex) / se if se > 0 else float('inf'):.2f} standard errors)"
        )


if __name__ == "__main__":
    main()
