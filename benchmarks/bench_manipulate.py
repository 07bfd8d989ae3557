"""Benchmark of the explanation-manipulation attack on the ConvNet (width 16) with 28x28 inputs.

Prints: attack throughput in pair-steps per second, batched (100 pairs) against one pair at a time; the cost
of one attack step relative to one training step (forward + backward + SGD) on the same batch; peak memory.
The batched attack step and the training step are each the least over ``--repeats`` measurements, since on
a shared machine a single measurement of either varies by a third from run to run.
Usage: python benchmarks/bench_manipulate.py [--device cpu|cuda] [--threads 2] [--pairs 100] [--steps 30]
       [--repeats 3] [--glibc-default-malloc]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
import torch.nn.functional as F

from lib.core.memory import keep_freed_memory
from lib.measure.manipulate import ManipulationConfig, manipulate
from lib.nn.models import build_model


def timed(fn, device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def per_step_seconds(model, xv, xt, steps: int, device: str) -> float:
    """Seconds per attack step, excluding the attack's fixed set-up cost (difference of two run lengths)."""
    cfg = lambda s: ManipulationConfig(steps=s, window=10**9)  # noqa: E731 - no early stopping
    manipulate(model, xv, xt, cfg(2))  # warm-up
    short = timed(lambda: manipulate(model, xv, xt, cfg(steps)), device)
    long = timed(lambda: manipulate(model, xv, xt, cfg(3 * steps)), device)
    return (long - short) / (2 * steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument(
        "--repeats", type=int, default=3, help="least of this many measurements"
    )
    ap.add_argument(
        "--single-pairs", type=int, default=5, help="pairs timed one at a time"
    )
    ap.add_argument(
        "--glibc-default-malloc",
        action="store_true",
        help="leave glibc's allocator as it is (the pipeline keeps freed memory: lib.core.memory)",
    )
    args = ap.parse_args()
    kept = False if args.glibc_default_malloc else keep_freed_memory()
    print(f"freed memory kept for reuse (lib.core.memory): {kept}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = args.device
    model = build_model("convnet", 1, 10, width=16).to(dev).eval()
    x = torch.rand(2 * args.pairs, 1, 28, 28, device=dev)
    xv, xt = x[: args.pairs], x[args.pairs :]

    batched = min(
        per_step_seconds(model, xv, xt, args.steps, dev) for _ in range(args.repeats)
    )
    single = (
        sum(
            per_step_seconds(model, xv[i : i + 1], xt[i : i + 1], args.steps, dev)
            for i in range(args.single_pairs)
        )
        / args.single_pairs
    )
    print(f"device {dev}, threads {torch.get_num_threads()}, ConvNet width 16, 28x28")
    print(
        f"batched ({args.pairs} pairs): {args.pairs / batched:9.1f} pair-steps/s ({1000 * batched:.1f} ms/step)"
    )
    print(
        f"one pair at a time:        {1 / single:9.1f} pair-steps/s ({1000 * single:.1f} ms/step)"
    )
    print(f"batched speed-up:          {single * args.pairs / batched:9.1f}x")

    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    y = torch.randint(0, 10, (args.pairs,), device=dev)

    def train_step():
        loss = F.cross_entropy(model(xv), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    model.train()
    train_step()
    reps = 20
    train = (
        min(
            timed(lambda: [train_step() for _ in range(reps)], dev)
            for _ in range(args.repeats)
        )
        / reps
    )
    model.eval()
    print(
        f"training step on the same batch: {1000 * train:.1f} ms; attack step / training step = "
        f"{batched / train:.2f}"
    )
    if dev.startswith("cuda"):
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print(
        f"peak resident memory of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
