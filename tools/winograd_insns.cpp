// Instructions of the Winograd transforms alone, per layer, for the aarch64 instruction counts
// (docs/benchmarks.md, step 20): the input and output transforms of every tile of a C = M layer
// (3x3, pad 1, map x map), `reps` times, through the chosen ISA's kernel table (NEON on
// aarch64). No GEMM: the count isolates what the transforms cost beside the products.
//
//   aarch64-linux-gnu-g++ -std=c++17 -O2 -Icsrc -DAIO_AARCH64=1 tools/winograd_insns.cpp
//       build/aarch64/lib/csrc/liballinone_core.a -lpthread -o build/aarch64/winograd_insns
//   (one command; build/aarch64/lib is what tools/aarch64_check.sh builds)
//   Q="qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu cortex-a72 -plugin ./insn_count.so"
//   $Q build/aarch64/winograd_insns 4 56 64 1; $Q build/aarch64/winograd_insns 4 56 64 2
//   # per layer: the difference of the two counts (tile 4, 56 x 56, 64 channels)
//
// Arguments: tile (2 or 4), map, channels, reps[, mode: 1 input only, 2 output only, 3 both].
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/kernels_internal.h"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s tile map channels reps [mode]\n", argv[0]);
    return 2;
  }
  const size_t tile = std::strtoul(argv[1], nullptr, 10);
  const size_t map = std::strtoul(argv[2], nullptr, 10), ch = std::strtoul(argv[3], nullptr, 10);
  const long reps = std::atol(argv[4]), mode = argc > 5 ? std::atol(argv[5]) : 3;
  if (!aio::winograd_tile_supported(tile)) return 2;
  const aio::detail::KernelTable& kt = aio::detail::table();
  const aio::detail::WinogradFns& f = kt.winograd[aio::detail::winograd_index(tile)];
  aio::ConvGeom g;
  g.c_in = ch;
  g.h_in = g.w_in = g.h_out = g.w_out = map;
  g.kh = g.kw = 3;
  g.ph = g.pw = 1;
  const size_t tw = (map + tile - 1) / tile, nr = kt.gemm_nr, stride = nr + 16;
  // Transforms that want a zero-bordered input (f.padded_input) read the driver's padded copy.
  aio::ConvGeom gi = g;
  if (f.padded_input) {
    gi.h_in = tw * tile + 2;
    gi.w_in = tile * (tw + f.lanes) + 2;
    gi.ph = gi.pw = 0;
  }
  const size_t plane_in = gi.h_in * gi.w_in;
  std::vector<float> x(ch * plane_in, 0.5f), y(ch * map * map);
  std::vector<float> v((tile + 2) * (tile + 2) * stride, 0.f);
  for (long r = 0; r < reps; ++r)
    for (size_t c = 0; c < ch; ++c)  // channel c's input transform, output channel c's output one
      for (size_t ty = 0; ty < tw; ++ty)
        for (size_t tx = 0; tx < tw; tx += nr) {
          const size_t n = std::min(nr, tw - tx);
          if (mode & 1) f.input(x.data() + c * plane_in, gi, ty, tx, n, v.data(), stride);
          float* rows[aio::detail::kMaxWinogradTile] = {};
          for (size_t i = 0; i < tile && ty * tile + i < map; ++i)
            rows[i] = y.data() + (c * map + ty * tile + i) * map;
          if (mode & 2)
            f.output(v.data(), stride, n, 1.f, 0.f, nullptr, rows,
                     std::min(tile * n, map - tile * tx), aio::Act::Relu);
        }
  std::printf("%s F(%zux%zu) %zu x %zu x %zu: y[0] = %g\n", kt.isa, tile, tile, map, map, ch, y[0]);
  return 0;
}
