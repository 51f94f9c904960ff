// Linux cpufreq through sysfs: one reader per policy (one policy per cluster on big.LITTLE).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dvfs/source.h"

namespace aio::dvfs {

struct CpufreqPolicy {
  std::string path;                 // .../cpufreq/policyN
  int id = -1;                      // N
  std::vector<int> related_cpus;    // CPUs this policy clocks together
  uint64_t min_khz = 0, max_khz = 0;     // hardware limits (cpuinfo_*), else scaling_*
  std::vector<uint64_t> available_khz;   // scaling_available_frequencies; empty when absent
  std::string governor;             // scaling_governor, "" when absent
};

// Reads <root>/devices/system/cpu/cpufreq/policy*/. root is "/sys" on a device and a fake tree in
// tests. The current clock comes from cpuinfo_cur_freq (what the hardware reports) when it is
// readable — it is often root-only — else from scaling_cur_freq, which is the governor's last
// request and can differ from the real clock (firmware caps, thermal throttling).
class CpufreqSource : public FrequencySource {
 public:
  // policy < 0 picks the policy with the highest max frequency (the big/prime cluster, where
  // inference threads usually run); otherwise policyN. Throws Unavailable with the reason.
  explicit CpufreqSource(const std::string& root = "/sys", int policy = -1);

  std::string name() const override { return "cpufreq"; }
  std::string describe() const override;
  Reading read() override;
  double max_mhz() const override { return static_cast<double>(chosen_.max_khz) / 1000.0; }

  const std::vector<CpufreqPolicy>& policies() const { return policies_; }
  const CpufreqPolicy& policy() const { return chosen_; }
  // Current kHz of any policy (same cur-freq rule as read()).
  uint64_t current_khz(const CpufreqPolicy& p) const;
  // Which file read() takes the clock from ("cpuinfo_cur_freq" or "scaling_cur_freq").
  const std::string& cur_file() const { return cur_file_; }

 private:
  std::vector<CpufreqPolicy> policies_;
  CpufreqPolicy chosen_;
  std::string cur_file_;
};

// All policies under root, sorted by id. Empty when there is no cpufreq directory.
std::vector<CpufreqPolicy> list_cpufreq_policies(const std::string& root = "/sys");

// The policy whose related_cpus hold every CPU in `cpus` (the cluster a pinned engine runs on),
// so that a monitor follows that cluster's clock rather than the fastest one. -1 when the CPUs
// span clusters or no policy lists them (or there is no cpufreq).
int cpufreq_policy_of(const std::vector<int>& cpus, const std::string& root = "/sys");

}  // namespace aio::dvfs
