// N-API glue for the optim family: fused multi-tensor SGD / Adam steps on the CPU, the same
// steps on CUDA for tests and benchmarks, and the memory-bandwidth probe. Arguments are read in
// two phases: first every property (getters may run JS), then the typed arrays' memory, so no
// JS can detach a buffer between validation and use.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "common.h"
#include "common/device.h"
#include "common/membw.h"
#include "common/parallel.h"
#include "optim/adam.h"
#include "optim/optim_cuda.h"
#include "optim/sgd.h"

namespace {

using ArrayList = std::vector<Napi::Float32Array>;

struct FieldSpec {
  const char* key;
  bool written;   // the kernel writes it (params, state); grads are only read
  bool optional;  // may be null/undefined
};

// Field 0 is always `params`; every other field lists one array per parameter.
const std::vector<FieldSpec> kSgdFields = {
    {"params", true, false}, {"grads", false, false}, {"momentumBuffers", true, true}};
const std::vector<FieldSpec> kAdamFields = {
    {"params", true, false}, {"grads", false, false}, {"expAvg", true, false}, {"expAvgSq", true, false}};

std::string GroupCtx(const std::string& fn, size_t g) { return fn + ": groups[" + std::to_string(g) + "]"; }

std::optional<ArrayList> ReadArrayList(Napi::Object group, const FieldSpec& f, const std::string& ctx) {
  Napi::Env env = group.Env();
  Napi::Value v = group.Get(f.key);
  if (f.optional && (v.IsUndefined() || v.IsNull())) return std::nullopt;
  Napi::Array arr = rtb::ArrayArg(env, v, ctx + "." + f.key);
  ArrayList list;
  uint32_t n = arr.Length();
  list.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    Napi::Value e = arr.Get(i);
    if (!e.IsTypedArray() || e.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw rtb::TypeErr(env, ctx + "." + f.key + "[" + std::to_string(i) + "] must be a Float32Array");
    list.push_back(e.As<Napi::Float32Array>());
  }
  return list;
}

// Phase 1 result for one group: its arrays (by field) and its hyperparameter object.
struct RawGroup {
  Napi::Object obj;
  std::vector<std::optional<ArrayList>> fields;
};

std::vector<RawGroup> ReadGroups(const Napi::CallbackInfo& info, const std::string& fn,
                                 const std::vector<FieldSpec>& specs) {
  Napi::Env env = info.Env();
  rtb::ExpectArgs(info, 1, fn.c_str());
  Napi::Array groups = rtb::ArrayArg(env, info[0], fn + ": groups");
  std::vector<RawGroup> out;
  for (uint32_t g = 0; g < groups.Length(); ++g) {
    std::string ctx = GroupCtx(fn, g);
    Napi::Value v = groups.Get(g);
    if (!v.IsObject() || v.IsArray()) throw rtb::TypeErr(env, ctx + " must be an object");
    RawGroup rg{v.As<Napi::Object>(), {}};
    for (const FieldSpec& f : specs) rg.fields.push_back(ReadArrayList(rg.obj, f, ctx));
    out.push_back(std::move(rg));
  }
  return out;
}

double FiniteField(Napi::Object o, const char* key, const std::string& ctx) {
  double x = rtb::NumberField(o, key, ctx);
  if (!std::isfinite(x)) throw rtb::RangeErr(o.Env(), ctx + "." + key + " must be finite");
  return x;
}

// Memory of one array, named for error messages.
struct Region {
  const char* begin;
  const char* end;
  uint32_t group, field, index;
};

std::string RegionName(const std::vector<FieldSpec>& specs, const Region& r) {
  return "groups[" + std::to_string(r.group) + "]." + specs[r.field].key + "[" + std::to_string(r.index) + "]";
}

// Kernels run chunks in parallel and update in place, so no written array may share memory with
// any other array of the call. Read-only arrays (grads) may alias each other.
void CheckNoOverlap(Napi::Env env, const std::string& fn, const std::vector<FieldSpec>& specs,
                    std::vector<Region> written, const std::vector<Region>& read) {
  auto by_begin = [](const Region& a, const Region& b) { return a.begin < b.begin; };
  std::sort(written.begin(), written.end(), by_begin);
  for (size_t i = 1; i < written.size(); ++i)
    if (written[i].begin < written[i - 1].end)
      throw rtb::RangeErr(env, fn + ": " + RegionName(specs, written[i]) + " overlaps " +
                                   RegionName(specs, written[i - 1]) + " in memory");
  for (const Region& r : read) {
    // Written regions are disjoint and sorted, so only the last one starting before r.end can reach r.
    auto it = std::lower_bound(written.begin(), written.end(), r.end,
                               [](const Region& w, const char* end) { return w.begin < end; });
    if (it != written.begin() && std::prev(it)->end > r.begin)
      throw rtb::RangeErr(env, fn + ": " + RegionName(specs, r) + " overlaps " + RegionName(specs, *std::prev(it)) +
                                   " in memory");
  }
}

// Napi::TypedArray caches its data pointer and length when the handle is made (phase 1); a
// getter may have detached the buffer since, so ask V8 again.
rtb::F32View CurrentView(Napi::Env env, const Napi::Float32Array& a) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, a, &type, &length, &data, nullptr, nullptr) != napi_ok)
    throw Napi::Error::New(env, "cannot read a Float32Array");
  return {static_cast<float*>(data), data ? length : 0};
}

// Phase 2: pointers and sizes of every array, [group][field][tensor] (empty for an absent field),
// after checking counts, element counts and overlaps.
using Views = std::vector<std::vector<std::vector<rtb::F32View>>>;

Views BindArrays(Napi::Env env, const std::string& fn, const std::vector<FieldSpec>& specs,
                 const std::vector<RawGroup>& groups) {
  Views views(groups.size());
  std::vector<Region> written, read;
  for (uint32_t g = 0; g < groups.size(); ++g) {
    std::string ctx = GroupCtx(fn, g);
    views[g].resize(specs.size());
    const size_t count = groups[g].fields[0]->size();
    for (uint32_t f = 0; f < specs.size(); ++f) {
      if (!groups[g].fields[f]) continue;
      const ArrayList& list = *groups[g].fields[f];
      if (list.size() != count)
        throw rtb::RangeErr(env, ctx + "." + specs[f].key + " has " + std::to_string(list.size()) +
                                     " arrays but params has " + std::to_string(count));
      for (uint32_t i = 0; i < list.size(); ++i) {
        rtb::F32View v = CurrentView(env, list[i]);
        size_t want = f == 0 ? v.size : views[g][0][i].size;
        if (v.size != want)
          throw rtb::RangeErr(env, ctx + "." + specs[f].key + "[" + std::to_string(i) + "] has " +
                                       std::to_string(v.size) + " elements but params[" + std::to_string(i) +
                                       "] has " + std::to_string(want));
        views[g][f].push_back(v);
        if (v.size == 0) continue;
        const char* b = reinterpret_cast<const char*>(v.data);
        Region r{b, b + v.size * sizeof(float), g, f, i};
        (specs[f].written ? written : read).push_back(r);
      }
    }
  }
  CheckNoOverlap(env, fn, specs, std::move(written), read);
  return views;
}

std::vector<rt::optim::SgdGroup> ParseSgd(const Napi::CallbackInfo& info, const std::string& fn) {
  Napi::Env env = info.Env();
  std::vector<RawGroup> raw = ReadGroups(info, fn, kSgdFields);
  std::vector<rt::optim::SgdGroup> groups(raw.size());
  for (size_t g = 0; g < raw.size(); ++g) {
    std::string ctx = GroupCtx(fn, g);
    Napi::Object o = raw[g].obj;
    rt::optim::SgdHyper& h = groups[g].hyper;
    h.lr = FiniteField(o, "lr", ctx);
    h.momentum = FiniteField(o, "momentum", ctx);
    h.dampening = FiniteField(o, "dampening", ctx);
    h.weight_decay = FiniteField(o, "weightDecay", ctx);
    h.nesterov = rtb::BoolFieldOr(o, "nesterov", false, ctx);
    h.maximize = rtb::BoolFieldOr(o, "maximize", false, ctx);
    h.first_step = rtb::BoolFieldOr(o, "firstStep", false, ctx);
    if (const char* why = rt::optim::sgd_check(h)) throw rtb::RangeErr(env, ctx + ": " + why);
    if (h.momentum != 0 && !raw[g].fields[2])
      throw rtb::TypeErr(env, ctx + ".momentumBuffers must be an array of Float32Array when momentum != 0");
  }
  Views views = BindArrays(env, fn, kSgdFields, raw);  // no JS runs after this point
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& v = views[g];
    bool momentum = groups[g].hyper.momentum != 0;
    for (size_t i = 0; i < v[0].size(); ++i)
      groups[g].tensors.push_back({v[0][i].data, v[1][i].data, momentum ? v[2][i].data : nullptr, v[0][i].size});
  }
  return groups;
}

std::vector<rt::optim::AdamGroup> ParseAdam(const Napi::CallbackInfo& info, const std::string& fn) {
  Napi::Env env = info.Env();
  std::vector<RawGroup> raw = ReadGroups(info, fn, kAdamFields);
  std::vector<rt::optim::AdamGroup> groups(raw.size());
  for (size_t g = 0; g < raw.size(); ++g) {
    std::string ctx = GroupCtx(fn, g);
    Napi::Object o = raw[g].obj;
    rt::optim::AdamHyper& h = groups[g].hyper;
    h.step = FiniteField(o, "step", ctx);
    h.lr = FiniteField(o, "lr", ctx);
    h.beta1 = FiniteField(o, "beta1", ctx);
    h.beta2 = FiniteField(o, "beta2", ctx);
    h.eps = FiniteField(o, "eps", ctx);
    h.weight_decay = FiniteField(o, "weightDecay", ctx);
    h.decoupled = rtb::BoolFieldOr(o, "decoupled", false, ctx);
    h.maximize = rtb::BoolFieldOr(o, "maximize", false, ctx);
    if (const char* why = rt::optim::adam_check(h)) throw rtb::RangeErr(env, ctx + ": " + why);
  }
  Views views = BindArrays(env, fn, kAdamFields, raw);  // no JS runs after this point
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& v = views[g];
    for (size_t i = 0; i < v[0].size(); ++i)
      groups[g].tensors.push_back({v[0][i].data, v[1][i].data, v[2][i].data, v[3][i].data, v[0][i].size});
  }
  return groups;
}

Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  rt::optim::sgd_step(ParseSgd(info, "sgdStep"));
  return info.Env().Undefined();
}

Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  rt::optim::adam_step(ParseAdam(info, "adamStep"));
  return info.Env().Undefined();
}

// An optional integer option in [lo, hi].
int IntOption(Napi::Object o, const char* key, int dflt, int lo, int hi, const std::string& ctx) {
  double x = rtb::NumberFieldOr(o, key, dflt, ctx);
  if (!(x >= lo && x <= hi) || x != static_cast<int>(x))
    throw rtb::RangeErr(o.Env(), ctx + "." + key + " must be an integer in [" + std::to_string(lo) + ", " +
                                     std::to_string(hi) + "]");
  return static_cast<int>(x);
}

Napi::Object OptionsArg(const Napi::CallbackInfo& info, size_t i, const std::string& ctx) {
  if (info.Length() <= i || info[i].IsUndefined()) return Napi::Object::New(info.Env());
  if (!info[i].IsObject() || info[i].IsArray()) throw rtb::TypeErr(info.Env(), ctx + " must be an object");
  return info[i].As<Napi::Object>();
}

// The CUDA device index an option names (default 0), after checking that it exists.
int CudaDevice(Napi::Object opts, const char* key, const std::string& ctx) {
  int device = IntOption(opts, key, 0, 0, 1023, ctx);
  if (!rt::cuda_built()) throw Napi::Error::New(opts.Env(), ctx + ": CUDA kernels not built");
  int n = rt::cuda_device_count();
  if (n == 0) throw Napi::Error::New(opts.Env(), ctx + ": no CUDA device: " + rt::cuda_device_summary(0));
  if (device >= n)
    throw rtb::RangeErr(opts.Env(), ctx + "." + key + " is " + std::to_string(device) + " but only " + std::to_string(n) +
                                        " CUDA device(s) exist");
  return device;
}

Napi::Value CudaStats(Napi::Env env, const rt::optim::CudaRunStats& s, int device) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("steps", s.steps);
  o.Set("medianMs", s.median_ms);
  o.Set("minMs", s.min_ms);
  o.Set("device", rt::cuda_device_summary(device));
  return o;
}

// Options are read before the groups: after the groups are bound to memory no JS may run.
Napi::Value CudaSgdSteps(const Napi::CallbackInfo& info) {
  Napi::Object opts = OptionsArg(info, 1, "cudaSgdSteps: options");
  int steps = IntOption(opts, "steps", 1, 1, 100000, "cudaSgdSteps: options");
  int device = CudaDevice(opts, "device", "cudaSgdSteps: options");
  auto groups = ParseSgd(info, "cudaSgdSteps");
  return CudaStats(info.Env(), rt::optim::cuda_sgd_steps(groups, steps, device), device);
}

Napi::Value CudaAdamSteps(const Napi::CallbackInfo& info) {
  Napi::Object opts = OptionsArg(info, 1, "cudaAdamSteps: options");
  int steps = IntOption(opts, "steps", 1, 1, 100000, "cudaAdamSteps: options");
  int device = CudaDevice(opts, "device", "cudaAdamSteps: options");
  auto groups = ParseAdam(info, "cudaAdamSteps");
  return CudaStats(info.Env(), rt::optim::cuda_adam_steps(groups, steps, device), device);
}

// Restores the pool size when a probe asked for a different one, even if the probe throws.
struct ThreadsScope {
  int saved = 0;
  explicit ThreadsScope(int threads) {
    if (threads > 0) saved = rt::num_threads(), rt::set_num_threads(threads);
  }
  ~ThreadsScope() {
    if (saved > 0) rt::set_num_threads(saved);
  }
};

Napi::Value MemoryBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string ctx = "memoryBandwidth: options";
  Napi::Object opts = OptionsArg(info, 0, ctx);
  double bytes = rtb::NumberFieldOr(opts, "arrayBytes", 64.0 * 1024 * 1024, ctx);
  if (!(bytes >= 4096 && bytes <= 16.0 * 1024 * 1024 * 1024) || bytes != static_cast<double>(static_cast<uint64_t>(bytes)))
    throw rtb::RangeErr(env, ctx + ".arrayBytes must be an integer in [4096, 16 GiB]");
  int repeats = IntOption(opts, "repeats", 10, 1, 1000, ctx);
  int threads = IntOption(opts, "threads", 0, 0, 256, ctx);
  bool nontemporal = rtb::BoolFieldOr(opts, "nonTemporal", true, ctx);
  Napi::Value dv = opts.Get("device");
  std::string device = dv.IsUndefined() ? "cpu" : rtb::StringField(opts, "device", ctx);
  Napi::Object o = Napi::Object::New(env);
  rt::BandwidthResult r;
  if (device == "cpu") {
    ThreadsScope scope(threads);
    r = rt::cpu_triad(static_cast<size_t>(bytes), repeats, nontemporal);
    o.Set("nonTemporal", nontemporal);
  } else if (device == "cuda") {
    int index = CudaDevice(opts, "cudaDevice", ctx);
    r = rt::cuda_triad(static_cast<size_t>(bytes), repeats, index);
    o.Set("deviceName", rt::cuda_device_summary(index));
  } else {
    throw rtb::RangeErr(env, ctx + ".device must be 'cpu' or 'cuda'");
  }
  o.Set("device", device);
  o.Set("gbs", r.best_gbs);
  o.Set("medianGBs", r.median_gbs);
  o.Set("arrayBytes", static_cast<double>(r.array_bytes));
  o.Set("repeats", r.repeats);
  o.Set("threads", r.threads);
  return o;
}

}  // namespace

void RegisterOptim(Napi::Env env, Napi::Object exports) {
  exports.Set("sgdStep", Napi::Function::New<rtb::Guarded<SgdStep>>(env, "sgdStep"));
  exports.Set("adamStep", Napi::Function::New<rtb::Guarded<AdamStep>>(env, "adamStep"));
  exports.Set("cudaSgdSteps", Napi::Function::New<rtb::Guarded<CudaSgdSteps>>(env, "cudaSgdSteps"));
  exports.Set("cudaAdamSteps", Napi::Function::New<rtb::Guarded<CudaAdamSteps>>(env, "cudaAdamSteps"));
  exports.Set("memoryBandwidth", Napi::Function::New<rtb::Guarded<MemoryBandwidth>>(env, "memoryBandwidth"));
}
