#!/usr/bin/python3
"""Reference checkpoints for test/io: safetensors built byte by byte the way the reference writer
lays them out (the pip package is not installable here), tiny ONNX models from torch.onnx.export and
onnx.helper (raw_data, int32_data f16/bf16, packed float/double data, external data, and a copy whose
external location escapes its folder). Run with /usr/bin/python3 (torch 1.13, onnx 1.12).
Output: test/fixtures/io/ (deterministic; regenerate and commit together with the tests)."""
import json
import os
import shutil
import struct

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'io')
ALIGN = {'F64': 8, 'F32': 4, 'F16': 2, 'BF16': 2}


def f32_bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32).ravel().tolist()


def to_bytes(dtype, values_f64):
    """Little-endian bytes of `values` as dtype, converted by torch/numpy (round to nearest even)."""
    t = torch.tensor(values_f64, dtype=torch.float64)
    if dtype == 'F64':
        return t.numpy().tobytes()
    t32 = t.to(torch.float32)
    if dtype == 'F32':
        return t32.numpy().tobytes()
    if dtype == 'F16':
        return t32.to(torch.float16).numpy().tobytes()
    # Element-wise (c10::BFloat16 round_to_nearest_even): torch's vectorised .to(bfloat16) writes
    # NaN as 0xffff, while the scalar rule, native/common/dtype.h and src/io/dtype.ts keep 0x7fc0.
    return torch.tensor(t32.tolist(), dtype=torch.bfloat16).view(torch.int16).numpy().tobytes()


def decoded_f32(dtype, raw):
    """What a reader must return as fp32 for these bytes (torch's widening conversions)."""
    if dtype == 'F64':
        return f32_bits(np.frombuffer(raw, dtype=np.float64).astype(np.float32))
    if dtype == 'F32':
        return f32_bits(np.frombuffer(raw, dtype=np.float32))
    if dtype == 'F16':
        return f32_bits(np.frombuffer(raw, dtype=np.float16).astype(np.float32))
    t = torch.frombuffer(bytearray(raw), dtype=torch.int16).view(torch.bfloat16).to(torch.float32)
    return f32_bits(t.numpy())


def safetensors_bytes(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes). Layout as safetensors' serialize()."""
    order = sorted(tensors, key=lambda t: (-ALIGN[t[1]], t[0].encode('utf-8')))
    header, offset, data = {}, 0, b''
    if metadata is not None:
        header['__metadata__'] = metadata
    for name, dtype, shape, raw in order:
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * ((8 - len(text) % 8) % 8)
    return struct.pack('<Q', len(text)) + text + data


def write(path, blob):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(blob)


def gen_safetensors():
    g = torch.Generator().manual_seed(0)
    rand = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64).numpy()
    nan = float('nan')
    special16 = [65504.0, 65520.0, 65519.99, 1e-8, 2.0 ** -25, 2.0 ** -24 * 1.5, 1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, -0.0,
                 float('inf'), nan, -1e-5]
    special_bf = [1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 3.4e38, -1e-40, nan, 0.1]
    specs = [
        ('w32', 'F32', [3, 4], rand(3, 4).ravel().tolist()),
        ('w16', 'F16', [2, 6], special16),
        ('wbf', 'BF16', [2, 3], special_bf),
        ('w64', 'F64', [3], rand(3).tolist()),
        ('scalar', 'F32', [], [0.5]),
        ('empty', 'F32', [0, 4], []),
        ('h16', 'F16', [4], rand(4).tolist()),
    ]
    tensors, expected = [], {}
    for name, dtype, shape, values in specs:
        raw = to_bytes(dtype, values)
        tensors.append((name, dtype, shape, raw))
        src = np.asarray(values, dtype=np.float64)
        expected[name] = {
            'dtype': dtype, 'shape': shape,
            # what the TS writer is given: fp64 bits for F64, fp32 bits otherwise
            'source': [format(v, '016x') for v in src.view(np.uint64).tolist()] if dtype == 'F64' else f32_bits(src.astype(np.float32)),
            'decoded': decoded_f32(dtype, raw),
        }
    meta = {'format': 'pt', 'note': 'reference'}
    write(os.path.join(ROOT, 'ref.safetensors'), safetensors_bytes(tensors, meta))
    with open(os.path.join(ROOT, 'ref.expected.json'), 'w') as f:
        json.dump({'metadata': meta, 'tensors': expected}, f, indent=1)

    # A two-shard checkpoint in the Hugging Face layout.
    shards = {'model-00001-of-00002.safetensors': [('a.weight', 'F32', [2, 2], rand(4).tolist()), ('a.bias', 'F32', [2], rand(2).tolist())],
              'model-00002-of-00002.safetensors': [('b.weight', 'F16', [3], rand(3).tolist())]}
    weight_map, total = {}, 0
    for fname, specs in shards.items():
        ts = [(n, d, s, to_bytes(d, v)) for n, d, s, v in specs]
        write(os.path.join(ROOT, 'sharded', fname), safetensors_bytes(ts, {'format': 'pt'}))
        for n, _, _, raw in ts:
            weight_map[n] = fname
            total += len(raw)
    with open(os.path.join(ROOT, 'sharded', 'model.safetensors.index.json'), 'w') as f:
        json.dump({'metadata': {'total_size': total}, 'weight_map': dict(sorted(weight_map.items()))}, f, indent=2)


class TinyConvNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.fc = torch.nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def gen_conv():
    torch.manual_seed(0)
    net = TinyConvNet().eval()
    x = torch.randn(1, 1, 8, 8)
    torch.onnx.export(net, x, os.path.join(ROOT, 'conv.onnx'), input_names=['x'], output_names=['y'], opset_version=13,
                      do_constant_folding=True)


def int32_tensor(name, data_type, dims, bits):
    t = TensorProto()
    t.name, t.data_type = name, data_type
    t.dims.extend(dims)
    t.int32_data.extend(int(b) for b in bits)
    return t


def gen_typed_fields():
    """Y = Reshape(X + W16 + Bbf + D + F, shape): initializers in int32_data, double_data, float_data, int64_data."""
    rng = np.random.RandomState(1)
    w = rng.randn(2, 3).astype(np.float32)
    b = rng.randn(3).astype(np.float32)
    w16 = w.astype(np.float16).view(np.uint16)
    bbf = torch.from_numpy(b).to(torch.bfloat16).view(torch.int16).numpy().astype(np.int64) & 0xFFFF
    d = rng.randn(3)
    f = rng.randn(2, 3).astype(np.float32)
    inits = [
        int32_tensor('W16', TensorProto.FLOAT16, [2, 3], w16.ravel()),
        int32_tensor('Bbf', TensorProto.BFLOAT16, [3], bbf.ravel()),
        helper.make_tensor('D', TensorProto.DOUBLE, [3], d.tolist()),
        helper.make_tensor('F', TensorProto.FLOAT, [2, 3], f.ravel().tolist()),
        helper.make_tensor('shape', TensorProto.INT64, [2], [2, 3]),
        helper.make_tensor('label', TensorProto.STRING, [1], [b'not numeric']),
    ]
    nodes = [
        helper.make_node('Cast', ['W16'], ['w'], to=TensorProto.FLOAT),
        helper.make_node('Cast', ['Bbf'], ['b'], to=TensorProto.FLOAT),
        helper.make_node('Cast', ['D'], ['d'], to=TensorProto.FLOAT),
        helper.make_node('Add', ['X', 'w'], ['s1']),
        helper.make_node('Add', ['s1', 'b'], ['s2']),
        helper.make_node('Add', ['s2', 'd'], ['s3']),
        helper.make_node('Add', ['s3', 'F'], ['s4']),
        helper.make_node('Reshape', ['s4', 'shape'], ['Y']),
    ]
    graph = helper.make_graph(nodes, 'typed', [helper.make_tensor_value_info('X', TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info('Y', TensorProto.FLOAT, [2, 3])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)], producer_name='gen_io_fixtures')
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(ROOT, 'typed_fields.onnx'))
    expected = {
        'W16': f32_bits(w16.view(np.float16).astype(np.float32)),
        'Bbf': f32_bits(torch.from_numpy(b).to(torch.bfloat16).to(torch.float32).numpy()),
        'D': f32_bits(d.astype(np.float32)),
        'F': f32_bits(f),
    }
    with open(os.path.join(ROOT, 'typed_fields.expected.json'), 'w') as fh:
        json.dump(expected, fh, indent=1)


def gen_external():
    """Y = X @ W + B with W and B in ext/external.bin; ext/evil.onnx points at ../outside.bin."""
    rng = np.random.RandomState(2)
    w = rng.randn(4, 3).astype(np.float32)
    b = rng.randn(3).astype(np.float32)
    nodes = [helper.make_node('MatMul', ['X', 'W'], ['xw']), helper.make_node('Add', ['xw', 'B'], ['Y'])]
    inits = [numpy_helper.from_array(w, 'W'), numpy_helper.from_array(b, 'B')]
    graph = helper.make_graph(nodes, 'ext', [helper.make_tensor_value_info('X', TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info('Y', TensorProto.FLOAT, [1, 3])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)], producer_name='gen_io_fixtures')
    model.ir_version = 8
    ext = os.path.join(ROOT, 'ext')
    shutil.rmtree(ext, ignore_errors=True)  # onnx appends to an existing external data file
    os.makedirs(ext)
    onnx.save_model(model, os.path.join(ext, 'external.onnx'), save_as_external_data=True, all_tensors_to_one_file=True,
                    location='external.bin', size_threshold=0)
    evil = onnx.load(os.path.join(ext, 'external.onnx'), load_external_data=False)
    for t in evil.graph.initializer:
        for kv in t.external_data:
            if kv.key == 'location':
                kv.value = '../outside.bin'
    onnx.save(evil, os.path.join(ext, 'evil.onnx'))
    write(os.path.join(ROOT, 'outside.bin'), bytes(range(256)) * 32)
    with open(os.path.join(ROOT, 'ext', 'external.expected.json'), 'w') as fh:
        json.dump({'W': f32_bits(w), 'B': f32_bits(b)}, fh, indent=1)


if __name__ == '__main__':
    gen_safetensors()
    gen_conv()
    gen_typed_fields()
    gen_external()
