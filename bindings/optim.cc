// Placeholder registration; the optim family fills this file.
#include "common.h"

void RegisterOptim(Napi::Env, Napi::Object) {}
