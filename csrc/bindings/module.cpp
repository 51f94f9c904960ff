// allinone._core: the private compiled module; allinone/ re-exports a curated API.
#include "bindings/bindings.h"

#include "kernels/kernels.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "allinone native core (private; use the allinone package)";
  m.attr("__version__") = ALLINONE_VERSION;
  m.def("isa", &aio::isa_name, "Micro-kernel ISA chosen at load (avx512, avx2 or scalar).");
  aio::py::bind_engine(m);
  aio::py::bind_dvfs(m);
}
