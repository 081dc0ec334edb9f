// Placeholder registration; the average family fills this file.
#include "common.h"

void RegisterAverage(Napi::Env, Napi::Object) {}
