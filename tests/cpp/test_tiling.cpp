// Work splits of the operators: split_strips' runs of whole strips, and plan_tiles' tiles, which
// must cover every output element exactly once for any shape and worker count.
#include <cstdio>
#include <vector>

#include "check.h"
#include "ops/op.h"

namespace {

void check_split(size_t cols, size_t align, size_t parts, size_t width, size_t runs) {
  const aio::StripSplit s = aio::split_strips(cols, align, parts);
  if (s.width != width || s.runs != runs)
    std::printf("split_strips(%zu, %zu, %zu) = {%zu, %zu}, expected {%zu, %zu}\n", cols, align,
                parts, s.width, s.runs, width, runs);
  AIO_CHECK(s.width == width && s.runs == runs);
}

void split_strips_examples() {
  check_split(196, 32, 2, 96, 2);   // 6 strips and 4 columns: 96 + 100, not 128 + 68
  check_split(784, 32, 2, 384, 2);  // 24.5 strips: 384 + 400
  check_split(94, 32, 2, 64, 2);    // a partial strip of 30 columns counts as a strip
  check_split(49, 32, 2, 32, 2);    // 32 + 17
  check_split(40, 32, 2, 40, 1);    // one strip and a quarter: not worth a second run
  check_split(196, 32, 1, 196, 1);  // one part
  check_split(196, 32, 4, 64, 3);   // 6 strips over 4 parts: 2 + 2 + 2 (and the 4 columns)
  check_split(5, 1, 2, 3, 2);       // strips of one column
  check_split(0, 32, 2, 0, 1);
}

// Every run but the last is `width` wide and starts inside the columns.
void split_strips_covers() {
  for (size_t align : {1, 8, 16, 32})
    for (size_t parts = 1; parts <= 5; ++parts)
      for (size_t cols = 0; cols <= 300; ++cols) {
        const aio::StripSplit s = aio::split_strips(cols, align, parts);
        AIO_CHECK(s.runs >= 1 && s.runs <= parts);
        AIO_CHECK(s.runs == 1 || s.width % align == 0);
        AIO_CHECK((s.runs - 1) * s.width < cols || s.runs == 1);
        if (s.runs == 1) AIO_CHECK(s.width == cols);
      }
}

void plan_tiles_cover_once() {
  const uint64_t big = uint64_t(1) << 40;  // never serial
  for (size_t workers = 1; workers <= 4; ++workers)
    for (size_t rows : {1, 11, 12, 13, 24, 64, 100, 384})
      for (size_t cols : {1, 16, 31, 32, 49, 64, 96, 100, 196, 256, 784})
        for (bool rows_free : {false, true}) {
          const aio::Tiling t = aio::plan_tiles(rows, cols, workers, big, rows_free);
          AIO_CHECK(t.count() >= 1);
          std::vector<int> hits(rows * cols, 0);
          for (size_t task = 0; task < t.count(); ++task) {
            const aio::Tiling::Range r = t.range(task);
            AIO_CHECK(r.m0 <= r.m1 && r.m1 <= rows && r.n0 <= r.n1 && r.n1 <= cols);
            for (size_t m = r.m0; m < r.m1; ++m)
              for (size_t n = r.n0; n < r.n1; ++n) ++hits[m * cols + n];
          }
          size_t bad = 0;
          for (int h : hits) bad += h != 1;
          if (bad)
            std::printf("plan_tiles(%zu, %zu, %zu workers, rows_free %d): %zu elements not hit "
                        "exactly once\n", rows, cols, workers, int(rows_free), bad);
          AIO_CHECK(bad == 0);
        }
}

}  // namespace

int main() {
  split_strips_examples();
  split_strips_covers();
  plan_tiles_cover_once();
  return aio_test::finish("test_tiling");
}
