// Python bindings for the DVFS sources, governor and emulator (csrc/dvfs/), as allinone._core.dvfs.
// The Python package allinone.dvfs wraps these and adds the Python-only sources (NVML, psutil).
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "dvfs/adaptive_engine.h"
#include "dvfs/cpufreq.h"
#include "dvfs/devfreq.h"
#include "dvfs/emulator.h"
#include "dvfs/fixed.h"
#include "dvfs/governor.h"
#include "dvfs/replay.h"

namespace py = pybind11;
using namespace aio::dvfs;

namespace aio::py {

void bind_dvfs(pybind11::module_& m) {
  auto d = m.def_submodule("dvfs", "DVFS frequency sources, emulator and governor (native)");
  d.attr("SOURCE_INTERFACE_VERSION") = kSourceInterfaceVersion;
  // A subclass of RuntimeError so callers that catch RuntimeError (the CLI) report it cleanly.
  ::py::register_exception<Unavailable>(d, "Unavailable", PyExc_RuntimeError);

  ::py::class_<Reading>(d, "Reading")
      .def(::py::init<double, double>(), ::py::arg("cpu_mhz") = 0.0, ::py::arg("gpu_mhz") = 0.0)
      .def_readwrite("cpu_mhz", &Reading::cpu_mhz)
      .def_readwrite("gpu_mhz", &Reading::gpu_mhz)
      .def("__repr__", [](const Reading& r) {
        return "Reading(cpu_mhz=" + std::to_string(r.cpu_mhz) +
               ", gpu_mhz=" + std::to_string(r.gpu_mhz) + ")";
      });

  ::py::class_<FrequencySource>(d, "FrequencySource")
      .def_property_readonly("name", &FrequencySource::name)
      .def("describe", &FrequencySource::describe)
      .def("read", &FrequencySource::read)
      .def_property_readonly("max_mhz", &FrequencySource::max_mhz)
      .def_property_readonly("emulated", &FrequencySource::emulated)
      .def_property_readonly("interface_version", &FrequencySource::interface_version);

  ::py::class_<CpufreqPolicy>(d, "CpufreqPolicy")
      .def_readonly("path", &CpufreqPolicy::path)
      .def_readonly("id", &CpufreqPolicy::id)
      .def_readonly("related_cpus", &CpufreqPolicy::related_cpus)
      .def_readonly("min_khz", &CpufreqPolicy::min_khz)
      .def_readonly("max_khz", &CpufreqPolicy::max_khz)
      .def_readonly("available_khz", &CpufreqPolicy::available_khz)
      .def_readonly("governor", &CpufreqPolicy::governor);
  ::py::class_<CpufreqSource, FrequencySource>(d, "CpufreqSource")
      .def(::py::init<const std::string&, int>(), ::py::arg("root") = "/sys",
           ::py::arg("policy") = -1)
      .def_property_readonly("policies", &CpufreqSource::policies)
      .def_property_readonly("policy", &CpufreqSource::policy)
      .def_property_readonly("cur_file", &CpufreqSource::cur_file)
      .def("current_khz", &CpufreqSource::current_khz);
  d.def("list_cpufreq_policies", &list_cpufreq_policies, ::py::arg("root") = "/sys");

  ::py::class_<DevfreqDevice>(d, "DevfreqDevice")
      .def_readonly("name", &DevfreqDevice::name)
      .def_readonly("path", &DevfreqDevice::path)
      .def_readonly("min_hz", &DevfreqDevice::min_hz)
      .def_readonly("max_hz", &DevfreqDevice::max_hz)
      .def_readonly("available_hz", &DevfreqDevice::available_hz)
      .def_readonly("governor", &DevfreqDevice::governor);
  ::py::class_<DevfreqSource, FrequencySource>(d, "DevfreqSource")
      .def(::py::init<const std::string&, const std::string&>(), ::py::arg("root") = "/sys",
           ::py::arg("device") = "")
      .def_property_readonly("device", &DevfreqSource::device);
  d.def("list_devfreq_devices", &list_devfreq_devices, ::py::arg("root") = "/sys");
  d.def("looks_like_gpu", &looks_like_gpu);

  ::py::class_<FixedSource, FrequencySource>(d, "FixedSource")
      .def(::py::init<double, double, double>(), ::py::arg("cpu_mhz"), ::py::arg("gpu_mhz") = 0.0,
           ::py::arg("max_mhz") = 0.0);

  ::py::class_<TracePoint>(d, "TracePoint")
      .def(::py::init([](double t, double cpu, double gpu) { return TracePoint{t, cpu, gpu}; }),
           ::py::arg("t_s"), ::py::arg("cpu_mhz"), ::py::arg("gpu_mhz") = 0.0)
      .def_readonly("t_s", &TracePoint::t_s)
      .def_readonly("cpu_mhz", &TracePoint::cpu_mhz)
      .def_readonly("gpu_mhz", &TracePoint::gpu_mhz);
  d.def("parse_trace", &parse_trace, ::py::arg("text"), ::py::arg("origin") = "trace");
  ::py::class_<ReplaySource, FrequencySource>(d, "ReplaySource")
      .def(::py::init<const std::string&>(), ::py::arg("path"))
      .def(::py::init<std::vector<TracePoint>, std::string>(), ::py::arg("points"),
           ::py::arg("origin"))
      .def("at", &ReplaySource::at, ::py::arg("t_s"))
      .def("set_time", &ReplaySource::set_time, ::py::arg("t_s"))
      .def("restart", &ReplaySource::restart)
      .def("set_loop", &ReplaySource::set_loop, ::py::arg("loop"))
      .def_property_readonly("duration_s", &ReplaySource::duration_s)
      .def_property_readonly("max_gpu_mhz", &ReplaySource::max_gpu_mhz)
      .def_property_readonly("has_gpu", &ReplaySource::has_gpu)
      .def_property_readonly("points", &ReplaySource::points);

  ::py::class_<Emulator>(d, "Emulator")
      .def(::py::init<double, double>(), ::py::arg("alpha"), ::py::arg("f_max_mhz"))
      .def_property_readonly("alpha", &Emulator::alpha)
      .def_property_readonly("f_max_mhz", &Emulator::f_max_mhz)
      .def("slowdown", &Emulator::slowdown, ::py::arg("f_mhz"))
      .def("pad", &Emulator::pad, ::py::arg("elapsed_s"), ::py::arg("f_mhz"),
           ::py::call_guard<::py::gil_scoped_release>());
  d.def("busy_wait", &busy_wait, ::py::arg("seconds"),
        ::py::call_guard<::py::gil_scoped_release>());

  ::py::class_<GovernorConfig>(d, "GovernorConfig")
      .def(::py::init<>())
      .def_readwrite("target_ms", &GovernorConfig::target_ms)
      .def_readwrite("alpha", &GovernorConfig::alpha)
      .def_readwrite("up_margin", &GovernorConfig::up_margin)
      .def_readwrite("ewma_weight", &GovernorConfig::ewma_weight)
      .def_readwrite("miss_z", &GovernorConfig::miss_z)
      .def_readwrite("spread_max", &GovernorConfig::spread_max)
      .def_readwrite("initial_spread", &GovernorConfig::initial_spread)
      .def_readwrite("feedback_min", &GovernorConfig::feedback_min)
      .def_readwrite("feedback_max", &GovernorConfig::feedback_max)
      .def_readwrite("guard_quantile", &GovernorConfig::guard_quantile)
      .def_readwrite("guard_window", &GovernorConfig::guard_window)
      .def_readwrite("guard_deadband", &GovernorConfig::guard_deadband);
  ::py::class_<MeasuredTable>(d, "MeasuredTable")
      .def(::py::init([](std::vector<double> freqs, std::vector<std::vector<double>> ms) {
             return MeasuredTable{std::move(freqs), std::move(ms)};
           }),
           ::py::arg("freqs_mhz"), ::py::arg("ms"))
      .def_readonly("freqs_mhz", &MeasuredTable::freqs_mhz)
      .def_readonly("ms", &MeasuredTable::ms);
  ::py::class_<Governor>(d, "Governor")
      .def(::py::init<std::vector<double>, double, GovernorConfig, std::vector<double>>(),
           ::py::arg("level_ms"), ::py::arg("f_ref_mhz"), ::py::arg("config") = GovernorConfig{},
           ::py::arg("tail_ms") = std::vector<double>{})
      .def(::py::init<MeasuredTable, GovernorConfig, std::vector<double>>(), ::py::arg("measured"),
           ::py::arg("config") = GovernorConfig{}, ::py::arg("tail_ms") = std::vector<double>{})
      .def_property_readonly("measured", &Governor::measured)
      .def("base_ms", &Governor::base_ms, ::py::arg("level"), ::py::arg("f_mhz"))
      .def_property_readonly("num_levels", &Governor::num_levels)
      .def_property_readonly("f_ref_mhz", &Governor::f_ref_mhz)
      .def_property_readonly("table_ms", &Governor::table_ms)
      .def_property_readonly("config", &Governor::config)
      .def_property("target_ms", &Governor::target_ms, &Governor::set_target_ms)
      .def("scale", &Governor::scale, ::py::arg("f_mhz"))
      .def("predict_ms", &Governor::predict_ms, ::py::arg("level"), ::py::arg("f_mhz"),
           ::py::arg("with_feedback") = true)
      .def("predict_tail_ms", &Governor::predict_tail_ms, ::py::arg("level"), ::py::arg("f_mhz"))
      .def("best_level", &Governor::best_level, ::py::arg("f_mhz"), ::py::arg("target_ms"),
           ::py::arg("with_feedback") = true)
      .def("update", &Governor::update, ::py::arg("f_mhz"))
      .def("observe", &Governor::observe, ::py::arg("level"), ::py::arg("f_mhz"),
           ::py::arg("measured_ms"))
      .def_property("level", &Governor::level, &Governor::set_level)
      .def_property_readonly("feedback", &Governor::feedback)
      .def_property_readonly("spread", &Governor::spread)
      .def_property_readonly("correction", &Governor::correction)
      .def_property_readonly("tail_ratio", &Governor::tail_ratio)
      .def("reset_feedback", &Governor::reset_feedback)
      .def_property_readonly("switches", &Governor::switches);
  // The C++ AdaptiveEngine, bound so tests can replay one sequence of clocks and latencies
  // through it and through allinone.adaptive.AdaptiveEngine (next_level / record); apps in
  // Python use the latter.
  ::py::class_<AdaptiveEngine>(d, "AdaptiveEngine")
      .def(::py::init<Engine&, FrequencySource&, std::vector<double>, double, GovernorConfig,
                      std::vector<double>>(),
           ::py::arg("engine"), ::py::arg("source"), ::py::arg("level_ms"),
           ::py::arg("f_ref_mhz"), ::py::arg("config") = GovernorConfig{},
           ::py::arg("tail_ms") = std::vector<double>{}, ::py::keep_alive<1, 2>(),
           ::py::keep_alive<1, 3>())
      .def("next_level", &AdaptiveEngine::next_level)
      .def("record", &AdaptiveEngine::record, ::py::arg("level"), ::py::arg("ms"))
      .def_property_readonly("last_mhz", &AdaptiveEngine::last_mhz)
      .def_property_readonly(
          "governor", [](AdaptiveEngine& a) -> Governor& { return a.governor(); },
          ::py::return_value_policy::reference_internal);
}

}  // namespace aio::py
