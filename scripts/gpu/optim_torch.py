#!/usr/bin/env python3
"""torch's own fused (else foreach) CUDA SGD-momentum and AdamW steps on given tensor sizes, timed
with CUDA events; the baseline for scripts/gpu/optim-check.mjs.
Usage: python3 optim_torch.py '<json: {"sizes": [...], "steps": n}>'  -> one JSON object on stdout."""
import json
import sys


def main():
    args = json.loads(sys.argv[1])
    try:
        import torch
    except ImportError as e:
        print(json.dumps({"skipped": f"torch not importable: {e}"}))
        return
    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "torch.cuda.is_available() is False", "torch": torch.__version__}))
        return
    sizes, steps = args["sizes"], args["steps"]
    n = sum(sizes)
    gen = torch.Generator(device="cuda").manual_seed(0)
    params = [torch.randn(s, device="cuda", generator=gen) for s in sizes]
    grads = [torch.randn(s, device="cuda", generator=gen) * 0.01 for s in sizes]

    def timed(make, bytes_per_param):
        ps = [p.clone().requires_grad_(True) for p in params]
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        opt, mode = make(ps)
        for _ in range(3):
            opt.step()
        ms = []
        for _ in range(steps):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            opt.step()
            b.record()
            torch.cuda.synchronize()
            ms.append(a.elapsed_time(b))
        ms.sort()
        med = ms[len(ms) // 2]
        return {"mode": mode, "ms": med, "gbs": bytes_per_param * n / (med * 1e-3) / 1e9}

    def make(cls, **kw):
        def build(ps):
            for mode in ("fused", "foreach"):
                try:
                    return cls(ps, **kw, **{mode: True}), mode
                except (TypeError, RuntimeError, ValueError):
                    continue
            return cls(ps, **kw), "for-loop"
        return build

    out = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0),
        "params": n,
        "sgd": timed(make(torch.optim.SGD, lr=1e-4, momentum=0.9, weight_decay=1e-4), 20),
        "adamw": timed(make(torch.optim.AdamW, lr=1e-5, weight_decay=0.01), 28),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
