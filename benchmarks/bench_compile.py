"""Does ``torch.compile`` make the cpu profile's training and PGD faster here, and does it keep the results?

For the ``cpu`` profile's MNIST ConvNet at its batch size and thread count: the seconds per MAT step
(``lib.pipeline.training.batch_loss`` with the profile's PGD-10, backward, SGD) and per TRADES step, and the
seconds of a PGD-20 evaluation (``lib.nn.pgd.evaluate``) of the published mnist MAT model on 500 test images, eager against ``torch.compile``
(inductor, default mode), each after a warm-up that includes the compilation (its time is printed apart).
Results: the largest weight difference after the timed steps from the same initial weights and batches, and
whether the PGD accuracies agree; torch.compile is adopted only where it is faster and bit-identical (else
the training code version would have to change).
Usage: python benchmarks/bench_compile.py [--steps 20] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from lib.core.profile import load_profile, setup_runtime
from lib.nn.data import NUM_CLASSES
from lib.nn.models import model_from_config
from lib.nn.pgd import evaluate
from lib.pipeline.explanation_attack import evaluation_images
from lib.pipeline.training import attack_at, batch_loss
from lib.pretrained import load_model


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def fresh_model(exp, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return model_from_config(exp.model, 1, NUM_CLASSES[exp.data.name]).to(device)


def train_steps(
    exp, method: str, device: str, steps: int, compiled: bool
) -> tuple[float, float, dict]:
    """(first-step seconds with compilation, seconds per later step, final weights)."""
    cfg = replace(exp.train, method=method, beta=6.0 if method == "trades" else 0.0)
    model = fresh_model(exp, device).train()
    run = torch.compile(model) if compiled else model
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(1)
    batches = [
        (
            torch.rand(cfg.batch_size, 1, 28, 28, generator=gen).to(device),
            torch.randint(0, 10, (cfg.batch_size,), generator=gen).to(device),
        )
        for _ in range(steps + 1)
    ]
    attack = attack_at(cfg, cfg.epochs)
    torch.manual_seed(2)

    def step(x, y) -> None:
        loss = batch_loss(run, x, y, cfg, attack)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    step(*batches[0])
    sync(device)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for x, y in batches[1:]:
        step(x, y)
    sync(device)
    return first, (time.perf_counter() - t0) / steps, model.state_dict()


def pgd_eval(profile, exp, device: str, compiled: bool) -> tuple[float, float, float]:
    """(seconds of a first evaluation with compilation, seconds of a second, PGD accuracy) of the published
    mnist MAT model (``lib.load_model``) on the first 500 evaluation images."""
    model = load_model(profile, "mnist", "MAT", device=device)
    run = torch.compile(model) if compiled else model
    x, y = evaluation_images(profile, "mnist")
    x, y = x[:500], y[:500]
    times = []
    for _ in range(2):
        torch.manual_seed(4)
        t0 = time.perf_counter()
        acc = evaluate(run, x, y, exp.eval.attack, exp.eval.batch_size, progress=False)
        sync(device)
        times.append(time.perf_counter() - t0)
    return times[0], times[1], acc.pgd_acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    profile = load_profile("cpu", {"device": args.device})
    setup_runtime(profile)
    exp = profile.experiment("mnist")
    print(
        f"cpu profile, mnist ConvNet width {exp.model.width}, batch {exp.train.batch_size}, "
        f"{torch.get_num_threads()} thread(s), device {args.device}, torch {torch.__version__}"
    )
    for method in ("mat", "trades"):
        e_first, e_step, e_w = train_steps(exp, method, args.device, args.steps, False)
        c_first, c_step, c_w = train_steps(exp, method, args.device, args.steps, True)
        diff = max((e_w[k].float() - c_w[k].float()).abs().max().item() for k in e_w)
        print(
            f"{method:<6} step: eager {1000 * e_step:.1f} ms, compiled {1000 * c_step:.1f} ms "
            f"({e_step / c_step:.2f}x; compilation {c_first - e_first:.1f} s); "
            f"largest weight difference after {args.steps + 1} steps {diff:.2e}"
        )
    e_first, e_time, e_acc = pgd_eval(profile, exp, args.device, False)
    c_first, c_time, c_acc = pgd_eval(profile, exp, args.device, True)
    print(
        f"PGD-{exp.eval.attack.steps} evaluation of 500 images: eager {e_time:.2f} s, compiled {c_time:.2f} s "
        f"({e_time / c_time:.2f}x; compilation {c_first - e_first:.1f} s); PGD accuracy {e_acc:.4f} "
        f"against {c_acc:.4f}"
    )


if __name__ == "__main__":
    main()
