#!/usr/bin/env python3
"""Merges the parts of scripts/gpu-check.sh into one JSON report and prints its summary: the steps
(exit codes, seconds), rt_gpu_check's checks and numbers, the torch baselines and, when they ran,
the Node-side checks; with the ratios the project tracks:
  optimizer GB/s / device triad (target >= 0.85), torch fused step time / ours (target >= 1.0),
  average engine GB/s / page-cache read GB/s, accumulate kernel GB/s / device triad and vs torch.
Exit code: 0 GPU present and everything passed; 1 a check or step failed, or nvidia-smi lists a
GPU that rt_gpu_check could not use; 3 no GPU (the CPU parts that ran passed). Standard library only."""
import argparse
import json
import os
import sys

OPTIM_TARGET_OF_TRIAD = 0.85
TORCH_SPEEDUP_TARGET = 1.0


def load(path):
    """(value, error): the JSON in path, or None and why not."""
    if not os.path.exists(path):
        return None, "missing"
    try:
        with open(path) as f:
            return json.load(f), None
    except (OSError, ValueError) as e:
        return None, f"unreadable: {e}"


def get(d, *keys):
    for k in keys:
        if isinstance(d, dict) and k in d:
            d = d[k]
        elif isinstance(d, list) and isinstance(k, int) and -len(d) <= k < len(d):
            d = d[k]
        else:
            return None
    return d


def ratio(a, b):
    return a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None


def read_steps(path):
    steps = []
    with open(path) as f:
        for line in f:
            name, status, rc, seconds, note = (line.rstrip("\n").split("\t") + [""] * 5)[:5]
            steps.append({"name": name, "status": status, "exit": int(rc) if rc else None,
                          "seconds": int(seconds or 0), **({"note": note} if note else {})})
    return steps


def optim_ratios(rt, torch):
    rows = []
    torch_by_params = {t.get("params"): t for t in (get(torch, "optim") or [])}
    for b in get(rt, "optim", "bench") or []:
        t = torch_by_params.get(b.get("params"))
        for name in ("sgd", "adam", "adamw"):
            ours = get(b, "cuda", name)
            if not isinstance(ours, dict):
                continue
            row = {"params": b["params"], "optimizer": name, "ours_ms": ours.get("median_ms"),
                   "ours_gbs": ours.get("gbs"), "of_triad": ours.get("of_triad"), "of_peak": ours.get("of_peak")}
            row["meets_triad_target"] = (row["of_triad"] or 0) >= OPTIM_TARGET_OF_TRIAD
            theirs = get(t, name)
            if isinstance(theirs, dict):
                if t.get("tensors") != b.get("tensors"):
                    row["warning"] = f"tensor split differs: torch {t.get('tensors')} vs ours {b.get('tensors')}"
                row.update(torch_mode=theirs.get("mode"), torch_ms=theirs.get("median_ms"),
                           speedup_vs_torch=ratio(theirs.get("median_ms"), ours.get("median_ms")))
                row["meets_torch_target"] = (row["speedup_vs_torch"] or 0) >= TORCH_SPEEDUP_TARGET
            rows.append(row)
    return rows


def average_ratios(rt, torch):
    rows = []
    for dt in ("F32", "BF16"):
        tp = get(rt, "average", "throughput", dt) or {}
        kernel = get(rt, "average", "kernel", dt) or {}
        row = {"dtype": dt}
        for dev in ("cpu", "cuda"):
            e = tp.get(dev)
            if isinstance(e, dict) and "gbs" in e:
                row[f"{dev}_engine_gbs"] = e["gbs"]
                row[f"{dev}_engine_of_read"] = e.get("of_read")
                if dev == "cuda":
                    row["cuda_engine_of_cpu_engine"] = e.get("of_cpu_engine")
                    row["cuda_engine_vs_one_reader"] = e.get("vs_one_reader")
        if "gbs" in kernel:
            row["kernel_gbs"] = kernel["gbs"]
            row["kernel_of_triad"] = kernel.get("of_triad")
            for how in ("running_sum", "stack_mean"):
                theirs = get(torch, "average", dt, how, "input_gbs")
                if theirs:
                    row[f"kernel_vs_torch_{how}"] = ratio(kernel.get("input_gbs"), theirs)
        rows.append(row)
    return rows


def vitest_summary(report):
    if not isinstance(report, dict):
        return None
    keys = ("numTotalTests", "numPassedTests", "numFailedTests", "numPendingTests", "success")
    return {k: report.get(k) for k in keys}


def fmt(x, spec=".2f"):
    return format(x, spec) if isinstance(x, (int, float)) else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--steps", required=True)
    ap.add_argument("--has-gpu", type=int, required=True)
    ap.add_argument("--seconds", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    steps = read_steps(a.steps)
    rt, rt_err = load(os.path.join(a.work, "rt_gpu_check.json"))
    torch, torch_err = load(os.path.join(a.work, "torch.json"))
    node = {}
    for name in ("optim", "optim-tests", "average", "average-tests"):
        value, err = load(os.path.join(a.work, "node", f"{name}.json"))
        if value is not None or any(s["name"].startswith("node_") and s["status"] != "skipped" for s in steps):
            node[name] = value if value is not None else {"error": err}

    checks = get(rt, "checks") or []
    failed = [c["name"] for c in checks if c.get("pass") is False]
    skipped = [c["name"] for c in checks if c.get("pass") is None]
    bad_steps = [s["name"] for s in steps if s["status"] in ("failed", "timeout")]
    node_failed = [k for k in ("optim-tests", "average-tests") if get(node, k, "success") is False]
    node_failed += [k for k in ("optim", "average") if get(node, k, "errors")]
    gpu = bool(a.has_gpu) and bool(get(rt, "gpu", "available"))

    merged = {
        "tool": "scripts/gpu-check.sh",
        "seconds": a.seconds,
        "gpu": {"nvidia_smi": bool(a.has_gpu), "usable": gpu, "reason": get(rt, "gpu", "reason")},
        "machine": get(rt, "machine"),
        "steps": steps,
        "checks": {"passed": sum(1 for c in checks if c.get("pass") is True), "failed": failed, "skipped": len(skipped)},
        "triad": get(rt, "triad"),
        "targets": {"optim_of_triad": OPTIM_TARGET_OF_TRIAD, "speedup_vs_torch_fused": TORCH_SPEEDUP_TARGET},
        "optim": optim_ratios(rt, torch),
        "average": average_ratios(rt, torch),
        "rt_gpu_check": rt if rt is not None else {"error": rt_err},
        "torch": torch if torch is not None else {"error": torch_err},
        "node": {k: (vitest_summary(v) if k.endswith("-tests") and "error" not in v else v) for k, v in node.items()},
    }
    # nvidia-smi lists a GPU that rt_gpu_check could not use (no CUDA build, driver mismatch): a failure.
    unusable = bool(a.has_gpu) and not gpu
    code = 1 if failed or bad_steps or node_failed or rt is None or unusable else (0 if gpu else 3)
    merged["exit_code"] = code
    with open(a.out, "w") as f:
        json.dump(merged, f, indent=1)

    print("\n== gpu-check summary")
    for s in steps:
        print(f"  step {s['name']:<18} {s['status']:<8} {s['seconds']:>4}s {s.get('note', '')}")
    print(f"  checks: {merged['checks']['passed']} passed, {len(failed)} failed, {len(skipped)} skipped")
    for name in failed:
        print(f"    FAILED: {name}")
    triad = get(rt, "triad", "cuda", "median_gbs")
    print(f"  device triad {fmt(triad, '.0f')} GB/s, peak {fmt(get(rt, 'machine', 'peak_gbs'), '.0f')} GB/s")
    for r in merged["optim"]:
        print(f"  {r['optimizer']:<5} {r['params'] >> 20:>3}M: {fmt(r['ours_gbs'], '.0f')} GB/s = {fmt(r['of_triad'])} of triad"
              f" (target {OPTIM_TARGET_OF_TRIAD}); torch {r.get('torch_mode', '-')} {fmt(r.get('torch_ms'), '.3f')} ms"
              f" / ours {fmt(r['ours_ms'], '.3f')} ms = {fmt(r.get('speedup_vs_torch'))} (target >= {TORCH_SPEEDUP_TARGET})")
    for r in merged["average"]:
        print(f"  average {r['dtype']:<4}: cuda engine {fmt(r.get('cuda_engine_gbs'), '.1f')} GB/s ="
              f" {fmt(r.get('cuda_engine_of_cpu_engine'))} of the cpu engine, x{fmt(r.get('cuda_engine_vs_one_reader'))}"
              f" one reader; cpu engine {fmt(r.get('cpu_engine_of_read'))} of 1-thread read; kernel {fmt(r.get('kernel_of_triad'))} of triad,"
              f" vs torch running sum x{fmt(r.get('kernel_vs_torch_running_sum'))}")
    if unusable:
        print(f"  FAILED: nvidia-smi lists a GPU but rt_gpu_check could not use it: {get(rt, 'gpu', 'reason')}")
    elif not gpu:
        print(f"  GPU parts skipped: {get(rt, 'gpu', 'reason') or 'no GPU'}")
    print(f"  report: {a.out}; exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
