#!/usr/bin/python3
"""Real torch.onnx.export models and PyTorch references for test/graph/import.test.ts.

Writes test/fixtures/import/:
  mnist_cnn.onnx          DomainBed MNIST_CNN (width 8) + Linear head, opset 13, default constant
                          folding (GroupNorm affines become onnx::Mul_*/onnx::Add_* [C,1,1]) and
                          DomainBed's own `view(len(x), -1)` (the batch is baked into a Reshape)
  mnist_cnn_nofold.onnx   the same weights, opset 15, no constant folding (Unsqueeze'd affines
                          keep their state_dict names)
  resnet.onnx             torchvision-style ResNet (BasicBlock, one block per stage, width 2) with
                          BatchNormalization kept (TrainingMode.PRESERVE on an eval-mode model), opset 17
  unsupported.onnx        Conv, Sigmoid, LSTM, Tanh, ...: ops the importer must list in one error
  <model>.safetensors     x, y, logits (eval-mode forward) and, keyed by ONNX initializer name,
                          grad.<name>: d(mean cross-entropy)/d(initializer) in float64 (stored as
                          float32, in the initializer's shape); metadata: loss (float64 repr)
torchvision is not installed: the modules are written out (scripts/gen_graph_fixtures.py).
Run: /usr/bin/python3 scripts/gen_import_fixtures.py   (torch 1.13, onnx 1.12)
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_graph_fixtures import MNIST_CNN, BasicBlock, ResNet, randomize_norms, write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'import')


class Classifier(nn.Module):
    """DomainBed ERM's network: featurizer then a linear classifier."""

    def __init__(self, featurizer, feat_dim, classes):
        super().__init__()
        self.featurizer = featurizer
        self.classifier = nn.Linear(feat_dim, classes)

    def forward(self, x):
        return self.classifier(self.featurizer(x))


def export(model, x, name, opset, **kw):
    path = os.path.join(OUT, f'{name}.onnx')
    torch.onnx.export(model, x, path, input_names=['x'], output_names=['logits'], dynamic_axes={'x': {0: 'N'}, 'logits': {0: 'N'}},
                      opset_version=opset, **kw)
    onnx.checker.check_model(onnx.load(path))
    return path


def reference(model, path, x, y, name):
    """Float64 logits, loss and gradients keyed by the ONNX initializers they belong to."""
    m64 = model.double().eval()  # eval: frozen BatchNorm statistics, as the inference model
    m64.zero_grad()
    logits = m64(x.double())
    loss = F.cross_entropy(logits, y)
    loss.backward()
    params = {k: p for k, p in m64.named_parameters()}
    tensors = {'x': x.numpy(), 'y': y.numpy().astype(np.int64), 'logits': logits.detach().float().numpy()}
    used = set()
    for init in onnx.load(path).graph.initializer:
        data = numpy_helper.to_array(init)
        if data.dtype != np.float32:
            continue
        # Same values (possibly unsqueezed by the exporter) identify the parameter.
        match = [k for k, p in params.items() if p.numel() == data.size and k not in used
                 and np.array_equal(p.detach().float().numpy().reshape(-1), data.reshape(-1))]
        if not match:
            continue  # a buffer (running statistics) or an exporter constant
        used.add(match[0])
        tensors[f'grad.{init.name}'] = params[match[0]].grad.float().numpy().reshape(data.shape)
    missing = set(params) - used
    assert not missing, f'{name}: no initializer for {missing}'
    n = write_safetensors(os.path.join(OUT, f'{name}.safetensors'), tensors, {'loss': repr(loss.item())})
    print(f'{name}: loss {loss.item():.8f}, {len(used)} parameters, {os.path.getsize(path) / 1024:.0f} KiB onnx + {n / 1024:.0f} KiB reference')


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.lstm = nn.LSTM(16, 4, batch_first=True)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = torch.sigmoid(self.conv(x)).reshape(-1, 8, 16)
        out, _ = self.lstm(h)
        return self.fc(torch.sigmoid(torch.tanh(out[:, -1])))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)

    mnist = Classifier(MNIST_CNN(1, 8), 16, 10)
    randomize_norms(mnist, g)
    mnist.eval()
    x = torch.randn((4, 1, 14, 14), generator=g)
    y = torch.randint(0, 10, (4,), generator=g)
    p = export(mnist, x, 'mnist_cnn', 13)
    reference(mnist, p, x, y, 'mnist_cnn')
    mnist.float()
    p = export(mnist, x, 'mnist_cnn_nofold', 15, do_constant_folding=False)
    reference(mnist, p, x, y, 'mnist_cnn_nofold')

    resnet = Classifier(ResNet(BasicBlock, [1, 1, 1, 1], 2), 16, 5)
    randomize_norms(resnet, g)
    resnet.eval()
    x = torch.randn((2, 3, 32, 32), generator=g)
    y = torch.randint(0, 5, (2,), generator=g)
    p = export(resnet, x, 'resnet', 17, training=torch.onnx.TrainingMode.PRESERVE)
    reference(resnet, p, x, y, 'resnet')

    bad = Unsupported().eval()
    export(bad, torch.randn(2, 1, 8, 8), 'unsupported', 13)
    print('unsupported: ops', sorted({n.op_type for n in onnx.load(os.path.join(OUT, 'unsupported.onnx')).graph.node}))


if __name__ == '__main__':
    main()
