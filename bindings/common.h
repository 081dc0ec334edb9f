// Shared guards for the N-API boundary: every exported function validates its arguments,
// throws TypeError/RangeError naming the argument, and never lets a C++ exception escape.
#pragma once

#include <napi.h>

#include <cstdint>
#include <exception>
#include <string>
#include <utility>

namespace rtb {

// Wraps an exported function so any C++ exception becomes a JS Error instead of a crash.
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  try {
    return Fn(info);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    Napi::Error::New(info.Env(), e.what()).ThrowAsJavaScriptException();
  } catch (...) {
    Napi::Error::New(info.Env(), "native error").ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

inline Napi::TypeError TypeErr(Napi::Env env, const std::string& msg) {
  return Napi::TypeError::New(env, msg);
}
inline Napi::RangeError RangeErr(Napi::Env env, const std::string& msg) {
  return Napi::RangeError::New(env, msg);
}

inline void ExpectArgs(const Napi::CallbackInfo& info, size_t n, const char* fn) {
  if (info.Length() < n)
    throw TypeErr(info.Env(), std::string(fn) + ": expected " + std::to_string(n) + " arguments, got " +
                                  std::to_string(info.Length()));
}

inline Napi::Object ObjectArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsObject() || info[i].IsArray()) throw TypeErr(info.Env(), std::string(name) + " must be an object");
  return info[i].As<Napi::Object>();
}

inline Napi::Array ArrayArg(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsArray()) throw TypeErr(env, name + " must be an array");
  return v.As<Napi::Array>();
}

inline double NumberField(Napi::Object o, const char* key, const std::string& ctx) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw TypeErr(o.Env(), ctx + "." + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

inline double NumberFieldOr(Napi::Object o, const char* key, double dflt, const std::string& ctx) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsNumber()) throw TypeErr(o.Env(), ctx + "." + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

inline bool BoolFieldOr(Napi::Object o, const char* key, bool dflt, const std::string& ctx) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsBoolean()) throw TypeErr(o.Env(), ctx + "." + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

inline std::string StringField(Napi::Object o, const char* key, const std::string& ctx) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw TypeErr(o.Env(), ctx + "." + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

// A Float32Array argument: pointer and element count (the view, not the whole buffer).
struct F32View {
  float* data;
  size_t size;
};

inline F32View Float32(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw TypeErr(env, name + " must be a Float32Array");
  auto a = v.As<Napi::Float32Array>();
  return {a.Data(), a.ElementLength()};
}

// Any typed array or Buffer as raw bytes.
struct ByteView {
  uint8_t* data;
  size_t size;
};

// Read through the view itself, not TypedArray::ArrayBuffer(): that rejects SharedArrayBuffer-backed
// arrays, which the training replicas sum their gradients from.
inline ByteView Bytes(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsTypedArray()) throw TypeErr(env, name + " must be a typed array or Buffer");
  auto a = v.As<Napi::TypedArray>();
  void* data = nullptr;
  if (napi_get_typedarray_info(env, a, nullptr, nullptr, &data, nullptr, nullptr) != napi_ok)
    throw TypeErr(env, name + ": cannot read the array");
  return {static_cast<uint8_t*>(data), a.ByteLength()};
}

}  // namespace rtb

// Each op family registers its functions here; addon.cc calls them all.
void RegisterInfo(Napi::Env env, Napi::Object exports);
void RegisterOptim(Napi::Env env, Napi::Object exports);
void RegisterAverage(Napi::Env env, Napi::Object exports);
