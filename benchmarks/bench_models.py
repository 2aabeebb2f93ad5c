"""Inference (and optionally training-step) time and peak memory of the translation networks.

Each (architecture, preset) runs in a fresh process so that its peak memory is its own.
Inference goes through the full :class:`~ce2nce_pipeline.models.Predictor` path on a real
169x208x179 t1-linear-sized volume (Colin27 resampled): min-max scaling, 128^3 trilinear,
network, back to 169x208x179. On CUDA it also measures batched throughput (volumes/s).

    python benchmarks/bench_models.py [--device cpu|cuda] [--threads 2] [--presets tiny small]
                                      [--models res_unet att_unet trans_unet] [--train]
                                      [--batch 16] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

WORKER = r"""
import json, resource, sys, time
import numpy as np, nibabel as nib, torch
from nibabel.processing import resample_from_to
from ce2nce_pipeline.models import Predictor, build_preset, count_parameters
from ce2nce_pipeline.science.templates import CROP_AFFINE, CROP_SHAPE
name, preset, device, threads, repeat, batch, train = sys.argv[1:8]
threads, repeat, batch, train = int(threads), int(repeat), int(batch), train == "1"
torch.manual_seed(0)
torch.set_num_threads(threads)
colin = nib.load("/usr/share/mricron/templates/ch2.nii.gz")
resampled = resample_from_to(colin, (CROP_SHAPE, CROP_AFFINE), order=1)
volume = np.asarray(resampled.dataobj, np.float32)
model = build_preset(name, preset)
predictor = Predictor(model, device=device, num_threads=threads)
cuda = predictor.device.type == "cuda"
sync = torch.cuda.synchronize if cuda else (lambda: None)
predictor.predict_array(volume)  # warm-up (cuDNN autotune, allocations)
sync()
times = []
for _ in range(repeat):
    start = time.perf_counter(); predictor.predict_array(volume); sync()
    times.append(time.perf_counter() - start)
result = {"params": count_parameters(model), "seconds": float(np.median(times))}
if cuda and batch > 1:
    net = predictor.model
    x = torch.rand(batch, 1, 128, 128, 128, device=predictor.device)
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
        net(x); sync(); start = time.perf_counter(); net(x); sync()
    result["volumes_per_s"] = batch / (time.perf_counter() - start)
if train:
    net = model.to(predictor.device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.rand(2, 1, 128, 128, 128, device=predictor.device)
    steps = []
    for _ in range(2):
        start = time.perf_counter(); optimizer.zero_grad()
        torch.nn.functional.l1_loss(net(x), x).backward(); optimizer.step(); sync()
        steps.append(time.perf_counter() - start)
    result["train_step_s"] = steps[-1]
if cuda:
    result["peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    result["device_name"] = torch.cuda.get_device_name(predictor.device)
else:
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["device_name"] = "CPU"
print(json.dumps(result))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["res_unet", "att_unet", "trans_unet"])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16, help="CUDA throughput batch size")
    parser.add_argument("--train", action="store_true", help="also time a training step")
    args = parser.parse_args()
    print(f"device {args.device}, {args.threads} torch thread(s), {os.cpu_count()} CPU(s)")
    header = f"{'model':11s} {'preset':7s} {'params':>11s} {'s/volume':>9s} {'vol/s':>7s}"
    print(header + f" {'train s':>8s} {'peak MiB':>9s}  device")
    for name in args.models:
        for preset in args.presets:
            completed = subprocess.run(
                [sys.executable, "-c", WORKER, name, preset, args.device, str(args.threads),
                 str(args.repeat), str(args.batch), "1" if args.train else "0"],
                capture_output=True, text=True,
            )  # fmt: skip
            if completed.returncode:
                last = (completed.stderr.strip().splitlines() or ["?"])[-1]
                print(f"{name:11s} {preset:7s} failed: {last}")
                continue
            r = json.loads(completed.stdout.strip().splitlines()[-1])
            throughput = f"{r['volumes_per_s']:7.1f}" if "volumes_per_s" in r else f"{'-':>7s}"
            train = f"{r['train_step_s']:8.1f}" if "train_step_s" in r else f"{'-':>8s}"
            print(
                f"{name:11s} {preset:7s} {r['params']:11,d} {r['seconds']:9.2f} {throughput} "
                f"{train} {r['peak_mib']:9.0f}  {r['device_name']}"
            )


if __name__ == "__main__":
    main()
