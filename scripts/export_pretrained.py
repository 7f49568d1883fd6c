#!/usr/bin/env python3
"""export_pretrained.py — torchvision's ImageNet-trained GoogLeNet and Inception v3 as ONNX files
for incept, with how to feed them recorded in the file (metadata_props: incept.preset
"torchvision", incept.labels "imagenet"), so that `incept classify googlenet.onnx photo.jpg`
prepares the photo as torchvision does and names the class.

Needs python3-torch, python3-torchvision and python3-onnx (Debian), and, once, the internet:
torchvision downloads the weights into ~/.cache/torch (googlenet-1378be20.pth, 27 MB;
inception_v3_google-0cc3c7bd.pth, 104 MB). Copy that cache to a machine without a connection
and the script runs there too. --random-weights exports the same graphs with random weights
(no download), to try the path end to end.

Usage: python3 scripts/export_pretrained.py [--out DIR] [--opset 13] [googlenet] [inception_v3]
"""
import argparse
import os
import warnings

import onnx
import torch
import torchvision.models as tvm

warnings.filterwarnings("ignore")

# name: (constructor, weights, input size); torchvision's transforms for both resize the shorter
# side to 256/224 of the input and crop the centre, RGB / 255 with ImageNet's mean and std: the
# "torchvision" preset of incept_preprocess_preset
MODELS = {
    "googlenet": (tvm.googlenet, tvm.GoogLeNet_Weights.IMAGENET1K_V1, 224),
    "inception_v3": (tvm.inception_v3, tvm.Inception_V3_Weights.IMAGENET1K_V1, 299),
}


def export(name, out, opset, random_weights):
    make, weights, size = MODELS[name]
    if random_weights:
        model = make(weights=None, aux_logits=False, init_weights=True)
    else:
        model = make(weights=weights)  # downloads once into ~/.cache/torch
    model.eval()
    path = os.path.join(out, name + ".onnx")
    torch.onnx.export(model, torch.zeros(1, 3, size, size), path, opset_version=opset,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    m = onnx.load(path)
    onnx.helper.set_model_props(m, {"incept.preset": "torchvision", "incept.labels": "imagenet",
                                    "incept.source": "torchvision %s %s" % (name, "random weights"
                                                                         if random_weights else weights)})
    onnx.save(m, path)
    print("%s: %s (%dx%d input, preset torchvision, ImageNet's 1000 classes)" % (name, path, size, size))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--out", default=".", help="folder for NAME.onnx (default: here)")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--random-weights", action="store_true",
                    help="random weights instead of the pretrained ones (no download)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in args.models or list(MODELS):
        export(name, args.out, args.opset, args.random_weights)


if __name__ == "__main__":
    main()
