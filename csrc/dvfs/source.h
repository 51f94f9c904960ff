// The frequency-source interface: one abstract class every source implements (cpufreq sysfs,
// devfreq, a fixed value, a replayed trace; NVML and psutil live in Python and mirror it).
//
// Versioned so a device app built against an older header can tell it is talking to a newer
// library: interface_version() must equal kSourceInterfaceVersion for the vtable layout to match.
#pragma once

#include <stdexcept>
#include <string>

namespace aio::dvfs {

constexpr int kSourceInterfaceVersion = 1;

// One sample. Frequencies in MHz; 0 means "this source has no such clock" (e.g. no GPU column).
struct Reading {
  double cpu_mhz = 0.0;
  double gpu_mhz = 0.0;
};

// Thrown when a source cannot work on this machine; what() says why (missing path, unreadable
// file, garbage contents), so auto-detection can report it instead of guessing.
class Unavailable : public std::runtime_error {
 public:
  explicit Unavailable(const std::string& why) : std::runtime_error(why) {}
};

class FrequencySource {
 public:
  virtual ~FrequencySource() = default;
  virtual int interface_version() const { return kSourceInterfaceVersion; }
  // Short, stable identifier ("cpufreq", "devfreq", "fixed", "replay").
  virtual std::string name() const = 0;
  // Human-readable detail: which path, policy, device or file the numbers come from.
  virtual std::string describe() const = 0;
  // Current clock(s). Throws Unavailable if the source stopped working (e.g. file vanished).
  virtual Reading read() = 0;
  // The top CPU (or, for GPU-only sources, GPU) operating point in MHz: the f_max of the model
  // t(f) = t(f_max)·(α·f_max/f + 1 − α).
  virtual double max_mhz() const = 0;
  // True when numbers are not the live clock of this machine (a replayed trace, a fixed value).
  virtual bool emulated() const { return false; }
};

}  // namespace aio::dvfs
