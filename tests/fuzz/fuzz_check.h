// A property a fuzz target checks: a broken one traps, so libFuzzer (and the
// corpus replay in CI) reports the input that broke it.
#pragma once

#include <cstdlib>

#define FUZZ_CHECK(cond)       \
  do {                         \
    if (!(cond)) std::abort(); \
  } while (0)
