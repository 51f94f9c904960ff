// GEMM and dispatch tests: every ISA on this machine against a double-precision reference, at
// shapes straddling the 12-row panels, 8/16/32-column strips and the K/N/M cache blocks, with
// level-style prefixes of one packed matrix, sub-ranges, every activation, residual on and off.
// Tolerance: |got - ref| <= 1e-5 * max|ref| over the output (aio_test::kRelTol).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "test_kernels_util.h"

namespace {

using aio_test::kRelTol;

struct Case {
  size_t M, N, K;          // level sizes (a prefix of the packed matrix)
  size_t m0, m1, n0, n1;   // output sub-range
  aio::Act act;
  bool scale, bias, residual;
};

// The full "model" weight is packed once; cases read prefixes with its full panel stride.
struct Model {
  size_t M, K, lda;
  std::vector<float> a;
  aio::PackedA packed;
};

int g_cases = 0;

void run_case(const Model& mdl, const Case& cs, const char* isa) {
  const size_t ldb = cs.N + 3, ldc = cs.N + 5;
  const auto b = aio_test::random_vec(cs.K * ldb, 11 + static_cast<uint32_t>(cs.K * 7 + cs.N));
  const auto scale = aio_test::random_vec(mdl.M, 5, 0.5f, 1.5f);
  const auto bias = aio_test::random_vec(mdl.M, 6);
  const auto res = aio_test::random_vec(cs.M * ldc, 7);
  const float sentinel = 12345.f;
  std::vector<float> c(cs.M * ldc, sentinel);

  aio::Epilogue epi;
  epi.scale = cs.scale ? scale.data() : nullptr;
  epi.bias = cs.bias ? bias.data() : nullptr;
  epi.residual = cs.residual ? res.data() : nullptr;
  epi.act = cs.act;
  aio::gemm(mdl.packed, cs.K, b.data(), ldb, c.data(), ldc, cs.m0, cs.m1, cs.n0, cs.n1, epi);

  std::vector<double> ref(cs.M * ldc, 0.0);
  double maxref = 0;
  for (size_t m = cs.m0; m < cs.m1; ++m)
    for (size_t n = cs.n0; n < cs.n1; ++n) {
      double acc = 0;
      for (size_t k = 0; k < cs.K; ++k)
        acc += static_cast<double>(mdl.a[m * mdl.lda + k]) * b[k * ldb + n];
      if (cs.scale) acc *= scale[m];
      if (cs.bias) acc += bias[m];
      if (cs.residual) acc += res[m * ldc + n];
      ref[m * ldc + n] = aio_test::act_ref(acc, cs.act);
      maxref = std::fmax(maxref, std::fabs(ref[m * ldc + n]));
    }
  const double tol = kRelTol * std::fmax(maxref, 1e-6);
  int bad = 0;
  for (size_t m = 0; m < cs.M && bad < 3; ++m)
    for (size_t n = 0; n < ldc && bad < 3; ++n) {
      const bool inside = m >= cs.m0 && m < cs.m1 && n >= cs.n0 && n < cs.n1;
      const double got = c[m * ldc + n];
      const bool ok = inside ? std::fabs(got - ref[m * ldc + n]) <= tol : got == sentinel;
      if (!ok) {
        ++bad;
        std::printf("gemm[%s] M=%zu N=%zu K=%zu rows[%zu,%zu) cols[%zu,%zu) act=%u res=%d: "
                    "C[%zu][%zu]=%g ref=%g (%s, tol %g)\n",
                    isa, cs.M, cs.N, cs.K, cs.m0, cs.m1, cs.n0, cs.n1,
                    static_cast<unsigned>(cs.act), cs.residual, m, n, got,
                    inside ? ref[m * ldc + n] : sentinel, inside ? "inside" : "written outside",
                    tol);
      }
    }
  AIO_CHECK(bad == 0);
  ++g_cases;
}

Model make_model(size_t M, size_t K, uint32_t seed) {
  Model mdl{M, K, K + 7, {}, {}};
  mdl.a = aio_test::random_vec(M * mdl.lda, seed);
  mdl.packed = aio::PackedA::pack(mdl.a.data(), M, K, mdl.lda);
  return mdl;
}

void test_pack_layout() {
  const Model mdl = make_model(13, 5, 3);
  AIO_CHECK(mdl.packed.rows() == 13 && mdl.packed.cols() == 5);
  AIO_CHECK(mdl.packed.bytes() == 2 * 12 * 5 * sizeof(float));
  const float* p = mdl.packed.data();
  AIO_CHECK(p[0] == mdl.a[0]);                          // panel 0, k 0, row 0
  AIO_CHECK(p[1 * 12 + 4] == mdl.a[4 * mdl.lda + 1]);   // panel 0, k 1, row 4
  AIO_CHECK(p[60 + 2 * 12 + 0] == mdl.a[12 * mdl.lda + 2]);  // panel 1, k 2, row 12
  AIO_CHECK(p[60 + 2 * 12 + 1] == 0.f);                 // zero-padded row 13
  aio::PackedA moved = std::move(const_cast<Model&>(mdl).packed);
  AIO_CHECK(moved.data() == p);
}

void test_gemm_shapes(const char* isa) {
  const Model mdl = make_model(40, 310, 1);
  const size_t Ms[] = {1, 5, 12, 13, 24, 37};
  const size_t Ns[] = {1, 15, 31, 32, 33, 100};
  const size_t Ks[] = {1, 3, 17, 64, 300};
  size_t idx = 0;
  for (size_t M : Ms)
    for (size_t N : Ns)
      for (size_t K : Ks) {
        ++idx;
        const aio::Act act = aio_test::act_at(idx);
        // Full range, then a sub-range that starts inside a panel and inside a strip.
        run_case(mdl, {M, N, K, 0, M, 0, N, act, idx % 3 != 0, idx % 3 != 1, idx % 2 == 0}, isa);
        const size_t m0 = M / 3, m1 = M - M / 4, n0 = N / 4, n1 = N - N / 5;
        if (m0 < m1 && n0 < n1)
          run_case(mdl, {M, N, K, m0, m1, n0, n1, act, true, true, idx % 2 == 1}, isa);
      }
}

void test_gemm_epilogues(const char* isa) {
  const Model mdl = make_model(40, 310, 2);
  for (aio::Act act : aio_test::kActs)
    for (int res = 0; res < 2; ++res)
      for (int sb = 0; sb < 2; ++sb) {
        run_case(mdl, {37, 100, 300, 0, 37, 0, 100, act, sb == 1, sb == 1, res == 1}, isa);
        run_case(mdl, {13, 33, 17, 1, 13, 2, 33, act, sb == 0, true, res == 1}, isa);
        // One output column (the GEMV path) inside a wider C, mid-panel rows.
        run_case(mdl, {37, 15, 301, 5, 31, 7, 8, act, sb == 1, sb == 0, res == 1}, isa);
        run_case(mdl, {40, 1, 310, 0, 40, 0, 1, act, true, true, res == 1}, isa);
      }
}

void test_gemm_blocks(const char* isa) {
  // Crosses the M (384), N (256) and K (256) blocks, with a sub-range that starts mid-block.
  const Model mdl = make_model(400, 600, 4);
  run_case(mdl, {400, 600, 600, 0, 400, 0, 600, aio::Act::Relu, true, true, true}, isa);
  run_case(mdl, {399, 530, 513, 7, 395, 250, 529, aio::Act::Silu, true, true, false}, isa);
  // K = 0: the epilogue alone (bias + residual).
  run_case(mdl, {5, 9, 0, 0, 5, 0, 9, aio::Act::Relu6, true, true, true}, isa);
  // C ranges of 1 MiB or more with an in-place K: one N block over the whole range, walked panel
  // by panel, with a partial last panel and strip, and a range starting mid-panel, mid-strip.
  run_case(mdl, {61, 6000, 24, 0, 61, 0, 6000, aio::Act::Relu6, true, true, true}, isa);
  run_case(mdl, {61, 6000, 24, 1, 60, 9, 5990, aio::Act::None, true, false, true}, isa);
  run_case(mdl, {64, 5000, 0, 0, 64, 3, 4999, aio::Act::Relu, true, true, true}, isa);
}

void test_gemm_strip_runs(const char* isa) {
  // Row counts of 4, 8 and 12 per panel (NEON runs them in assembly, a run of strips per call)
  // and mixes of them; K short enough to skip the loop (2, 4, 5), hit the two-k packed loads with
  // a remainder (150: B packed, over 128) or not (136), read B in place (8, 20), and cross a K
  // block (260); N of one partial strip up to several runs with a partial last strip.
  const Model mdl = make_model(40, 310, 5);
  const size_t Ms[] = {4, 8, 16, 20, 28};
  const size_t Ns[] = {8, 24, 57, 300};
  const size_t Ks[] = {2, 4, 5, 8, 20, 136, 150, 260};
  size_t idx = 0;
  for (size_t M : Ms)
    for (size_t N : Ns)
      for (size_t K : Ks) {
        ++idx;
        const aio::Act act = aio_test::act_at(idx);
        run_case(mdl, {M, N, K, 0, M, 0, N, act, idx % 4 != 0, idx % 4 != 1, idx % 3 == 0},
                 isa);
      }
}

void test_gemm_large_values(const char* isa) {
  // Silu/hardswish far out in their tails (exp overflow and saturation).
  const size_t M = 3, K = 1, N = 40;
  std::vector<float> a = {1.f, 1.f, 1.f};
  const aio::PackedA p = aio::PackedA::pack(a.data(), M, K, 1);
  std::vector<float> b(N);
  for (size_t n = 0; n < N; ++n) b[n] = -100.f + 5.f * static_cast<float>(n);
  for (aio::Act act : aio_test::kActs) {
    std::vector<float> c(M * N);
    aio::Epilogue epi;
    epi.act = act;
    aio::gemm(p, K, b.data(), N, c.data(), N, 0, M, 0, N, epi);
    for (size_t n = 0; n < N; ++n) {
      const double ref = aio_test::act_ref(b[n], act);
      AIO_CHECK_NEAR(c[n], ref, 1e-6 * std::fmax(1.0, std::fabs(ref)));
    }
  }
}

// gemm_segments against a double-precision sum over every source: sources of several K blocks
// (packed), of a short in-place K, empty, and gated (B's rows scaled), into a sub-range of C with
// the full epilogue. A wrong K offset into a source's A or B, a gate applied to the wrong rows or
// a block that stored instead of accumulating changes the sums.
void test_gemm_segments(const char* isa) {
  const size_t M = 30, N = 300;
  const size_t Ks[] = {300, 0, 50, 400, 20};
  const bool gated[] = {false, false, false, true, true};
  constexpr size_t S = std::size(Ks);
  std::vector<std::vector<float>> a(S), b(S), gate(S);
  std::vector<aio::PackedA> packed(S);
  aio::GemmSource src[S];
  for (size_t s = 0; s < S; ++s) {
    const size_t lda = Ks[s] + 3;  // a wider full weight: a level's prefix of its columns
    a[s] = aio_test::random_vec(M * lda, 40 + static_cast<uint32_t>(s));
    b[s] = aio_test::random_vec(Ks[s] * N, 50 + static_cast<uint32_t>(s));
    gate[s] = aio_test::random_vec(Ks[s], 60 + static_cast<uint32_t>(s), 0.f, 1.f);
    packed[s] = aio::PackedA::pack(a[s].data(), M, lda, lda);
    src[s].a = &packed[s];
    src[s].K = Ks[s];
    src[s].b = Ks[s] ? b[s].data() : nullptr;
    src[s].ldb = N;
    src[s].gate = gated[s] ? gate[s].data() : nullptr;
  }
  const std::vector<float> scale = aio_test::random_vec(M, 70, 0.5f, 1.5f);
  const std::vector<float> bias = aio_test::random_vec(M, 71);
  const std::vector<float> res = aio_test::random_vec(M * N, 72);
  for (size_t n_src : {size_t{1}, size_t{2}, S}) {
    const size_t m0 = 5, m1 = 29, n0 = 3, n1 = 290;
    std::vector<float> c(M * N, -7.f);
    aio::Epilogue epi;
    epi.scale = scale.data();
    epi.bias = bias.data();
    epi.residual = res.data();
    epi.act = aio::Act::Silu;
    aio::gemm_segments(src, n_src, c.data(), N, m0, m1, n0, n1, epi);
    double max_ref = 0, max_err = 0;
    for (size_t m = 0; m < M; ++m)
      for (size_t n = 0; n < N; ++n) {
        const bool inside = m >= m0 && m < m1 && n >= n0 && n < n1;
        if (!inside) {
          AIO_CHECK(c[m * N + n] == -7.f);  // outside the range: never written
          continue;
        }
        double acc = 0;
        for (size_t s = 0; s < n_src; ++s)
          for (size_t k = 0; k < Ks[s]; ++k)
            acc += double(a[s][m * (Ks[s] + 3) + k]) * b[s][k * N + n] *
                   (gated[s] ? double(gate[s][k]) : 1.0);
        const double ref =
            aio_test::act_ref(acc * scale[m] + bias[m] + res[m * N + n], aio::Act::Silu);
        max_ref = std::fmax(max_ref, std::fabs(ref));
        max_err = std::fmax(max_err, std::fabs(c[m * N + n] - ref));
      }
    AIO_CHECK(max_err <= aio_test::kRelTol * max_ref);
    if (max_err > aio_test::kRelTol * max_ref)
      std::printf("  %s gemm_segments, %zu sources: max err %g of %g\n", isa, n_src, max_err,
                  max_ref);
  }
}

}  // namespace

int main() {
  std::printf("detected ISA: %s\n", aio::isa_name());
  test_pack_layout();
  aio_test::for_each_isa([](const char* isa) {
    const int before = g_cases;
    test_gemm_shapes(isa);
    test_gemm_epilogues(isa);
    test_gemm_blocks(isa);
    test_gemm_strip_runs(isa);
    test_gemm_large_values(isa);
    test_gemm_segments(isa);
    AIO_CHECK(aio::gemm_col_align() >= 8 && aio::gemm_col_align() % 8 == 0);
    // The peak probe runs on every ISA and reports a finite positive rate (no timing bound: the
    // machine may be shared).
    const double peak = aio::fma_peak_gflops(0.01);
    AIO_CHECK(peak > 0 && std::isfinite(peak));
    std::printf("  %s: %d gemm cases, FMA peak %.1f GFLOP/s\n", isa, g_cases - before, peak);
  });
  return aio_test::finish("test_kernels");
}
