// A constant frequency: for tests, for machines without DVFS, and for "pretend we run at f".
#pragma once

#include "dvfs/source.h"

namespace aio::dvfs {

class FixedSource : public FrequencySource {
 public:
  // max_mhz defaults to cpu_mhz. Throws std::invalid_argument for non-positive values.
  explicit FixedSource(double cpu_mhz, double gpu_mhz = 0.0, double max_mhz = 0.0);
  std::string name() const override { return "fixed"; }
  std::string describe() const override;
  Reading read() override { return reading_; }
  double max_mhz() const override { return max_mhz_; }
  bool emulated() const override { return true; }

 private:
  Reading reading_;
  double max_mhz_;
};

}  // namespace aio::dvfs
