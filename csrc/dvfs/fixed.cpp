#include "dvfs/fixed.h"

#include <stdexcept>
#include <string>

namespace aio::dvfs {

FixedSource::FixedSource(double cpu_mhz, double gpu_mhz, double max_mhz)
    : reading_{cpu_mhz, gpu_mhz}, max_mhz_(max_mhz > 0 ? max_mhz : cpu_mhz) {
  if (!(cpu_mhz > 0) || gpu_mhz < 0 || max_mhz_ < cpu_mhz)
    throw std::invalid_argument("FixedSource: need cpu_mhz > 0, gpu_mhz >= 0, max_mhz >= cpu_mhz");
}

std::string FixedSource::describe() const {
  return "fixed " + std::to_string(static_cast<long>(reading_.cpu_mhz)) + " MHz (not measured)";
}

}  // namespace aio::dvfs
