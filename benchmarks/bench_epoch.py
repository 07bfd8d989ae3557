"""Time one training epoch of the paper profile's recipes, and several trainings sharing one device.

For each architecture of the paper profile (ConvNet on 1x28x28, ResNet-18 on 3x32x32, their widths) and
method (MAT, TRADES with the profile's PGD steps): the seconds per batch of
``lib.pipeline.training.batch_loss`` + backward + SGD at the paper's batch size on random data of the
dataset's shape, timed over ``--batches`` batches after a warm-up, and scaled to a full epoch (60,000 MNIST
or 50,000 CIFAR-10 training images).
With ``--concurrent K`` it runs K copies of the first recipe as separate processes at once and reports their
combined throughput against one copy alone (what fractional-GPU scheduling, e.g. Ray's, buys).
Usage: python benchmarks/bench_epoch.py [--device cuda] [--batches 20] [--concurrent 4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace

import torch

from lib.core.profile import load_profile
from lib.nn.data import NUM_CLASSES
from lib.nn.models import model_from_config
from lib.pipeline.training import attack_at, batch_loss

RECIPES = {
    "ConvNet MNIST": ("mnist", 60000),
    "ResNet-18 CIFAR-10": ("cifar10-resnet18", 50000),
}
SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def seconds_per_batch(experiment: str, method: str, device: str, batches: int) -> float:
    exp = load_profile("paper").experiment(experiment)
    cfg = replace(exp.train, method=method, beta=6.0 if method == "trades" else 0.0)
    torch.manual_seed(0)
    model = (
        model_from_config(
            exp.model, SHAPES[exp.data.name][0], NUM_CLASSES[exp.data.name]
        )
        .to(device)
        .train()
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(cfg.batch_size, *SHAPES[exp.data.name], device=device)
    y = torch.randint(0, 10, (cfg.batch_size,), device=device)
    attack = attack_at(cfg, cfg.epochs)  # the full budget, after the warm-up

    def step() -> None:
        loss = batch_loss(model, x, y, cfg, attack)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(batches):
        step()
    sync(device)
    return (time.perf_counter() - t0) / batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--concurrent", type=int, default=0)
    ap.add_argument(
        "--one", help="internal: time one recipe as 'name|method' and print JSON"
    )
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    if args.one:
        name, method = args.one.split("|")
        print(
            json.dumps(
                {
                    "s": seconds_per_batch(
                        RECIPES[name][0], method, args.device, args.batches
                    )
                }
            )
        )
        return
    name0 = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    )
    print(f"device {name0}; paper batch size; random data of the dataset's shape")
    for name, (experiment, n_train) in RECIPES.items():
        exp = load_profile("paper").experiment(experiment)
        for method in ("mat", "trades"):
            s = seconds_per_batch(experiment, method, args.device, args.batches)
            per_epoch = s * -(-n_train // exp.train.batch_size)
            print(
                f"{name:<20} {method:<7} PGD-{exp.train.attack.steps:<3} {1000 * s:8.1f} ms/batch  "
                f"{per_epoch:7.1f} s/epoch  ({exp.train.epochs} epochs: {per_epoch * exp.train.epochs / 60:.1f} min)"
            )
    if args.concurrent:
        cmd = [
            sys.executable,
            __file__,
            "--device",
            args.device,
            "--batches",
            str(args.batches),
            "--one",
            "ConvNet MNIST|mat",
        ]
        alone = json.loads(
            subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        )["s"]
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            for _ in range(args.concurrent)
        ]
        each = [json.loads(p.communicate()[0])["s"] for p in procs]
        wall = time.perf_counter() - t0
        print(
            f"{args.concurrent} ConvNet MAT trainings at once: {1000 * sum(each) / len(each):.1f} ms/batch each "
            f"against {1000 * alone:.1f} alone; throughput {args.concurrent * alone / (sum(each) / len(each)):.2f}x "
            f"one at a time (wall {wall:.1f} s for {args.concurrent} x {args.batches} batches, start-up included)"
        )


if __name__ == "__main__":
    main()
