#!/usr/bin/python3
"""Write a torchvision model's state_dict as a safetensors file that `lanes run --weights` reads.

    /usr/bin/python3 tools/export_weights.py --net resnet50 --out resnet50.safetensors            # seeded random
    /usr/bin/python3 tools/export_weights.py --net resnet50 --pretrained --out resnet50.safetensors
    /usr/bin/python3 tools/export_weights.py --net alexnet --state-dict alexnet-owt-7be5be79.pth --out alexnet.safetensors

Seeded random weights: torchvision's own initialization after torch.manual_seed(seed), with every
BatchNorm's weight, bias, running mean and running variance then drawn at random too (torchvision
initializes them to 1, 0, 0, 1, which would leave the folding of BatchNorm untested).
--pretrained loads torchvision's IMAGENET1K_V1 weights from the local torch hub cache (no download
happens here if they are absent: torch reports it); --state-dict loads a checkpoint file you have.

Needs python3-torch and python3-torchvision (Debian); the safetensors package is not needed: the
format is an 8-byte little-endian header length, a JSON header and the raw tensors.
"""
import argparse
import json
import struct
import sys

DTYPES = {"float32": "F32", "int64": "I64"}


def build(net, seed, pretrained, state_dict):
    import torch
    import torchvision

    torch.manual_seed(seed)
    if pretrained:
        weights = {"resnet50": torchvision.models.ResNet50_Weights.IMAGENET1K_V1,
                   "alexnet": torchvision.models.AlexNet_Weights.IMAGENET1K_V1}[net]
        model = getattr(torchvision.models, net)(weights=weights)
    else:
        model = getattr(torchvision.models, net)(weights=None)
        if state_dict:
            model.load_state_dict(torch.load(state_dict, map_location="cpu"))
        else:
            generator = torch.Generator().manual_seed(seed + 1)
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    n = module.num_features
                    module.weight.data = torch.rand(n, generator=generator) * 0.5 + 0.5
                    module.bias.data = torch.rand(n, generator=generator) * 0.2 - 0.1
                    module.running_mean.data = torch.rand(n, generator=generator) * 0.2 - 0.1
                    module.running_var.data = torch.rand(n, generator=generator) + 0.5
    return model.eval()


def write_safetensors(path, tensors):
    """tensors: list of (name, torch.Tensor)."""
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors:
        array = tensor.detach().contiguous().cpu().numpy()
        dtype = DTYPES.get(str(array.dtype))
        if dtype is None:
            raise SystemExit(f"{name}: dtype {array.dtype} is not supported")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--net", required=True, choices=["resnet50", "alexnet"])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--pretrained", action="store_true", help="torchvision's IMAGENET1K_V1 weights (local cache)")
    source.add_argument("--state-dict", help="a .pth checkpoint holding the model's state_dict")
    args = parser.parse_args()
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError as e:
        sys.exit(f"export_weights: {e}; install python3-torch and python3-torchvision and run with /usr/bin/python3")
    model = build(args.net, args.seed, args.pretrained, args.state_dict)
    write_safetensors(args.out, list(model.state_dict().items()))
    print(f"{args.out}: {len(model.state_dict())} tensors of {args.net}")


if __name__ == "__main__":
    main()
