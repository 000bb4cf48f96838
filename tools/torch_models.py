"""PyTorch twins of plasmo's models (models/*.cpp), used by make_parity_fixtures.py and count_macs.py.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-torchvision 0.14). Never imported by tests.

- autoencoder: DESIGN.md's autoencoder (enc1..enc3, dec1..dec4, fc1, fc2), PyTorch default initialisation.
- resnet18:    torchvision's ResNet-18 (BasicBlock [2, 2, 2, 2]) with a width multiplier on 64/128/256/512;
               channels = max(1, floor(base * width + 0.5)). width 1.0 is torchvision.models.resnet18 exactly
               (checked by check_resnet_matches_torchvision()).
- mobilenetv2: torchvision.models.mobilenet_v2(width_mult=width) as is.
Two classes: index 0 Uninfected, 1 Parasitized.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, conv1x1


class Autoencoder(nn.Module):
    def __init__(self, input_size=32):
        super().__init__()
        if input_size % 8 != 0:
            raise ValueError("autoencoder input must be a multiple of 8")
        self.enc1 = nn.Conv2d(3, 16, 3, padding=1)
        self.enc2 = nn.Conv2d(16, 8, 3, padding=1)
        self.enc3 = nn.Conv2d(8, 4, 3, padding=1)
        self.dec1 = nn.Conv2d(4, 4, 3, padding=1)
        self.dec2 = nn.Conv2d(4, 8, 3, padding=1)
        self.dec3 = nn.Conv2d(8, 16, 3, padding=1)
        self.dec4 = nn.Conv2d(16, 3, 3, padding=1)
        side = input_size // 8
        self.fc1 = nn.Linear(4 * side * side, 32)
        self.fc2 = nn.Linear(32, 2)

    def encode(self, x):
        x = F.max_pool2d(F.relu(self.enc1(x)), 2)
        x = F.max_pool2d(F.relu(self.enc2(x)), 2)
        return F.max_pool2d(F.relu(self.enc3(x)), 2)

    def decode(self, z):
        z = F.interpolate(F.relu(self.dec1(z)), scale_factor=2, mode="nearest")
        z = F.interpolate(F.relu(self.dec2(z)), scale_factor=2, mode="nearest")
        z = F.interpolate(F.relu(self.dec3(z)), scale_factor=2, mode="nearest")
        return torch.sigmoid(self.dec4(z))

    def reconstruct(self, x):
        return self.decode(self.encode(x))

    def forward(self, x):  # the classifier path: logits [N, 2]
        z = torch.flatten(self.encode(x), 1)
        return self.fc2(F.relu(self.fc1(z)))


def resnet_channels(base, width):
    return max(1, int(math.floor(base * width + 0.5)))


class ResNet18W(nn.Module):
    """torchvision's ResNet-18 with every width (64, 128, 256, 512 and the stem's 64) times `width`."""

    def __init__(self, width=1.0, num_classes=2):
        super().__init__()
        self.inplanes = resnet_channels(64, width)
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(resnet_channels(64, width), 2, 1)
        self.layer2 = self._make_layer(resnet_channels(128, width), 2, 2)
        self.layer3 = self._make_layer(resnet_channels(256, width), 2, 2)
        self.layer4 = self._make_layer(resnet_channels(512, width), 2, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, num_classes)
        for m in self.modules():  # torchvision's rule
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        for _ in range(1, blocks):
            layers.append(BasicBlock(self.inplanes, planes))
        return nn.Sequential(*layers)

    def features(self, x):  # the last conv stage (layer4's output): the Grad-CAM hook
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


def check_resnet_matches_torchvision():
    """ResNet18W(1.0) has torchvision resnet18's state_dict (names, shapes) and computes the same function."""
    ours, theirs = ResNet18W(1.0, 2), torchvision.models.resnet18(num_classes=2)
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a.keys()) == list(b.keys()), "state_dict names differ from torchvision"
    assert all(a[k].shape == b[k].shape for k in a), "state_dict shapes differ from torchvision"
    ours.load_state_dict(b)
    ours.eval(), theirs.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x)), "ResNet18W(1.0) computes another function than torchvision"


def mobilenetv2(width=1.0, dropout=0.2):
    return torchvision.models.mobilenet_v2(num_classes=2, width_mult=width, dropout=dropout)


def make(arch, width=1.0, input_size=None):
    if arch == "autoencoder":
        return Autoencoder(input_size or 32)
    if arch == "resnet18":
        return ResNet18W(width)
    if arch == "mobilenetv2":
        return mobilenetv2(width)
    raise ValueError("unknown arch " + arch)
