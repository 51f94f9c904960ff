// Minimal assertion helpers for the C++ tests: count failures, print where, exit non-zero.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace aio_test {
inline int& failures() {
  static int n = 0;
  return n;
}
inline int finish(const char* name) {
  if (failures()) {
    std::printf("%s: %d check(s) failed\n", name, failures());
    return 1;
  }
  std::printf("%s: all checks passed\n", name);
  return 0;
}
}  // namespace aio_test

#define AIO_CHECK(cond)                                                      \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::printf("%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
      ++aio_test::failures();                                                \
    }                                                                        \
  } while (0)

#define AIO_CHECK_NEAR(a, b, tol)                                                          \
  do {                                                                                     \
    double _a = (a), _b = (b);                                                             \
    if (!(std::fabs(_a - _b) <= (tol))) {                                                  \
      std::printf("%s:%d: %s = %g vs %s = %g (tol %g)\n", __FILE__, __LINE__, #a, _a, #b, \
                  _b, (double)(tol));                                                      \
      ++aio_test::failures();                                                              \
    }                                                                                      \
  } while (0)
