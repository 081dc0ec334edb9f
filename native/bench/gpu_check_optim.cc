// Optimizer section of rt_gpu_check. Check: SGD (momentum, nesterov, dampening, weight decay,
// maximize, first step) and Adam/AdamW groups on odd tensor sizes, a few steps, CUDA against the
// scalar reference and the CPU SIMD kernels. Time: the CUDA multi-tensor steps on transformer-like
// tensors as GB/s of the bytes they must move, against the device triad of the same run.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/gpu_check.h"
#include "common/cpu.h"
#include "optim/adam.h"
#include "optim/optim_cuda.h"
#include "optim/sgd.h"

namespace rt::bench {
namespace {

using namespace rt::optim;

// Bytes each step must move per parameter: SGD-momentum reads param, grad, buffer and writes
// param, buffer (5 x 4); Adam reads param, grad, m, v and writes param, m, v (7 x 4).
constexpr double kSgdBytesPerParam = 20, kAdamBytesPerParam = 28;

// The scalar reference rounds every operation on its own (torch's op order); the SIMD and CUDA
// kernels fuse a*b + c into one FMA where torch's vectorised kernels do. After 3 steps the two are
// a few fp32 roundings apart: 1e-6 of the array's largest magnitude is ~8 ulp (2^-23 = 1.19e-7),
// the tolerance of test/optim/levels.test.ts and cuda.test.ts. CUDA vs SIMD must match bit for bit.
constexpr double kRelTolerance = 1e-6;
constexpr int kCheckSteps = 3;

// Chunk edges (65536 on CUDA), float4 and AVX tails, empty tensors.
const std::vector<size_t> kCheckSizes = {0, 1, 7, 17, 65536, 65536 * 2 + 5, 1000003};

// One group's arrays, tensor by tensor: params, grads and two state arrays.
struct Arrays {
  std::vector<std::vector<float>> p, g, s1, s2;
};

// Params in [-1, 1), grads in [-0.5, 0.5). away_from_zero: |grad| >= 0.1 >= wd*|p| (as in
// test/optim/helpers.ts): where Adam's g = grad + wd*p cancels to about eps, lr*g/(|g|+eps)
// amplifies the one-ulp FMA vs mul+add difference up to lr/eps. That is Adam's conditioning (torch
// has it too), not a kernel difference, so it is kept out of a check about kernel agreement.
Arrays make_arrays(const std::vector<size_t>& sizes, uint64_t seed, bool away_from_zero) {
  Arrays a;
  for (size_t t = 0; t < sizes.size(); ++t) {
    a.p.emplace_back(sizes[t]);
    a.g.emplace_back(sizes[t]);
    fill_uniform(a.p.back().data(), sizes[t], seed * 1000 + t, 1.0f);
    fill_uniform(a.g.back().data(), sizes[t], seed * 1000 + 500 + t, 0.5f);
    if (away_from_zero)
      for (float& x : a.g.back()) x = std::copysign(0.1f + std::fabs(x), x);
    a.s1.emplace_back(sizes[t], 0.0f);
    a.s2.emplace_back(sizes[t], 0.0f);
  }
  return a;
}

SgdGroup sgd_group(Arrays& a, const SgdHyper& h) {
  SgdGroup g{h, {}};
  for (size_t t = 0; t < a.p.size(); ++t)
    g.tensors.push_back({a.p[t].data(), a.g[t].data(), h.momentum != 0 ? a.s1[t].data() : nullptr, a.p[t].size()});
  return g;
}

AdamGroup adam_group(Arrays& a, const AdamHyper& h) {
  AdamGroup g{h, {}};
  for (size_t t = 0; t < a.p.size(); ++t)
    g.tensors.push_back({a.p[t].data(), a.g[t].data(), a.s1[t].data(), a.s2[t].data(), a.p[t].size()});
  return g;
}

struct Diff {
  double max_abs = 0, max_rel = 0;  // max_rel: per array max|a-b| / max|b|, the largest over arrays
  bool bit_exact = true;
  Json json() const { return Json::object().set("max_abs", max_abs).set("max_rel", max_rel).set("bit_exact", bit_exact); }
};

Diff compare(const std::vector<const std::vector<float>*>& a, const std::vector<const std::vector<float>*>& b) {
  Diff d;
  for (size_t k = 0; k < a.size(); ++k) {
    const std::vector<float>& x = *a[k];
    const std::vector<float>& y = *b[k];
    double diff = 0, scale = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      diff = std::max(diff, std::fabs(static_cast<double>(x[i]) - y[i]));
      scale = std::max(scale, std::fabs(static_cast<double>(y[i])));
    }
    d.max_abs = std::max(d.max_abs, diff);
    d.max_rel = std::max(d.max_rel, scale > 0 ? diff / scale : diff);
    if (!x.empty() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) != 0) d.bit_exact = false;
  }
  return d;
}

// The arrays a family writes (params and state), over all groups.
std::vector<const std::vector<float>*> written(const std::vector<Arrays>& groups, bool s1, bool s2) {
  std::vector<const std::vector<float>*> out;
  for (const Arrays& a : groups) {
    for (const auto& x : a.p) out.push_back(&x);
    if (s1) for (const auto& x : a.s1) out.push_back(&x);
    if (s2) for (const auto& x : a.s2) out.push_back(&x);
  }
  return out;
}

std::string fmt_rel(const Diff& d) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "max rel %.3g, max abs %.3g%s", d.max_rel, d.max_abs, d.bit_exact ? ", bit-exact" : "");
  return buf;
}

// Records the three agreement checks of one family; ref, simd, gpu hold the final states.
Json agreement(Context& ctx, const std::string& family, const Diff& simd_vs_ref, const Diff* gpu_vs_ref,
               const Diff* gpu_vs_simd) {
  const CpuLevel level = cpu_level();
  const std::string lv = cpu_level_name(level);
  Json j = Json::object().set("steps", kCheckSteps).set("sizes", Json::array_of(kCheckSizes)).set("tolerance_rel", kRelTolerance);
  j.set("cpu_" + lv + "_vs_scalar_ref", simd_vs_ref.json());
  bool ok = simd_vs_ref.max_rel <= kRelTolerance;
  ctx.check("optim " + family + ": cpu " + lv + " vs scalar reference", &ok, fmt_rel(simd_vs_ref));
  if (!gpu_vs_ref) {
    j.set("cuda", Json::object().set("skipped", ctx.no_gpu_reason));
    ctx.check("optim " + family + ": cuda vs scalar reference", nullptr, ctx.no_gpu_reason);
    ctx.check("optim " + family + ": cuda vs cpu " + lv + " bit-exact", nullptr, ctx.no_gpu_reason);
    return j;
  }
  j.set("cuda_vs_scalar_ref", gpu_vs_ref->json());
  j.set("cuda_vs_cpu_" + lv, gpu_vs_simd->json());
  ok = gpu_vs_ref->max_rel <= kRelTolerance;
  ctx.check("optim " + family + ": cuda vs scalar reference", &ok, fmt_rel(*gpu_vs_ref));
  if (level == CpuLevel::Scalar) {
    ctx.check("optim " + family + ": cuda vs cpu " + lv + " bit-exact", nullptr, "the CPU has no SIMD level to match");
  } else {
    ok = gpu_vs_simd->bit_exact;
    ctx.check("optim " + family + ": cuda vs cpu " + lv + " bit-exact", &ok, fmt_rel(*gpu_vs_simd));
  }
  return j;
}

Json check_sgd(Context& ctx) {
  std::vector<SgdHyper> hypers(3);
  hypers[0].lr = 0.05, hypers[0].momentum = 0.9, hypers[0].weight_decay = 1e-2, hypers[0].nesterov = true;
  hypers[1].lr = 0.02, hypers[1].momentum = 0.7, hypers[1].dampening = 0.3, hypers[1].weight_decay = 0.05;
  hypers[1].maximize = true;
  hypers[2].lr = 0.1;  // plain SGD: no momentum buffer
  hypers[0].first_step = hypers[1].first_step = true;
  auto fresh = [&] {
    std::vector<Arrays> a;
    for (size_t g = 0; g < hypers.size(); ++g) a.push_back(make_arrays(kCheckSizes, 10 + g, false));
    return a;
  };
  auto groups = [&](std::vector<Arrays>& a, int step) {
    std::vector<SgdGroup> gs;
    for (size_t g = 0; g < hypers.size(); ++g) {
      SgdHyper h = hypers[g];
      h.first_step = h.first_step && step == 0;
      gs.push_back(sgd_group(a[g], h));
    }
    return gs;
  };
  std::vector<Arrays> ref = fresh(), simd = fresh(), gpu = fresh();
  for (int step = 0; step < kCheckSteps; ++step) {
    for (const SgdGroup& g : groups(ref, step)) {
      const SgdScalars s = sgd_scalars(g.hyper);
      for (const SgdTensor& t : g.tensors) sgd_range_ref(s, t, 0, t.size);
    }
    sgd_step(groups(simd, step));
  }
  // Momentum buffers of groups with momentum; the plain group's s1 stays zero everywhere.
  const Diff simd_vs_ref = compare(written(simd, true, false), written(ref, true, false));
  if (!ctx.gpu) return agreement(ctx, "sgd", simd_vs_ref, nullptr, nullptr);
  cuda_sgd_steps(groups(gpu, 0), kCheckSteps, ctx.opt.device);
  const Diff gr = compare(written(gpu, true, false), written(ref, true, false));
  const Diff gs = compare(written(gpu, true, false), written(simd, true, false));
  return agreement(ctx, "sgd", simd_vs_ref, &gr, &gs);
}

Json check_adam(Context& ctx) {
  std::vector<AdamHyper> hypers(3);
  hypers[0].lr = 1e-2, hypers[0].weight_decay = 0.1;  // Adam, coupled decay
  hypers[1].lr = 1e-2, hypers[1].beta1 = 0.8, hypers[1].beta2 = 0.95, hypers[1].eps = 1e-6;
  hypers[1].weight_decay = 0.1, hypers[1].decoupled = true;  // AdamW
  hypers[2].lr = 5e-3, hypers[2].beta1 = 0.85, hypers[2].beta2 = 0.99, hypers[2].eps = 1e-7;
  hypers[2].weight_decay = 0.01, hypers[2].maximize = true;
  auto fresh = [&] {
    std::vector<Arrays> a;
    for (size_t g = 0; g < hypers.size(); ++g) a.push_back(make_arrays(kCheckSizes, 20 + g, true));
    return a;
  };
  auto groups = [&](std::vector<Arrays>& a, int step) {
    std::vector<AdamGroup> gs;
    for (size_t g = 0; g < hypers.size(); ++g) {
      AdamHyper h = hypers[g];
      h.step = 1 + step;
      gs.push_back(adam_group(a[g], h));
    }
    return gs;
  };
  std::vector<Arrays> ref = fresh(), simd = fresh(), gpu = fresh();
  for (int step = 0; step < kCheckSteps; ++step) {
    for (const AdamGroup& g : groups(ref, step)) {
      const AdamScalars s = adam_scalars(g.hyper);
      for (const AdamTensor& t : g.tensors) adam_range_ref(s, t, 0, t.size);
    }
    adam_step(groups(simd, step));
  }
  const Diff simd_vs_ref = compare(written(simd, true, true), written(ref, true, true));
  if (!ctx.gpu) return agreement(ctx, "adam", simd_vs_ref, nullptr, nullptr);
  cuda_adam_steps(groups(gpu, 0), kCheckSteps, ctx.opt.device);
  const Diff gr = compare(written(gpu, true, true), written(ref, true, true));
  const Diff gs = compare(written(gpu, true, true), written(simd, true, true));
  return agreement(ctx, "adam", simd_vs_ref, &gr, &gs);
}

// One flat buffer per role, cut into transformer-like tensors (as a model's parameters would be).
struct Flat {
  std::vector<float> p, g, m, v;
  std::vector<size_t> sizes;
  explicit Flat(size_t n) : p(n), g(n), m(n, 0.0f), v(n, 0.0f), sizes(transformer_like_sizes(n)) {
    fill_uniform(p.data(), n, 1, 1.0f);
    fill_uniform(g.data(), n, 2, 0.01f);
  }
  SgdGroup sgd(const SgdHyper& h) {
    SgdGroup gr{h, {}};
    for (size_t off = 0, t = 0; t < sizes.size(); off += sizes[t++])
      gr.tensors.push_back({p.data() + off, g.data() + off, m.data() + off, sizes[t]});
    return gr;
  }
  AdamGroup adam(const AdamHyper& h) {
    AdamGroup gr{h, {}};
    for (size_t off = 0, t = 0; t < sizes.size(); off += sizes[t++])
      gr.tensors.push_back({p.data() + off, g.data() + off, m.data() + off, v.data() + off, sizes[t]});
    return gr;
  }
};

Json rate(double ms, double bytes, double denom_gbs, const char* denom_name) {
  const double gbs = bytes / (ms * 1e-3) / 1e9;
  Json j = Json::object().set("median_ms", ms).set("gbs", gbs);
  if (denom_gbs > 0) j.set(denom_name, gbs / denom_gbs);
  return j;
}

// Median wall time of `repeats` calls after one warm-up (CPU kernels).
template <class Fn>
double cpu_ms(int repeats, Fn fn) {
  fn();
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(seconds_since(t0) * 1e3);
  }
  return median(ms);
}

Json bench_size(Context& ctx, size_t params, bool with_cpu) {
  Flat f(params);
  SgdHyper sgd;
  sgd.lr = 1e-4, sgd.momentum = 0.9, sgd.weight_decay = 1e-4;  // as scripts/gpu_torch_compare.py
  AdamHyper adam;
  adam.lr = 1e-5;
  AdamHyper adamw = adam;
  adamw.weight_decay = 0.01, adamw.decoupled = true;
  const double n = static_cast<double>(params);
  Json j = Json::object().set("params", params).set("tensors", f.sizes.size());
  Json cuda = Json::object(), cpu = Json::object();
  if (ctx.gpu) {
    // The CUDA runner times each step with events; the median skips the cold first launch.
    auto add = [&](const char* name, double ms, double bpp) {
      Json r = rate(ms, bpp * n, ctx.cuda_triad_gbs, "of_triad");
      if (ctx.cuda_peak_gbs > 0) r.set("of_peak", bpp * n / (ms * 1e-3) / 1e9 / ctx.cuda_peak_gbs);
      say("  cuda %-6s %4zuM params: %7.3f ms  %6.0f GB/s  %.2f of triad", name, params >> 20, ms,
          bpp * n / (ms * 1e-3) / 1e9, bpp * n / (ms * 1e-3) / 1e9 / ctx.cuda_triad_gbs);
      cuda.set(name, std::move(r));
    };
    add("sgd", cuda_sgd_steps({f.sgd(sgd)}, ctx.opt.optim_steps, ctx.opt.device).median_ms, kSgdBytesPerParam);
    add("adam", cuda_adam_steps({f.adam(adam)}, ctx.opt.optim_steps, ctx.opt.device).median_ms, kAdamBytesPerParam);
    add("adamw", cuda_adam_steps({f.adam(adamw)}, ctx.opt.optim_steps, ctx.opt.device).median_ms, kAdamBytesPerParam);
    j.set("cuda", std::move(cuda));
  } else {
    j.set("cuda", Json::object().set("skipped", ctx.no_gpu_reason));
  }
  if (with_cpu) {
    double step = 1;
    const double sgd_ms = cpu_ms(3, [&] { sgd_step({f.sgd(sgd)}); });
    const double adam_ms = cpu_ms(3, [&] {
      adamw.step = step++;
      adam_step({f.adam(adamw)});
    });
    cpu.set("level", cpu_level_name(cpu_level()));
    cpu.set("sgd", rate(sgd_ms, kSgdBytesPerParam * n, ctx.cpu_triad_gbs, "of_triad"));
    cpu.set("adamw", rate(adam_ms, kAdamBytesPerParam * n, ctx.cpu_triad_gbs, "of_triad"));
    say("  cpu  sgd    %4zuM params: %7.2f ms  %6.1f GB/s;  adamw %7.2f ms  %6.1f GB/s", params >> 20, sgd_ms,
        kSgdBytesPerParam * n / sgd_ms / 1e6, adam_ms, kAdamBytesPerParam * n / adam_ms / 1e6);
    j.set("cpu", std::move(cpu));
  }
  return j;
}

}  // namespace

void run_optim_section(Context& ctx) {
  say("optim: agreement (%d steps, sizes 0..1000003, 3 groups each)", kCheckSteps);
  Json section = Json::object();
  Json agree = Json::object();
  ctx.attempt("optim sgd agreement", [&] { agree.set("sgd", check_sgd(ctx)); });
  ctx.attempt("optim adam agreement", [&] { agree.set("adam", check_adam(ctx)); });
  section.set("agreement", std::move(agree));
  say("optim: timing (bytes/param: SGD-momentum %.0f, Adam %.0f; target >= 0.85 of the device triad)",
      kSgdBytesPerParam, kAdamBytesPerParam);
  Json bench = Json::array();
  for (size_t k = 0; k < ctx.opt.optim_params.size(); ++k)
    ctx.attempt("optim timing " + std::to_string(ctx.opt.optim_params[k]) + " params",
                [&] { bench.push(bench_size(ctx, ctx.opt.optim_params[k], k == 0)); });
  section.set("bench", std::move(bench));
  section.set("bytes_per_param", Json::object().set("sgd_momentum", kSgdBytesPerParam).set("adam", kAdamBytesPerParam));
  section.set("target_of_triad", 0.85);
  ctx.report.set("optim", std::move(section));
}

}  // namespace rt::bench
