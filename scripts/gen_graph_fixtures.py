#!/usr/bin/python3
"""Reference gradients for test/graph/models-torch.test.ts, from PyTorch autograd in float64.

Builds torch modules equivalent to src/graph/models (DomainBed's MNIST_CNN; torchvision's
ResNet-18/50 with a width knob, written out because torchvision is not installed here), seeds
their weights, runs one batch and writes test/fixtures/graph/<case>.safetensors holding:
  param.<name>  float32 weights (state_dict order, num_batches_tracked omitted)
  x, y, mask    the batch, labels (int64) and the dropout keep-mask applied to the feature
  grad.<name>   d(mean cross-entropy)/d(param), computed in float64, stored as float32
  next.<name>   running statistics after the step (BatchNorm in training mode only)
  logits_eval   eval-mode logits (no dropout, running statistics) in float64, stored as float32
and metadata: spec (the TS ModelSpec as JSON), loss (float64 repr), dropout_p.
Run: /usr/bin/python3 scripts/gen_graph_fixtures.py   (torch 1.13, CPU)
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'graph')


class MNIST_CNN(nn.Module):
    """DomainBed networks.MNIST_CNN with the width made a parameter (DomainBed: 64)."""

    def __init__(self, in_ch, w):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, w, 3, 1, padding=1)
        self.conv2 = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(2 * w, 2 * w, 3, 1, padding=1)
        self.conv4 = nn.Conv2d(2 * w, 2 * w, 3, 1, padding=1)
        self.bn0 = nn.GroupNorm(8, w)
        self.bn1 = nn.GroupNorm(8, 2 * w)
        self.bn2 = nn.GroupNorm(8, 2 * w)
        self.bn3 = nn.GroupNorm(8, 2 * w)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, x):
        x = self.bn0(F.relu(self.conv1(x)))
        x = self.bn1(F.relu(self.conv2(x)))
        x = self.bn2(F.relu(self.conv3(x)))
        x = self.bn3(F.relu(self.conv4(x)))
        return self.avgpool(x).view(len(x), -1)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    """torchvision.models.ResNet (v1.5) without fc, every width scaled by base/64."""

    def __init__(self, block, layers, base, in_ch=3):
        super().__init__()
        self.inplanes = base
        self.conv1 = nn.Conv2d(in_ch, base, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, base, layers[0], 1)
        self.layer2 = self._make_layer(block, base * 2, layers[1], 2)
        self.layer3 = self._make_layer(block, base * 4, layers[2], 2)
        self.layer4 = self._make_layer(block, base * 8, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))

    def _make_layer(self, block, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, 1, None) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


class Network(nn.Module):
    """DomainBed ERM's featurizer + linear classifier, with the feature dropout as an explicit mask."""

    def __init__(self, featurizer, feat_dim, classes):
        super().__init__()
        self.featurizer = featurizer
        self.classifier = nn.Linear(feat_dim, classes)

    def forward(self, x, mask):
        return self.classifier(self.featurizer(x) * mask)


def write_safetensors(path, tensors, metadata):
    header = {'__metadata__': metadata}
    blobs, offset = [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        dtype = {np.dtype('float32'): 'F32', np.dtype('int64'): 'I64'}[arr.dtype]
        b = arr.tobytes()
        header[name] = {'dtype': dtype, 'shape': list(arr.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return 8 + len(h) + offset


def randomize_norms(model, g):
    """Non-trivial norm affines and BatchNorm statistics, so tests see them used."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))


def make_case(name, spec, make_featurizer, feat_dim, batch, bn_mode, seed, dropout_p):
    torch.manual_seed(seed)
    model = Network(make_featurizer(), feat_dim, spec['numClasses'])
    g = torch.Generator().manual_seed(seed + 1)  # norms first, then the batch and dropout mask
    randomize_norms(model, g)
    params = {k: v.detach().float().numpy().copy() for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}
    c, h, w = spec['inputShape']
    x = torch.randn((batch, c, h, w), generator=g).float()
    y = torch.randint(0, spec['numClasses'], (batch,), generator=g)
    keep = (torch.rand((batch, feat_dim), generator=g) >= dropout_p).float() / (1 - dropout_p)

    model = model.double()
    model.train()
    if bn_mode == 'frozen':
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
    loss = F.cross_entropy(model(x.double(), keep.double()), y)
    loss.backward()
    tensors = {f'param.{k}': v for k, v in params.items()}
    tensors.update({'x': x.numpy(), 'y': y.numpy().astype(np.int64), 'mask': keep.numpy()})
    for k, p in model.named_parameters():
        tensors[f'grad.{k}'] = p.grad.float().numpy()
    if bn_mode == 'train':
        for k, v in model.state_dict().items():
            if k.endswith('running_mean') or k.endswith('running_var'):
                tensors[f'next.{k}'] = v.float().numpy()
    # Eval-mode logits from the original (pre-step) weights.
    model.load_state_dict({k: torch.from_numpy(v).double() for k, v in params.items()}, strict=False)
    model.eval()
    with torch.no_grad():
        tensors['logits_eval'] = model(x.double(), torch.ones_like(keep).double()).float().numpy()
    meta = {'spec': json.dumps(spec), 'loss': repr(loss.item()), 'dropout_p': repr(dropout_p)}
    n = write_safetensors(os.path.join(OUT, f'{name}.safetensors'), tensors, meta)
    print(f'{name}: loss {loss.item():.10f}, {len(params)} tensors, {n / 1024:.0f} KiB')


def main():
    os.makedirs(OUT, exist_ok=True)
    mnist = {'arch': 'mnist_cnn', 'inputShape': [2, 28, 28], 'numClasses': 10, 'width': 8}
    make_case('mnist_cnn', mnist, lambda: MNIST_CNN(2, 8), 16, 4, None, 0, 0.3)
    r18 = {'arch': 'resnet18', 'inputShape': [3, 32, 32], 'numClasses': 5, 'baseWidth': 4, 'batchNorm': 'frozen'}
    make_case('resnet18', r18, lambda: ResNet(BasicBlock, [2, 2, 2, 2], 4), 32, 2, 'frozen', 1, 0.5)
    r50 = {'arch': 'resnet50', 'inputShape': [3, 32, 32], 'numClasses': 5, 'baseWidth': 2, 'batchNorm': 'frozen'}
    make_case('resnet50', r50, lambda: ResNet(Bottleneck, [3, 4, 6, 3], 2), 64, 2, 'frozen', 2, 0.2)
    r18t = {'arch': 'resnet18', 'inputShape': [3, 40, 40], 'numClasses': 3, 'baseWidth': 2, 'batchNorm': 'train'}
    make_case('resnet18_bntrain', r18t, lambda: ResNet(BasicBlock, [2, 2, 2, 2], 2), 16, 4, 'train', 3, 0.1)


if __name__ == '__main__':
    main()
