// Build and machine facts (`ratatouille info`) and process-wide kernel settings.
#include "common.h"
#include "common/cpu.h"
#include "common/device.h"
#include "common/parallel.h"

namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("cpuLevel", rt::cpu_level_name(rt::cpu_level()));
  o.Set("cpuLevelSupported", rt::cpu_level_name(rt::cpu_level_supported()));
  o.Set("threads", rt::num_threads());
  o.Set("cudaBuilt", rt::cuda_built());
  int n = rt::cuda_device_count();
  o.Set("cudaDevices", n);
  Napi::Array names = Napi::Array::New(env);
  for (int i = 0; i < n; ++i) names.Set(static_cast<uint32_t>(i), rt::cuda_device_summary(i));
  o.Set("cudaDeviceNames", names);
  o.Set("cudaStatus", rt::cuda_device_summary(0));
  o.Set("cudaPeakBandwidthGBs", n > 0 ? rt::cuda_peak_bandwidth_gbs(0) : 0.0);
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  rtb::ExpectArgs(info, 1, "setThreads");
  if (!info[0].IsNumber()) throw rtb::TypeErr(info.Env(), "setThreads: n must be a number");
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 0 && n <= 256) || n != static_cast<int>(n))
    throw rtb::RangeErr(info.Env(), "setThreads: n must be an integer in [0, 256]");
  return Napi::Number::New(info.Env(), rt::set_num_threads(static_cast<int>(n)));
}

Napi::Value SetCpuLevel(const Napi::CallbackInfo& info) {
  rtb::ExpectArgs(info, 1, "setCpuLevel");
  if (!info[0].IsString()) throw rtb::TypeErr(info.Env(), "setCpuLevel: level must be a string");
  std::string s = info[0].As<Napi::String>().Utf8Value();
  rt::CpuLevel cap;
  if (s == "scalar") cap = rt::CpuLevel::Scalar;
  else if (s == "avx2") cap = rt::CpuLevel::AVX2;
  else if (s == "avx512") cap = rt::CpuLevel::AVX512;
  else throw rtb::RangeErr(info.Env(), "setCpuLevel: level must be scalar, avx2 or avx512");
  return Napi::String::New(info.Env(), rt::cpu_level_name(rt::set_cpu_level_cap(cap)));
}

}  // namespace

void RegisterInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New<rtb::Guarded<Info>>(env, "info"));
  exports.Set("setThreads", Napi::Function::New<rtb::Guarded<SetThreads>>(env, "setThreads"));
  exports.Set("setCpuLevel", Napi::Function::New<rtb::Guarded<SetCpuLevel>>(env, "setCpuLevel"));
}
