#!/usr/bin/python3
"""Exports torchvision's architectures to ONNX with PyTorch's outputs beside them, for
tests/test_torchvision.c.

  /usr/bin/python3 scripts/make_torchvision_fixtures.py tests/fixtures/torchvision         # small
  /usr/bin/python3 scripts/make_torchvision_fixtures.py --full build/torchvision-full      # full size

Needs Debian's python3-torch, python3-torchvision and python3-onnx.

Small (committed): each architecture built from torchvision's own classes and blocks, so the
export has the same node patterns as the real model (BatchNormalization after every conv, the
transform_input arithmetic, Fire's Concat, ReLU6 as Clip, DenseNet's norm-relu-conv, residual
Add), but 1/10 to 1/32 of the channels and a small input: googlenet, inception_v3, resnet18,
densenet121, squeezenet1_1, mobilenet_v2, each at opsets 11, 13 and 17. Weights are torchvision's
own initialization (so squeezenet's zero biases are shared through Identity nodes at opset 13,
as the exporter does for the real model); batch normalization gets random statistics so folding
it is tested.

Full (generated at test time when torchvision is installed): the real models, random weights
(batch-norm statistics from three random batches), 224x224 (inception_v3 299x299), 1000 classes.

Also (small only) squeezenet_train: the small SqueezeNet with random biases and two SGD steps by
PyTorch (lr 0.05, momentum 0.9, weight decay 5e-4, cross-entropy, dropout off): its losses and the
model after the steps (squeezenet_train.after.onnx); and generic_train the same for a net whose
middle runs on the engine's generic N-d path (tied MatMul weights, a broadcast bias).

Inputs are not stored: sample k, element i (NCHW order) is sin(0.37 * i + 1.3 * k), the formula
the test uses. cases.txt lists one case per line: name, ONNX file, batch, C, H, W, classes.
"""
import argparse
import os
import warnings

import numpy as np
import torch
import torch.nn as nn
import torchvision
import importlib

# the modules, not the functions of the same name torchvision.models exports
densenet, googlenet, inception, mobilenetv2, resnet, squeezenet = (
    importlib.import_module("torchvision.models." + n)
    for n in ("densenet", "googlenet", "inception", "mobilenetv2", "resnet", "squeezenet"))

warnings.filterwarnings("ignore")
OPSETS = (11, 13, 17)


def scaled(c, divisor):
    return max(2, int(round(c / divisor)))


class ScaledBasicConv2d(nn.Module):
    """torchvision's BasicConv2d (conv without bias, BatchNorm eps 0.001, ReLU) with 1/divisor of
    the output channels; the input channels are found at the first forward (LazyConv2d)."""

    divisor = 16

    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.LazyConv2d(scaled(out_channels, self.divisor), bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(scaled(out_channels, self.divisor), eps=0.001)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


def with_conv(block):
    return lambda *args, **kwargs: block(*args, conv_block=ScaledBasicConv2d, **kwargs)


def small_googlenet():
    ScaledBasicConv2d.divisor = 16
    m = googlenet.GoogLeNet(num_classes=10, aux_logits=False, transform_input=True, init_weights=False,
                            blocks=[ScaledBasicConv2d, with_conv(googlenet.Inception), googlenet.InceptionAux])
    m.fc = nn.LazyLinear(10)
    return m, 64


def small_inception_v3():
    ScaledBasicConv2d.divisor = 32
    blocks = [ScaledBasicConv2d] + [with_conv(b) for b in (inception.InceptionA, inception.InceptionB,
                                                            inception.InceptionC, inception.InceptionD,
                                                            inception.InceptionE)] + [inception.InceptionAux]
    m = inception.Inception3(num_classes=10, aux_logits=False, transform_input=True, inception_blocks=blocks,
                             init_weights=False)
    m.fc = nn.LazyLinear(10)
    return m, 75


def small_resnet18():
    m = resnet.ResNet(resnet.BasicBlock, [2, 2, 2, 2], num_classes=10)
    # the same graph with 1/16 of the channels: rebuild each stage from torchvision's BasicBlock
    widths = [4, 8, 16, 32]
    m.conv1 = nn.Conv2d(3, 4, kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(4)
    inplanes = 4
    for i, w in enumerate(widths):
        stride = 1 if i == 0 else 2
        down = None
        if stride != 1 or inplanes != w:
            down = nn.Sequential(resnet.conv1x1(inplanes, w, stride), nn.BatchNorm2d(w))
        layer = nn.Sequential(resnet.BasicBlock(inplanes, w, stride, down), resnet.BasicBlock(w, w))
        setattr(m, "layer%d" % (i + 1), layer)
        inplanes = w
    m.fc = nn.Linear(32, 10)
    return m, 64


def small_densenet121():
    return densenet.DenseNet(growth_rate=2, block_config=(6, 12, 24, 16), num_init_features=8, bn_size=2,
                             num_classes=10), 64


def small_squeezenet1_1():
    m = squeezenet.SqueezeNet(version="1_1", num_classes=10)
    fire = squeezenet.Fire
    m.features = nn.Sequential(
        nn.Conv2d(3, 16, kernel_size=3, stride=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        fire(16, 4, 8, 8), fire(16, 4, 8, 8),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        fire(16, 8, 16, 16), fire(32, 8, 16, 16),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        fire(32, 12, 24, 24), fire(48, 12, 24, 24), fire(48, 16, 32, 32), fire(64, 16, 32, 32))
    final = nn.Conv2d(64, 10, kernel_size=1)
    m.classifier = nn.Sequential(nn.Dropout(p=0.5), final, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1)))
    # torchvision's initialization: kaiming_uniform convs, normal(0, 0.01) final conv, zero biases
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            if mod is final:
                nn.init.normal_(mod.weight, mean=0.0, std=0.01)
            else:
                nn.init.kaiming_uniform_(mod.weight)
            nn.init.constant_(mod.bias, 0)
    return m, 64


def small_mobilenet_v2():
    m = mobilenetv2.MobileNetV2(num_classes=10, width_mult=0.1)
    inp = m.features[-1][0].in_channels
    m.features[-1] = torchvision.ops.misc.Conv2dNormActivation(inp, 64, kernel_size=1,
                                                                norm_layer=nn.BatchNorm2d,
                                                                activation_layer=nn.ReLU6)
    m.classifier[1] = nn.Linear(64, 10)
    return m, 64


SMALL = [("googlenet", small_googlenet), ("inception_v3", small_inception_v3), ("resnet18", small_resnet18),
         ("densenet121", small_densenet121), ("squeezenet1_1", small_squeezenet1_1),
         ("mobilenet_v2", small_mobilenet_v2)]


def full(name):
    size = 299 if name == "inception_v3" else 224
    kwargs = {"aux_logits": False, "init_weights": True} if name in ("googlenet", "inception_v3") else {}
    return getattr(torchvision.models, name)(weights=None, **kwargs), size


def test_input(batch, c, h, w):
    """Sample k, element i: sin(0.37 i + 1.3 k) (tests/test_torchvision.c computes the same)."""
    i = np.arange(c * h * w, dtype=np.float64)
    return np.stack([np.sin(0.37 * i + 1.3 * k) for k in range(batch)]).astype(np.float32).reshape(batch, c, h, w)


def he_initialize(m):
    for mod in m.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(mod.weight)
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)


def randomize_batchnorm(m, gen):
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            mod.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            mod.weight.data.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            mod.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


def calibrate_batchnorm(m, shape, gen):
    """Running statistics from a few batches (as training would give): with random weights and
    unit statistics the deep models' activations grow without bound."""
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.reset_running_stats()
            mod.momentum = None  # a cumulative average
    m.train()
    for _ in range(3):
        m(torch.randn((4,) + tuple(shape), generator=gen))
    m.eval()


def export(m, x, path, opset):
    torch.onnx.export(m, torch.from_numpy(x), path, opset_version=opset, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def squeezenet_train(out):
    torch.manual_seed(11)
    m, size = small_squeezenet1_1()
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.uniform_(mod.bias, -0.1, 0.1)  # distinct biases: nothing is shared
    train_fixture(out, "squeezenet_train", m, size)


class GenericTrain(nn.Module):
    """A net whose middle the engine runs on its generic N-d path: a MatMul along the width with
    one weight used twice (tied), a bias broadcast along the width, ReLU and a reshape between
    them; a convolution before and a Linear after stay on the fast path."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.mix = nn.Parameter(torch.randn(8, 8) * 0.3)
        self.shift = nn.Parameter(torch.randn(8) * 0.1)
        self.fc = nn.Linear(6 * 8 * 8, 10)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        y = torch.relu(torch.matmul(y, self.mix) + self.shift)
        y = torch.matmul(y, self.mix)
        return self.fc(y.reshape(y.size(0), -1))


def train_fixture(out, name, m, size, opset=13):
    """Two SGD steps by PyTorch (lr 0.05, momentum 0.9, weight decay 5e-4, cross-entropy): the
    model before (NAME.onnx) and after (NAME.after.onnx), the losses and the labels."""
    m.eval()  # dropout off; no batch norm, so this is the training graph
    batch = 4
    x = test_input(batch, 3, size, size)
    y = np.array([1, 7, 3, 0], dtype=np.float32)
    export(m, x, os.path.join(out, name + ".onnx"), opset)
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    losses = []
    for _ in range(2):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(m(torch.from_numpy(x)), torch.from_numpy(y).long())
        loss.backward()
        opt.step()
        losses.append(loss.item())
    np.array(losses, dtype="<f4").tofile(os.path.join(out, name + ".loss.bin"))
    y.astype("<f4").tofile(os.path.join(out, name + ".y.bin"))
    export(m, x, os.path.join(out, name + ".after.onnx"), opset)
    print("%s: losses %s" % (name, losses))


def generic_train(out):
    torch.manual_seed(12)
    train_fixture(out, "generic_train", GenericTrain(), 8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--full", action="store_true", help="the real torchvision models (not committed)")
    ap.add_argument("--only", choices=("squeezenet_train", "generic_train"),
                    help="write only this training fixture")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.only:
        globals()[args.only](args.out)
        return
    lines = []
    names = [n for n, _ in SMALL]
    for index, name in enumerate(names):
        torch.manual_seed(index)
        if args.full:
            m, size = full(name)
            batch, divisor = 1, 1
        else:
            m, size = dict(SMALL)[name]()
            batch = 2
        m.eval()
        x = test_input(batch, 3, size, size)
        with torch.no_grad():
            m(torch.from_numpy(x))  # materializes the lazy layers
            if not args.full and name in ("googlenet", "inception_v3"):
                he_initialize(m)  # after materializing: LazyConv2d cannot be initialized before
            if args.full:
                calibrate_batchnorm(m, x.shape[1:], torch.Generator().manual_seed(100 + index))
            else:
                randomize_batchnorm(m, torch.Generator().manual_seed(100 + index))
            y = m(torch.from_numpy(x)).numpy()
        classes = y.shape[1]
        y.astype("<f4").tofile(os.path.join(args.out, name + ".output.bin"))
        for opset in OPSETS:
            fname = "%s.opset%d.onnx" % (name, opset)
            export(m, x, os.path.join(args.out, fname), opset)
            lines.append("%s %s %s %d 3 %d %d %d" % (name, fname, name + ".output.bin", batch, size, size, classes))
        params = sum(p.numel() for p in m.parameters())
        print("%s: %d parameters, input %dx%d, max |logit| %.3g" % (name, params, size, size, np.abs(y).max()))
    with open(os.path.join(args.out, "cases.txt"), "w") as f:
        f.write("# name onnx expected-output batch C H W classes (written by scripts/make_torchvision_fixtures.py)\n")
        f.write("\n".join(lines) + "\n")
    if not args.full:
        squeezenet_train(args.out)
        generic_train(args.out)


if __name__ == "__main__":
    main()
