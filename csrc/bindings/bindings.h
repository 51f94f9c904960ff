// Each component binds itself into allinone._core from its own file.
#pragma once
#include <pybind11/pybind11.h>

namespace aio::py {
void bind_engine(pybind11::module_& m);  // engine.cpp
void bind_dvfs(pybind11::module_& m);    // dvfs.cpp
}  // namespace aio::py
