"""Training steps per second on this machine's CPU for the translation network's options.

    python benchmarks/bench_training_speed.py [--steps 6] [--threads 1 2]

One training step of the generator protocol (forward, L1 loss, backward, Adam) of the Res-U-Net
``small`` with a global residual and an enhancement map (the full-resolution recipes'
network), on a batch of cubes that cover the same 64 mm of head at 1 mm and at 2 mm, in
float32, under bfloat16 autocast and in channels-last memory order, for each thread count.
Random inputs: the cost of a convolution does not depend on the values. The first two steps
are warm-up and not timed. Prints one row per option: seconds per step, steps per second and
voxels per second; the cheapest option that keeps the field of view is the one to train with
(docs/full_resolution_model.md).
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from ce2nce_pipeline.models.registry import build_preset

OPTIONS = (
    # name, cube edge (voxels), voxel size (mm), autocast dtype, channels last
    ("1 mm, 64^3", 64, 1, None, False),
    ("2 mm, 32^3", 32, 2, None, False),
    ("2 mm, 64^3 (128 mm of head)", 64, 2, None, False),
    ("2 mm, 32^3, bf16 autocast", 32, 2, torch.bfloat16, False),
    ("2 mm, 32^3, channels-last", 32, 2, None, True),
)


def network() -> torch.nn.Module:
    return build_preset(
        "res_unet",
        "small",
        global_residual=True,
        normalisation="none",
        enhancement_map=True,
    )


def seconds_per_step(edge: int, cubes: int, steps: int, dtype, channels_last: bool) -> float:
    torch.manual_seed(0)
    model = network()
    memory_format = torch.channels_last_3d if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    ce = torch.rand(cubes, 1, edge, edge, edge).to(memory_format=memory_format)
    target = ce * 0.9
    autocast = (
        torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()
    )
    times = []
    for _ in range(steps + 2):
        started = time.perf_counter()
        with autocast:
            loss = torch.nn.functional.l1_loss(model(ce).float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return sum(times[2:]) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--cubes", type=int, default=4, help="cubes per step (default 4)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print("option\tthreads\ts/step\tsteps/s\tMvoxel/s\tmm3 of head per s", flush=True)
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, edge, voxel_mm, dtype, channels_last in OPTIONS:
            seconds = seconds_per_step(edge, args.cubes, args.steps, dtype, channels_last)
            voxels = args.cubes * edge**3
            print(
                f"{name}\t{threads}\t{seconds:.3f}\t{1 / seconds:.2f}\t"
                f"{voxels / seconds / 1e6:.2f}\t{voxels * voxel_mm**3 / seconds / 1e6:.1f}e6",
                flush=True,
            )


if __name__ == "__main__":
    main()
