#!/usr/bin/env python3
"""make_labels.py — writes the class names incept ships (one a line, in class order), built into
the library as incept_builtin_labels(): models/imagenet.labels, ImageNet's 1000 classes as
torchvision's pretrained weights name them (Debian's python3-torchvision metadata), and
models/fashion.labels, Fashion-MNIST's 10. Usage: python3 scripts/make_labels.py (from the
repository root)."""
import os

from torchvision.datasets import FashionMNIST
from torchvision.models import GoogLeNet_Weights

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")
for name, classes in (("imagenet", GoogLeNet_Weights.IMAGENET1K_V1.meta["categories"]),
                      ("fashion", FashionMNIST.classes)):
    with open(os.path.join(root, name + ".labels"), "w") as f:
        f.write("\n".join(classes) + "\n")
    print("%s: %d classes" % (name, len(classes)))
