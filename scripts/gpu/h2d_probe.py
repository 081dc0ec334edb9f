import torch, time
for mib in (2, 4, 64):
    n = mib << 18
    h = torch.empty(n, dtype=torch.float32).pin_memory(); d = torch.empty(n, device='cuda')
    for _ in range(3): d.copy_(h, non_blocking=True)
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    reps = 50; t = time.perf_counter(); s.record()
    for _ in range(reps): d.copy_(h, non_blocking=True)
    e.record(); torch.cuda.synchronize(); wall = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(reps): d.copy_(h, non_blocking=True); torch.cuda.synchronize()
    synced = time.perf_counter() - t
    print(f"H2D pinned {mib} MiB: {n*4*reps/s.elapsed_time(e)/1e6:.1f} GB/s (events), {n*4*reps/wall/1e9:.1f} GB/s wall, {n*4*reps/synced/1e9:.1f} GB/s with a sync per copy")
