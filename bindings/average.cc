// N-API glue of the weight-average family: `average(job)` (streaming engine, async, progress via a
// thread-safe function), `averageKernel(...)` (the raw CPU kernels, for tests) and
// `readBandwidth(paths, chunkBytes)` (the engine's read pattern without arithmetic, for benches).
// The whole job is checked here, on the JS thread, before any native work is queued.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "average/job.h"
#include "average/kernels.h"
#include "common.h"
#include "common/cpu.h"

namespace {

namespace avg = rt::average;
using rt::DType;

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

// A non-negative integer that fits a JS safe integer (byte offsets, element counts).
uint64_t Index(Napi::Env env, Napi::Value v, const std::string& name, double max = kMaxSafeInteger) {
  if (!v.IsNumber()) throw rtb::TypeErr(env, name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= max) || d != std::floor(d))
    throw rtb::RangeErr(env, name + " must be an integer in [0, " + std::to_string(static_cast<uint64_t>(max)) + "]");
  return static_cast<uint64_t>(d);
}

DType ParseDType(Napi::Env env, Napi::Value v, const std::string& name, bool output) {
  if (!v.IsString()) throw rtb::TypeErr(env, name + " must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  const int count = output ? 3 : rt::kDTypeCount;  // F64 is an input dtype only
  for (int k = 0; k < count; ++k)
    if (s == rt::kDTypeName[k]) return static_cast<DType>(k);
  throw rtb::RangeErr(env, name + " must be one of " + (output ? "F32, F16, BF16" : "F32, F16, BF16, F64") +
                               ", got " + Quoted(s));
}

std::vector<std::string> Strings(Napi::Env env, Napi::Value v, const std::string& name) {
  Napi::Array a = rtb::ArrayArg(env, v, name);
  std::vector<std::string> out;
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value s = a.Get(k);
    if (!s.IsString()) throw rtb::TypeErr(env, name + "[" + std::to_string(k) + "] must be a string");
    out.push_back(s.As<Napi::String>().Utf8Value());
  }
  return out;
}

std::vector<float> Weights(Napi::Env env, Napi::Value v, const std::string& name) {
  Napi::Array a = rtb::ArrayArg(env, v, name);
  if (a.Length() == 0) throw rtb::RangeErr(env, name + " must name at least one input");
  std::vector<float> w;
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value x = a.Get(k);
    const std::string at = name + "[" + std::to_string(k) + "]";
    if (!x.IsNumber()) throw rtb::TypeErr(env, at + " must be a number");
    double d = x.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || std::fabs(d) > 3.4e38) throw rtb::RangeErr(env, at + " must be a finite fp32 number");
    w.push_back(static_cast<float>(d));
  }
  return w;
}

const char* ErrorCode(avg::AverageError::Kind k) {
  switch (k) {
    case avg::AverageError::Kind::Range: return "ERR_AVERAGE_RANGE";
    case avg::AverageError::Kind::Io: return "ERR_AVERAGE_IO";
    case avg::AverageError::Kind::Nonfinite: return "ERR_AVERAGE_NONFINITE";
    case avg::AverageError::Kind::Overflow: return "ERR_AVERAGE_OVERFLOW";
    default: return "ERR_AVERAGE_DEVICE";
  }
}

struct ProgressTick {
  double done, total;
};

// A job checked and converted on the JS thread, with the JS objects it borrows.
struct ParsedJob {
  avg::Job job;
  std::vector<Napi::ObjectReference> keep_alive;  // in-memory sources, released on the JS thread
  Napi::FunctionReference on_progress;
};

// Created only once the job parsed: an AsyncProgressWorker must be queued, never deleted by hand
// (its thread-safe function's finalizer still refers to it).
class AverageWorker : public Napi::AsyncProgressWorker<ProgressTick> {
 public:
  AverageWorker(Napi::Env env, Napi::Promise::Deferred deferred, ParsedJob parsed)
      : Napi::AsyncProgressWorker<ProgressTick>(env, "ratatouille.average"),
        job(std::move(parsed.job)),
        keep_alive(std::move(parsed.keep_alive)),
        on_progress(std::move(parsed.on_progress)),
        deferred_(deferred) {}

  const avg::Job job;
  std::vector<Napi::ObjectReference> keep_alive;
  Napi::FunctionReference on_progress;

 protected:
  void Execute(const ExecutionProgress& progress) override {
    avg::ProgressFn report;
    if (!on_progress.IsEmpty())
      report = [&progress](uint64_t done, uint64_t total) {
        ProgressTick t{static_cast<double>(done), static_cast<double>(total)};
        progress.Send(&t, 1);
      };
    try {
      outcome_ = avg::run_average(job, report);
    } catch (const avg::AverageError& e) {
      error_ = std::make_unique<avg::AverageError>(e);
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      SetError("average: out of memory");
    } catch (const std::exception& e) {
      SetError(std::string("average: ") + e.what());
    } catch (...) {
      SetError("average: unknown native error");
    }
  }

  void OnProgress(const ProgressTick* t, size_t count) override {
    if (count == 0 || on_progress.IsEmpty() || callback_error_) return;
    Napi::Env env = Env();
    try {
      on_progress.Call({Napi::Number::New(env, t->done), Napi::Number::New(env, t->total)});
    } catch (const Napi::Error& e) {
      // A throwing progress callback fails the job once it settles (the engine cannot be interrupted).
      callback_error_ = std::make_unique<Napi::ObjectReference>(Napi::Persistent(e.Value()));
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (callback_error_) return deferred_.Reject(callback_error_->Value());
    Napi::Object r = Napi::Object::New(env);
    r.Set("bytesRead", static_cast<double>(outcome_.bytes_read));
    r.Set("bytesWritten", static_cast<double>(outcome_.bytes_written));
    r.Set("seconds", outcome_.seconds);
    r.Set("device", job.device == avg::Device::Cuda ? "cuda" : "cpu");
    r.Set("threads", outcome_.threads);
    r.Set("chunkBytes", static_cast<double>(outcome_.chunk_elems * sizeof(float)));
    if (outcome_.nonfinite_input >= 0) {
      Napi::Object nf = Napi::Object::New(env);
      nf.Set("input", outcome_.nonfinite_input);
      nf.Set("tensor", outcome_.nonfinite_tensor);
      r.Set("nonfinite", nf);
    }
    if (!outcome_.overflow_tensor.empty()) {
      Napi::Object of = Napi::Object::New(env);
      of.Set("tensor", outcome_.overflow_tensor);
      r.Set("overflow", of);
    }
    deferred_.Resolve(r);
  }

  void OnError(const Napi::Error& e) override {
    Napi::Env env = Env();
    if (!error_) return deferred_.Reject(e.Value());
    Napi::Error err = error_->kind == avg::AverageError::Kind::Range
                          ? static_cast<Napi::Error>(Napi::RangeError::New(env, error_->what()))
                          : Napi::Error::New(env, error_->what());
    err.Set("code", ErrorCode(error_->kind));
    if (error_->input >= 0) err.Set("input", static_cast<double>(error_->input));
    if (!error_->tensor.empty()) err.Set("tensor", error_->tensor);
    if (!error_->path.empty()) err.Set("path", error_->path);
    deferred_.Reject(err.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  avg::Outcome outcome_;
  std::unique_ptr<avg::AverageError> error_;
  std::unique_ptr<Napi::ObjectReference> callback_error_;
};

void ParseSources(Napi::Env env, Napi::Value v, const std::string& ctx, const avg::Tensor& tensor, ParsedJob& w) {
  avg::Job& job = w.job;
  Napi::Array arr = rtb::ArrayArg(env, v, ctx + ".sources");
  if (arr.Length() != job.n())
    throw rtb::RangeErr(env, ctx + ".sources has " + std::to_string(arr.Length()) + " entries, expected one per weight (" +
                                 std::to_string(job.n()) + ")");
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    const std::string at = ctx + ".sources[" + std::to_string(i) + "] (input " + std::to_string(i) + ")";
    Napi::Value sv = arr.Get(i);
    if (!sv.IsObject() || sv.IsArray()) throw rtb::TypeErr(env, at + " must be an object");
    Napi::Object so = sv.As<Napi::Object>();
    avg::Source src;
    src.dtype = ParseDType(env, so.Get("dtype"), at + ".dtype", false);
    const uint64_t need = tensor.numel * rt::kDTypeSize[static_cast<int>(src.dtype)];
    const bool has_bytes = !so.Get("bytes").IsUndefined(), has_path = !so.Get("path").IsUndefined();
    if (has_bytes == has_path) throw rtb::TypeErr(env, at + " must have exactly one of bytes and path");
    const uint64_t offset = so.Get("offset").IsUndefined() ? 0 : Index(env, so.Get("offset"), at + ".offset");
    if (has_path) {
      src.path = static_cast<int>(Index(env, so.Get("path"), at + ".path"));
      if (static_cast<size_t>(src.path) >= job.inputs.size())
        throw rtb::RangeErr(env, at + ".path " + std::to_string(src.path) + " is not an index into inputs (" +
                                     std::to_string(job.inputs.size()) + " files)");
      if (offset + need > static_cast<uint64_t>(kMaxSafeInteger))
        throw rtb::RangeErr(env, at + ": offset + byte length exceeds 2^53");
      src.offset = offset;
    } else {
      rtb::ByteView b = rtb::Bytes(env, so.Get("bytes"), at + ".bytes");
      if (offset > b.size || b.size - offset < need)
        throw rtb::RangeErr(env, at + ".bytes holds " + std::to_string(b.size) + " bytes, tensor " + Quoted(tensor.name) +
                                     " needs " + std::to_string(need) + " from offset " + std::to_string(offset));
      src.bytes = b.data + offset;
      w.keep_alive.push_back(Napi::Persistent(so.Get("bytes").As<Napi::Object>()));
    }
    job.sources.push_back(src);
  }
}

void ParseJob(Napi::Env env, Napi::Object o, ParsedJob& w) {
  avg::Job& job = w.job;
  job.inputs = Strings(env, o.Get("inputs"), "job.inputs");
  job.outputs = Strings(env, o.Get("outputs"), "job.outputs");
  job.weights = Weights(env, o.Get("weights"), "job.weights");
  job.out_dtype = ParseDType(env, o.Get("outDtype"), "job.outDtype", true);

  Napi::Value dev = o.Get("device");
  if (!dev.IsUndefined()) {
    if (!dev.IsString()) throw rtb::TypeErr(env, "job.device must be a string");
    std::string d = dev.As<Napi::String>().Utf8Value();
    if (d == "cuda") job.device = avg::Device::Cuda;
    else if (d != "cpu") throw rtb::RangeErr(env, "job.device must be \"cpu\" or \"cuda\", got " + Quoted(d));
  }
  if (!o.Get("threads").IsUndefined()) {
    job.threads = static_cast<int>(Index(env, o.Get("threads"), "job.threads", 256));
    if (job.threads == 0) throw rtb::RangeErr(env, "job.threads must be an integer in [1, 256]");
  }
  if (!o.Get("readers").IsUndefined()) {
    job.readers = static_cast<int>(Index(env, o.Get("readers"), "job.readers", 16));
    if (job.readers == 0) throw rtb::RangeErr(env, "job.readers must be an integer in [1, 16]");
  }
  if (!o.Get("chunkBytes").IsUndefined()) {
    uint64_t b = Index(env, o.Get("chunkBytes"), "job.chunkBytes", double(1u << 30));
    if (b < 64) throw rtb::RangeErr(env, "job.chunkBytes must be at least 64");
    job.chunk_elems = static_cast<size_t>(b / 64 * 16);  // whole cache lines of fp32
  }
  job.allow_nonfinite = rtb::BoolFieldOr(o, "allowNonfinite", false, "job");
  Napi::Value cb = o.Get("onProgress");
  if (!cb.IsUndefined()) {
    if (!cb.IsFunction()) throw rtb::TypeErr(env, "job.onProgress must be a function");
    w.on_progress = Napi::Persistent(cb.As<Napi::Function>());
  }

  Napi::Array tensors = rtb::ArrayArg(env, o.Get("tensors"), "job.tensors");
  job.tensors.reserve(tensors.Length());
  job.sources.reserve(static_cast<size_t>(tensors.Length()) * job.n());
  for (uint32_t t = 0; t < tensors.Length(); ++t) {
    std::string ctx = "job.tensors[" + std::to_string(t) + "]";
    Napi::Value tv = tensors.Get(t);
    if (!tv.IsObject() || tv.IsArray()) throw rtb::TypeErr(env, ctx + " must be an object");
    Napi::Object to = tv.As<Napi::Object>();
    avg::Tensor tensor;
    tensor.name = rtb::StringField(to, "name", ctx);
    ctx += " (" + Quoted(tensor.name) + ")";
    tensor.numel = Index(env, to.Get("numel"), ctx + ".numel");
    tensor.out_offset = Index(env, to.Get("outOffset"), ctx + ".outOffset");
    if (!to.Get("outFile").IsUndefined()) tensor.out_file = static_cast<int>(Index(env, to.Get("outFile"), ctx + ".outFile"));
    if (tensor.numel > 0 && static_cast<size_t>(tensor.out_file) >= job.outputs.size())
      throw rtb::RangeErr(env, ctx + ".outFile " + std::to_string(tensor.out_file) + " is not an index into outputs (" +
                                   std::to_string(job.outputs.size()) + " files)");
    ParseSources(env, to.Get("sources"), ctx, tensor, w);
    job.tensors.push_back(std::move(tensor));
  }
}

Napi::Value Average(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto deferred = Napi::Promise::Deferred::New(env);
  ParsedJob parsed;
  try {
    rtb::ExpectArgs(info, 1, "average");
    ParseJob(env, rtb::ObjectArg(info, 0, "average: job"), parsed);
  } catch (const Napi::Error& e) {
    deferred.Reject(e.Value());
    return deferred.Promise();
  }
  (new AverageWorker(env, deferred, std::move(parsed)))->Queue();
  return deferred.Promise();
}

class ReadBandwidthWorker : public Napi::AsyncWorker {
 public:
  ReadBandwidthWorker(Napi::Env env, std::vector<std::string> paths, size_t chunk)
      : Napi::AsyncWorker(env, "ratatouille.readBandwidth"), deferred_(Napi::Promise::Deferred::New(env)),
        paths_(std::move(paths)), chunk_(chunk) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      result_ = avg::read_bandwidth(paths_, chunk_);
    } catch (const std::exception& e) {
      SetError(std::string("readBandwidth: ") + e.what());
    }
  }
  void OnOK() override {
    Napi::Object r = Napi::Object::New(Env());
    r.Set("bytes", static_cast<double>(result_.bytes));
    r.Set("seconds", result_.seconds);
    deferred_.Resolve(r);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<std::string> paths_;
  size_t chunk_;
  avg::ReadBandwidth result_;
};

Napi::Value ReadBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rtb::ExpectArgs(info, 2, "readBandwidth");
  auto paths = Strings(env, info[0], "readBandwidth: paths");
  uint64_t chunk = Index(env, info[1], "readBandwidth: chunkBytes", double(1u << 30));
  if (chunk == 0) throw rtb::RangeErr(env, "readBandwidth: chunkBytes must be at least 1");
  auto* w = new ReadBandwidthWorker(env, std::move(paths), static_cast<size_t>(chunk));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// averageKernel(inputs, dtypes, weights, outDtype, level?): the whole arrays through one CPU kernel
// level, single-threaded, no chunking. The engine must reproduce these bits.
Napi::Value AverageKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rtb::ExpectArgs(info, 4, "averageKernel");
  Napi::Array arrays = rtb::ArrayArg(env, info[0], "averageKernel: inputs");
  Napi::Array dtypes = rtb::ArrayArg(env, info[1], "averageKernel: dtypes");
  std::vector<float> weights = Weights(env, info[2], "averageKernel: weights");
  DType out = ParseDType(env, info[3], "averageKernel: outDtype", true);
  if (arrays.Length() != weights.size() || dtypes.Length() != weights.size())
    throw rtb::RangeErr(env, "averageKernel: inputs, dtypes and weights must have the same length");
  rt::CpuLevel level = rt::cpu_level();
  if (info.Length() > 4 && !info[4].IsUndefined()) {
    if (!info[4].IsString()) throw rtb::TypeErr(env, "averageKernel: level must be a string");
    std::string s = info[4].As<Napi::String>().Utf8Value();
    if (s == "scalar") level = rt::CpuLevel::Scalar;
    else if (s == "avx2") level = rt::CpuLevel::AVX2;
    else if (s == "avx512") level = rt::CpuLevel::AVX512;
    else throw rtb::RangeErr(env, "averageKernel: level must be scalar, avx2 or avx512");
    if (level > rt::cpu_level_supported())
      throw rtb::RangeErr(env, "averageKernel: this CPU does not support " + s);
  }
  std::vector<rtb::ByteView> views;
  std::vector<DType> types;
  size_t n = 0;
  for (uint32_t i = 0; i < arrays.Length(); ++i) {
    const std::string at = "averageKernel: inputs[" + std::to_string(i) + "]";
    views.push_back(rtb::Bytes(env, arrays.Get(i), at));
    types.push_back(ParseDType(env, dtypes.Get(i), "averageKernel: dtypes[" + std::to_string(i) + "]", false));
    const size_t es = rt::kDTypeSize[static_cast<int>(types.back())];
    if (i == 0) n = views[0].size / es;
    if (views[i].size != n * es)
      throw rtb::RangeErr(env, at + " holds " + std::to_string(views[i].size) + " bytes, expected " +
                                   std::to_string(n) + " values of " + rt::kDTypeName[static_cast<int>(types[i])]);
  }
  std::vector<float> acc(n);
  int bad_input = -1;
  const avg::AccumulateFn accumulate = avg::accumulate_for(level);
  for (size_t i = 0; i < views.size(); ++i)
    if (accumulate(acc.data(), views[i].data, types[i], n, weights[i], i == 0) && bad_input < 0)
      bad_input = static_cast<int>(i);
  auto result = Napi::Uint8Array::New(env, n * rt::kDTypeSize[static_cast<int>(out)]);
  bool overflow = avg::convert_for(level)(acc.data(), result.Data(), out, n);
  Napi::Object r = Napi::Object::New(env);
  r.Set("out", result);
  r.Set("nonfinite", bad_input);
  r.Set("outNonfinite", overflow);
  r.Set("level", rt::cpu_level_name(level));
  return r;
}

}  // namespace

void RegisterAverage(Napi::Env env, Napi::Object exports) {
  exports.Set("average", Napi::Function::New<rtb::Guarded<Average>>(env, "average"));
  exports.Set("averageKernel", Napi::Function::New<rtb::Guarded<AverageKernel>>(env, "averageKernel"));
  exports.Set("readBandwidth", Napi::Function::New<rtb::Guarded<ReadBandwidth>>(env, "readBandwidth"));
}
