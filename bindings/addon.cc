// Entry point of the native addon: each op family adds its functions to the exports.
#include "common.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  RegisterInfo(env, exports);
  RegisterOptim(env, exports);
  RegisterAverage(env, exports);
  return exports;
}

NODE_API_MODULE(ratatouille, Init)
