#!/usr/bin/python3
"""lanes against PyTorch on the same weights and images (run by `meson test` as torch_parity).

Skipped (exit 77, the reason printed) when python3-torch or python3-torchvision is missing; the
README's test command installs both, so CI runs it. For resnet50 and alexnet:
  1. FP32 parity: seeded torchvision weights exported with tools/export_weights.py; lanes and
     torchvision run on the same preprocessed input (lanes' own, from `lanes run --dump`);
     max |logit difference| <= 1e-3 * max |logit|, at batch 1 and batch 3.
  2. Preprocessing parity (once): lanes' input tensor against torchvision.transforms
     (Resize(256), CenterCrop(224), ToTensor, Normalize) on PIL images: PNG and PPM identical
     (<= 1e-6), JPEG within 4 intensity levels at most and 0.25 on average (stb_image and
     libjpeg decode JPEG differently; see docs/network.md).
  3. INT8 against FP32 on the test photographs, calibrated on the same photographs: cosine of the
     logits >= 0.99 for every image, and a mean no worse than PyTorch's own INT8 (FX post-training
     quantization, onednn engine, default qconfig) on the same weights, images and calibration set.
     Both are printed, with the cosine of the image-specific part of the logits (each minus the
     batch mean), which random weights make the harder measure.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
IMAGES = [os.path.join(DATA, f) for f in ("cat.jpg", "coffee.png", "astronaut.ppm", "rocket.jpg", "camera_gray.png")]

try:
    import numpy as np
    import torch
    import torchvision  # noqa: F401
    from PIL import Image
except ImportError as e:
    print(f"SKIP: {e} (install python3-torch and python3-torchvision; run with /usr/bin/python3)")
    sys.exit(77)

sys.path.insert(0, os.path.join(ROOT, "tools"))
from export_weights import build, write_safetensors  # noqa: E402

LANES = os.environ.get("LANES_EXE") or sys.exit("LANES_EXE is not set (meson test sets it)")
failures = []


def check(ok, message):
    print(("ok    " if ok else "FAIL  ") + message)
    if not ok:
        failures.append(message)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype=np.float32).reshape(v["shape"])
            for k, v in header.items() if k != "__metadata__"}


def lanes(*args):
    r = subprocess.run([LANES, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"lanes {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r.stdout


def lanes_logits(tmp, net, weights, images, *extra):
    dump = os.path.join(tmp, "dump.safetensors")
    lanes("run", "--net", net, "--weights", weights, "--dump", dump, *extra, *images)
    d = read_safetensors(dump)
    return d["input"], d["logits"]


def cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def fmt(values, digits):
    return "[" + ", ".join(f"{v:.{digits}f}" for v in values) + "]"


def centered(a):
    return a - a.mean(0, keepdims=True)


def torch_int8(model, x):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = "onednn"
    prepared = prepare_fx(model, get_default_qconfig_mapping("onednn"), example_inputs=(x[:1],))
    with torch.no_grad():
        prepared(x)  # calibration on the same images as lanes
        return convert_fx(prepared)(x).numpy()


def preprocessing(tmp, weights):
    import torchvision.transforms as T
    transform = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                           T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    ours, _ = lanes_logits(tmp, "alexnet", weights, IMAGES)
    for i, path in enumerate(IMAGES):
        theirs = transform(Image.open(path).convert("RGB")).permute(1, 2, 0).numpy()
        delta = np.abs(theirs - ours[i])
        levels = delta * 255 * 0.229  # normalized units back to intensity levels (smallest std)
        name = os.path.basename(path)
        if path.endswith(".jpg"):
            check(levels.max() <= 4.0 and levels.mean() <= 0.25,
                  f"preprocessing {name}: max {levels.max():.2f} levels, mean {levels.mean():.3f} (JPEG: <= 4, <= 0.25)")
        else:
            check(delta.max() <= 1e-6, f"preprocessing {name}: max |difference| {delta.max():.2e} (<= 1e-6)")


def parity(tmp, net):
    weights = os.path.join(tmp, f"{net}.safetensors")
    model = build(net, 0, False, None)
    write_safetensors(weights, list(model.state_dict().items()))
    if net == "alexnet":
        preprocessing(tmp, weights)
    for batch in (IMAGES[:1], IMAGES[:3]):
        x, ours = lanes_logits(tmp, net, weights, batch)
        with torch.no_grad():
            theirs = model(torch.from_numpy(x.copy()).permute(0, 3, 1, 2)).numpy()
        ratio = np.abs(ours - theirs).max() / np.abs(theirs).max()
        check(ratio <= 1e-3, f"{net} fp32 batch {len(batch)}: max |dlogit| / max |logit| = {ratio:.2e} (<= 1e-3)")

    calib = os.path.join(tmp, f"{net}.calib.json")
    lanes("calibrate", "--net", net, "--weights", weights, "--images", DATA, "--out", calib)
    x, fp32 = lanes_logits(tmp, net, weights, IMAGES)
    _, int8 = lanes_logits(tmp, net, weights, IMAGES, "--precision", "int8", "--calib", calib)
    xt = torch.from_numpy(x.copy()).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        torch_fp32 = model(xt).numpy()
    torch_q = torch_int8(model, xt)
    ours, theirs = cosines(int8, fp32), cosines(torch_q, torch_fp32)
    print(f"      {net} int8 cosine vs fp32 per image: lanes {fmt(ours, 5)}  PyTorch FX {fmt(theirs, 5)}")
    print(f"      {net} image-specific part (minus batch mean): lanes {fmt(cosines(centered(int8), centered(fp32)), 4)}"
          f"  PyTorch FX {fmt(cosines(centered(torch_q), centered(torch_fp32)), 4)}")
    check(ours.min() >= 0.99, f"{net} int8: smallest cosine {ours.min():.5f} (>= 0.99)")
    check(ours.mean() >= theirs.mean(), f"{net} int8: mean cosine {ours.mean():.5f} vs PyTorch FX onednn {theirs.mean():.5f} (no worse)")


def main():
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        for net in ("resnet50", "alexnet"):
            parity(tmp, net)
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all parity checks passed")


if __name__ == "__main__":
    main()
