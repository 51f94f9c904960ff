// Python bindings of aio::Engine as allinone._core.Engine (low level; allinone.runtime wraps it).
// Arrays are checked strictly here too (dtype, contiguity, shape): nothing is cast silently,
// because a silent copy would hide a 2x cost on the inference path.
#include "runtime/engine.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <optional>
#include <utility>
#include <vector>
#include <string>

#include "bindings.h"

namespace py = pybind11;

namespace aio::py {
namespace {

std::string shape_str(const ::py::array& a) {
  std::string s = "(";
  for (::py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

void translate(const Error& e) {
  switch (e.code()) {
    case ErrorCode::Format:
    case ErrorCode::InvalidArgument: PyErr_SetString(PyExc_ValueError, e.what()); return;
    case ErrorCode::Io: PyErr_SetString(PyExc_OSError, e.what()); return;
    default: PyErr_SetString(PyExc_RuntimeError, e.what()); return;
  }
}

// None keeps the library's default activation limit (EngineOptions); 0 removes it.
EngineOptions options(int threads, std::optional<uint64_t> max_activation_bytes,
                      uint64_t max_flops, bool winograd, std::vector<int> cpus = {}) {
  EngineOptions o;
  o.cpus = std::move(cpus);
  o.threads = threads;
  if (max_activation_bytes) o.max_activation_bytes = *max_activation_bytes;
  o.max_flops = max_flops;
  o.winograd = winograd;
  return o;
}

::py::dict level_dict(const LevelInfo& li) {
  ::py::dict d;
  d["keep_ratio"] = li.keep_ratio;
  d["flops"] = li.flops;
  d["params"] = li.params;
  d["widths"] = li.widths;
  return d;
}

// Runs x (N,C,H,W) or (C,H,W) float32 C-contiguous at `level` (-1: the current level) and returns
// (output, level used). Output: (N, O) when the model outputs (O, 1, 1), else (N, C, H, W); the
// batch axis is dropped when x had none.
::py::tuple run(Engine& e, const ::py::array& x, long level) {
  if (!::py::isinstance<::py::array_t<float>>(x) || !x.dtype().is(::py::dtype::of<float>()))
    throw Error(ErrorCode::InvalidArgument, "input must be float32, got " +
                                                std::string(::py::str(x.dtype())) +
                                                " (convert with x.astype(np.float32))");
  if (!(x.flags() & ::py::array::c_style))
    throw Error(ErrorCode::InvalidArgument,
                "input must be C-contiguous (use np.ascontiguousarray(x))");
  if (reinterpret_cast<uintptr_t>(x.data()) % alignof(float) != 0)
    throw Error(ErrorCode::InvalidArgument, "input must be aligned to 4 bytes (use x.copy())");
  const Shape in = e.input_shape();
  const bool batched = x.ndim() == 4;
  if (x.ndim() != 3 && x.ndim() != 4)
    throw Error(ErrorCode::InvalidArgument,
                "input must have shape (N, C, H, W) or (C, H, W), got " + shape_str(x));
  const ::py::ssize_t off = batched ? 1 : 0;
  if (x.shape(off) != in.c || x.shape(off + 1) != in.h || x.shape(off + 2) != in.w)
    throw Error(ErrorCode::InvalidArgument, "input shape " + shape_str(x) +
                                                " does not match the model's (C, H, W) = (" +
                                                std::to_string(in.c) + ", " + std::to_string(in.h) +
                                                ", " + std::to_string(in.w) + ")");
  const size_t n = batched ? static_cast<size_t>(x.shape(0)) : 1;
  if (level < -1 || (level >= 0 && static_cast<size_t>(level) >= e.num_levels()))
    throw Error(ErrorCode::InvalidArgument, "level " + std::to_string(level) +
                                                " out of range (model has " +
                                                std::to_string(e.num_levels()) + " levels)");
  // Reading the level once here is what run() does internally; doing it here sizes the output.
  const size_t k = level < 0 ? e.level() : static_cast<size_t>(level);
  const Shape o = e.output_shape(k);
  std::vector<::py::ssize_t> shape;
  if (batched) shape.push_back(static_cast<::py::ssize_t>(n));
  if (o.h == 1 && o.w == 1) {
    shape.push_back(o.c);
  } else {
    shape.insert(shape.end(), {::py::ssize_t(o.c), ::py::ssize_t(o.h), ::py::ssize_t(o.w)});
  }
  ::py::array_t<float> out(shape);
  const float* src = static_cast<const float*>(x.data());
  float* dst = out.mutable_data();
  {
    ::py::gil_scoped_release nogil;
    e.run_at(k, src, n, dst);
  }
  return ::py::make_tuple(out, k);
}

}  // namespace

void bind_engine(pybind11::module_& m) {
  ::py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      translate(e);
    }
  });

  ::py::class_<Engine>(m, "Engine", "A loaded .aio model (native; use allinone.Engine)")
      .def(::py::init([](const std::string& path, int threads,
                         std::optional<uint64_t> max_activation_bytes, uint64_t max_flops,
                         bool winograd, std::vector<int> cpus) {
             return Engine::load_file(path, options(threads, max_activation_bytes, max_flops,
                                                    winograd, std::move(cpus)));
           }),
           ::py::arg("path"), ::py::arg("threads") = 0,
           ::py::arg("max_activation_bytes") = ::py::none(), ::py::arg("max_flops") = 0,
           ::py::arg("winograd") = true, ::py::arg("cpus") = std::vector<int>{},
           ::py::call_guard<::py::gil_scoped_release>())  // loading packs weights: seconds
      .def_static(
          "from_bytes",
          [](const ::py::bytes& b, int threads, std::optional<uint64_t> max_activation_bytes,
             uint64_t max_flops, bool winograd) {
            const std::string_view v(b);
            return Engine::load_memory(
                v.data(), v.size(), options(threads, max_activation_bytes, max_flops, winograd));
          },
          ::py::arg("data"), ::py::arg("threads") = 0,
          ::py::arg("max_activation_bytes") = ::py::none(), ::py::arg("max_flops") = 0,
          ::py::arg("winograd") = true)
      .def_property_readonly("name", &Engine::name)
      .def_property_readonly("labels", &Engine::labels)
      .def_property_readonly("num_levels", &Engine::num_levels)
      .def_property_readonly("threads", &Engine::threads)
      .def_property_readonly("affinity", &Engine::affinity)
      .def_property_readonly("affinity_note", &Engine::affinity_note)
      .def_property_readonly("weight_bytes", &Engine::weight_bytes)
      .def_property_readonly("input_shape",
                             [](const Engine& e) {
                               const Shape s = e.input_shape();
                               return ::py::make_tuple(s.c, s.h, s.w);
                             })
      .def("output_shape",
           [](const Engine& e, size_t level) {
             const Shape s = e.output_shape(level);
             return ::py::make_tuple(s.c, s.h, s.w);
           })
      .def("level_info",
           [](const Engine& e, size_t level) { return level_dict(e.level_info(level)); })
      .def_property_readonly("level", &Engine::level)
      .def("set_level", &Engine::set_level, ::py::arg("level"))
      .def(
          "profile",
          [](Engine& e, const ::py::array& x, size_t level, size_t repeats) {
            const Shape in = e.input_shape();
            if (x.dtype().kind() != 'f' || x.itemsize() != 4 ||
                !(x.flags() & ::py::array::c_style) ||
                static_cast<size_t>(x.size()) != size_t(in.c) * in.h * in.w)
              throw Error(ErrorCode::InvalidArgument,
                          "profile: x must be one C-contiguous float32 image");
            std::vector<OpProfile> r;
            {
              ::py::gil_scoped_release nogil;
              r = e.profile(level, static_cast<const float*>(x.data()), repeats);
            }
            ::py::list out;
            for (const auto& p : r) out.append(::py::make_tuple(p.name, p.kind, p.ms, p.flops));
            return out;
          },
          ::py::arg("x"), ::py::arg("level"), ::py::arg("repeats") = 20,
          "Per-op medians of one image at `level`: [(name, kind, ms, flops)].")
      .def("run", &run, ::py::arg("x"), ::py::arg("level") = -1,
           "Runs x at `level` (-1: current); returns (output, level used).");
}

}  // namespace aio::py
