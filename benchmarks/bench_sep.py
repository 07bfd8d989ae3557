"""Benchmark of a SEP training step against a MAT step on the same batch (aim: at most 1.7x).

SEP adds two explanation maps with their graphs and a double backward to MAT's PGD steps. Prints the
seconds per step of each, their ratio and the peak memory (GPU, or the process's resident set on a CPU).
Usage: python benchmarks/bench_sep.py [--device cpu|cuda] [--threads 2] [--batch 128] [--steps 10]
                                     [--model convnet|resnet18] [--width 16]
On a batch-norm model (ResNet-18) SEP's maps are taken in eval mode (``lib.measure.sep.sep_loss``).
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from lib.core.memory import keep_freed_memory
from lib.core.settings import AttackConfig, SepConfig, TrainConfig
from lib.nn.models import build_model
from lib.pipeline.training import batch_loss


def timed_steps(model, x, y, cfg: TrainConfig, reps: int, device: str) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(0)

    def step() -> None:
        loss = batch_loss(model, x, y, cfg, cfg.attack, gen)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument(
        "--steps",
        type=int,
        default=10,
        help="PGD steps of the base MAT (the cpu profile's)",
    )
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--model", choices=("convnet", "resnet18"), default="convnet")
    ap.add_argument(
        "--width",
        type=int,
        default=None,
        help="default: 16 (ConvNet), 4 (ResNet-18, the cpu arm)",
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
    width = args.width or (16 if args.model == "convnet" else 4)
    model = build_model(args.model, 1, 10, width=width).to(dev).train()
    x = torch.rand(args.batch, 1, 28, 28, device=dev)
    y = torch.randint(0, 10, (args.batch,), device=dev)
    mat = TrainConfig(
        method="mat", attack=AttackConfig(eps=0.3, step_size=0.075, steps=args.steps)
    )
    sep = TrainConfig(
        method="mat", attack=mat.attack, sep=SepConfig(lam=1e4, sigma=0.1)
    )
    t_mat = timed_steps(model, x, y, mat, args.reps, dev)
    if dev.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t_sep = timed_steps(model, x, y, sep, args.reps, dev)
    print(
        f"device {dev}, threads {torch.get_num_threads()}, {args.model} width {width}, 28x28, batch {args.batch}, "
        f"MAT with PGD-{args.steps}"
    )
    print(
        f"MAT step {1000 * t_mat:.1f} ms; SEP step {1000 * t_sep:.1f} ms; SEP / MAT = {t_sep / t_mat:.2f} "
        f"(aim <= 1.7)"
    )
    if dev.startswith("cuda"):
        print(
            f"peak GPU memory of the SEP steps: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
        )
    print(
        f"peak resident memory of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
