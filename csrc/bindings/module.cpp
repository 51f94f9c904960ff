// allinone._core: the private compiled module; allinone/ re-exports a curated API.
#include "bindings/bindings.h"

#include "kernels/kernels.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "allinone native core (private; use the allinone package)";
  m.attr("__version__") = ALLINONE_VERSION;
  m.def("isa", &aio::isa_name, "Micro-kernel ISA chosen at load (avx512, avx2, neon or scalar).");
  m.def("isa_features", &aio::isa_features,
        "ARMv8.2 extensions of this CPU, comma-separated (fp16, dotprod, i8mm); '' if none.");
  m.def("fma_peak_gflops", &aio::fma_peak_gflops, pybind11::arg("seconds") = 0.2,
        pybind11::call_guard<pybind11::gil_scoped_release>(),
        "FP32 FMA throughput of the calling thread (GFLOP/s) with the chosen ISA: the core's compute "
        "peak. Releases the GIL, so threads calling it at once measure several cores.");
  aio::py::bind_engine(m);
  aio::py::bind_dvfs(m);
}
