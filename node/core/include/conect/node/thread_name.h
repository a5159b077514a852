// Names the calling thread (15 characters at most, what Linux keeps), so
// that `top -H`, `perf` and /proc/PID/task/*/comm tell the node's threads
// apart: bench/e2e_bench.py charges a catch-up's CPU to each by name.
#pragma once

#include <pthread.h>

namespace conect::node {

inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace conect::node
