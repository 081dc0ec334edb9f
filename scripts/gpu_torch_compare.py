#!/usr/bin/env python3
"""PyTorch baselines for scripts/gpu-check.sh, on the sizes rt_gpu_check uses, same GPU, same run:
torch's fused SGD-momentum / Adam / AdamW step on transformer-like CUDA tensors (the split of
src/bench/optim.ts transformerLikeSizes), and the weighted average of N device-resident tensors
by torch ops (stack().mean(0), and an fp32 running sum). CUDA events, warm-up, medians.
Prints one JSON object; without torch or a GPU it says "skipped" and exits 0. Reference only:
the product never needs Python.

  python3 scripts/gpu_torch_compare.py [--params 16M,64M] [--steps 25] [--avg-files 8] [--avg-mib 256]
"""
import argparse
import json
import math
import sys
import time


def count(text):
    text = text.strip()
    mult = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:].upper(), 1)
    return int(text[:-1] if mult > 1 else text) * mult


def transformer_like_sizes(total):
    """Same as transformerLikeSizes (src/bench/optim.ts) and rt::bench::transformer_like_sizes."""
    d = int(min(4096, max(64, math.floor(math.sqrt(total / 24) / 64) * 64)))
    block = [3 * d * d, 3 * d, d * d, d, 4 * d * d, 4 * d, 4 * d * d, d, d, d, d, d]
    sizes, left, i = [], total, 0
    while left > 0:
        s = min(left, block[i % len(block)])
        sizes.append(s)
        left -= s
        i += 1
    return sizes


def empty_cache(torch, dev):
    if dev == "cuda":
        torch.cuda.empty_cache()


def median(xs):
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else 0.5 * (s[m - 1] + s[m])


def timed_ms(torch, dev, fn, warmup, repeats):
    """Median milliseconds of fn() over repeats after warmup calls: CUDA events on a GPU, the wall
    clock on the CPU (--device cpu, a smoke test of this script)."""
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(repeats):
        if dev == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            ms.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            fn()
            ms.append((time.perf_counter() - t0) * 1e3)
    return median(ms)


def optimizer_steps(torch, dev, params_total, steps):
    sizes = transformer_like_sizes(params_total)
    gen = torch.Generator(device=dev).manual_seed(0)
    base = [torch.rand(s, device=dev, generator=gen) * 2 - 1 for s in sizes]
    grads = [(torch.rand(s, device=dev, generator=gen) * 2 - 1) * 0.01 for s in sizes]
    out = {"params": params_total, "tensors": len(sizes)}
    # Same hyperparameters as native/bench/gpu_check_optim.cc; bytes per parameter moved likewise.
    cases = [
        ("sgd", torch.optim.SGD, dict(lr=1e-4, momentum=0.9, weight_decay=1e-4), 20),
        ("adam", torch.optim.Adam, dict(lr=1e-5), 28),
        ("adamw", torch.optim.AdamW, dict(lr=1e-5, weight_decay=0.01), 28),
    ]
    for name, cls, kw, bytes_per_param in cases:
        ps = [p.clone().requires_grad_(True) for p in base]
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        opt, mode = None, None
        for m in ("fused", "foreach"):
            try:
                opt, mode = cls(ps, **kw, **{m: True}), m
                break
            except (TypeError, RuntimeError, ValueError):
                continue
        if opt is None:
            opt, mode = cls(ps, **kw), "for-loop"
        # Three warm-up steps: the first creates the state (momentum buffers, m, v).
        ms = timed_ms(torch, dev, opt.step, 3, steps)
        out[name] = {"mode": mode, "median_ms": ms, "gbs": bytes_per_param * params_total / (ms * 1e-3) / 1e9}
        del opt, ps
        empty_cache(torch, dev)
    return out


def averages(torch, dev, files, mib, repeats):
    out = {"files": files, "file_mib": mib}
    for name, dtype in (("F32", torch.float32), ("BF16", torch.bfloat16)):
        es = torch.tensor([], dtype=dtype).element_size()
        numel = (mib << 20) // es
        gen = torch.Generator(device=dev).manual_seed(1)
        xs = [((torch.rand(numel, device=dev, generator=gen) * 2 - 1) * 0.1).to(dtype) for _ in range(files)]
        w = [1.0 / files] * files
        input_bytes = files * numel * es

        def stack_mean():
            return torch.stack(xs).mean(0)

        def running_sum():  # fp32 accumulator, as the engine; cast back at the end
            acc = xs[0].float() * w[0]
            for x, wi in zip(xs[1:], w[1:]):
                acc.add_(x, alpha=wi)
            return acc.to(dtype)

        entry = {"numel": numel}
        for label, fn in (("stack_mean", stack_mean), ("running_sum", running_sum)):
            try:
                ms = timed_ms(torch, dev, fn, 1, repeats)
                entry[label] = {"median_ms": ms, "input_gbs": input_bytes / (ms * 1e-3) / 1e9}
            except RuntimeError as e:  # torch.cuda.OutOfMemoryError is one
                entry[label] = {"error": str(e).splitlines()[0]}
            empty_cache(torch, dev)
        out[name] = entry
        del xs
        empty_cache(torch, dev)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="16M,64M")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--avg-files", type=int, default=8)
    ap.add_argument("--avg-mib", type=int, default=256)
    ap.add_argument("--avg-repeats", type=int, default=5)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: smoke-test this script")
    a = ap.parse_args()
    out = {"tool": "gpu_torch_compare"}
    try:
        import torch
    except ImportError as e:
        out["skipped"] = f"torch not importable: {e}"
        print(json.dumps(out))
        return 0
    out["torch"] = torch.__version__
    if a.device == "cuda" and not torch.cuda.is_available():
        out["skipped"] = "torch.cuda.is_available() is False"
        print(json.dumps(out))
        return 0
    out["device"] = torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu"
    errors = []
    try:
        out["optim"] = [optimizer_steps(torch, a.device, count(p), a.steps) for p in a.params.split(",")]
    except Exception as e:  # report, keep going with the average part
        errors.append(f"optim: {type(e).__name__}: {e}")
    empty_cache(torch, a.device)
    try:
        out["average"] = averages(torch, a.device, a.avg_files, a.avg_mib, a.avg_repeats)
    except Exception as e:
        errors.append(f"average: {type(e).__name__}: {e}")
    if errors:
        out["errors"] = errors
    print(json.dumps(out, indent=1))
    for line in errors:
        print(f"gpu_torch_compare: {line}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
