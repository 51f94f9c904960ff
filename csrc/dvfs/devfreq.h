// Linux devfreq through sysfs: the GPU clock on Jetson, Mali and Adreno boards.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dvfs/source.h"

namespace aio::dvfs {

struct DevfreqDevice {
  std::string name;  // directory: "17000000.ga10b", "ff9a0000.gpu", "3d00000.qcom,kgsl-3d0"
  std::string path;
  uint64_t min_hz = 0, max_hz = 0;
  std::vector<uint64_t> available_hz;
  std::string governor;
};

// True when a devfreq device name looks like a GPU. Jetson names differ between releases
// (gm20b/gp10b/gv11b/ga10b on L4T r32–r35, "gpu" on newer ones), Mali boards use "gpu"/"mali",
// Adreno uses "kgsl-3d0"; memory-bus devices (e.g. "*.dmc", "*.bus") are not GPUs.
bool looks_like_gpu(const std::string& device_name);

// All devices under <root>/class/devfreq/, sorted by name. Empty when there is no devfreq.
std::vector<DevfreqDevice> list_devfreq_devices(const std::string& root = "/sys");

// Reads cur_freq (Hz) of one devfreq device; reported as Reading::gpu_mhz.
class DevfreqSource : public FrequencySource {
 public:
  // device "" picks the first device that looks like a GPU. Throws Unavailable with the reason.
  explicit DevfreqSource(const std::string& root = "/sys", const std::string& device = "");

  std::string name() const override { return "devfreq"; }
  std::string describe() const override;
  Reading read() override;
  double max_mhz() const override { return static_cast<double>(dev_.max_hz) / 1e6; }
  const DevfreqDevice& device() const { return dev_; }

 private:
  DevfreqDevice dev_;
};

}  // namespace aio::dvfs
