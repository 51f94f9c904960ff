#include "dvfs/cpufreq.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "dvfs/sysfs_util.h"

namespace fs = std::filesystem;

namespace aio::dvfs {

namespace {
std::string cpufreq_dir(const std::string& root) {
  return (fs::path(root) / "devices/system/cpu/cpufreq").string();
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

CpufreqPolicy load_policy(const fs::path& dir, int id) {
  CpufreqPolicy p;
  p.path = dir.string();
  p.id = id;
  auto f = [&](const char* leaf) { return (dir / leaf).string(); };
  if (auto t = sysfs::read_text(f("related_cpus"))) p.related_cpus = sysfs::parse_cpu_list(*t);
  auto mx = sysfs::read_u64(f("cpuinfo_max_freq"));
  if (!mx) mx = sysfs::read_u64(f("scaling_max_freq"));
  auto mn = sysfs::read_u64(f("cpuinfo_min_freq"));
  if (!mn) mn = sysfs::read_u64(f("scaling_min_freq"));
  if (!mx || *mx == 0)
    throw Unavailable(p.path + ": no readable cpuinfo_max_freq/scaling_max_freq");
  p.max_khz = *mx;
  p.min_khz = mn ? *mn : 0;
  if (auto a = sysfs::read_u64_list(f("scaling_available_frequencies"))) {
    p.available_khz = *a;
    std::sort(p.available_khz.begin(), p.available_khz.end());
  }
  if (auto g = sysfs::read_text(f("scaling_governor"))) p.governor = trim(*g);
  return p;
}
}  // namespace

std::vector<CpufreqPolicy> list_cpufreq_policies(const std::string& root) {
  std::vector<CpufreqPolicy> out;
  std::error_code ec;
  fs::path dir = cpufreq_dir(root);
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string leaf = e.path().filename().string();
    if (leaf.rfind("policy", 0) != 0) continue;
    try {
      out.push_back(load_policy(e.path(), std::stoi(leaf.substr(6))));
    } catch (const std::logic_error&) {
      continue;  // "policyX" with a non-numeric suffix: not a cpufreq policy
    }
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
  return out;
}

int cpufreq_policy_of(const std::vector<int>& cpus, const std::string& root) {
  if (cpus.empty()) return -1;
  for (const CpufreqPolicy& p : list_cpufreq_policies(root)) {
    const bool all = std::all_of(cpus.begin(), cpus.end(), [&](int c) {
      return std::find(p.related_cpus.begin(), p.related_cpus.end(), c) != p.related_cpus.end();
    });
    if (all) return p.id;
  }
  return -1;
}

CpufreqSource::CpufreqSource(const std::string& root, int policy) {
  std::string dir = cpufreq_dir(root);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Unavailable("cpufreq not available here: " + dir +
                      " does not exist (a VM or a kernel without cpufreq)");
  policies_ = list_cpufreq_policies(root);
  if (policies_.empty()) throw Unavailable("cpufreq not available here: no policy* under " + dir);
  if (policy < 0) {
    chosen_ = *std::max_element(policies_.begin(), policies_.end(),
                                [](auto& a, auto& b) { return a.max_khz < b.max_khz; });
  } else {
    auto it = std::find_if(policies_.begin(), policies_.end(),
                           [&](auto& p) { return p.id == policy; });
    if (it == policies_.end())
      throw Unavailable("cpufreq: no policy" + std::to_string(policy) + " under " + dir);
    chosen_ = *it;
  }
  // Decide once which file carries the clock, and fail now rather than on the first read.
  for (const char* leaf : {"cpuinfo_cur_freq", "scaling_cur_freq"}) {
    try {
      if (sysfs::read_u64((fs::path(chosen_.path) / leaf).string())) {
        cur_file_ = leaf;
        break;
      }
    } catch (const Unavailable&) {
      // garbage in this file: try the next one
    }
  }
  if (cur_file_.empty())
    throw Unavailable("cpufreq: " + chosen_.path +
                      ": neither cpuinfo_cur_freq nor scaling_cur_freq holds a readable number");
}

uint64_t CpufreqSource::current_khz(const CpufreqPolicy& p) const {
  for (const char* leaf : {"cpuinfo_cur_freq", "scaling_cur_freq"}) {
    std::string path = (fs::path(p.path) / leaf).string();
    try {
      if (auto v = sysfs::read_u64(path)) return *v;
    } catch (const Unavailable&) {
    }
  }
  throw Unavailable("cpufreq: " + p.path + ": current frequency unreadable");
}

Reading CpufreqSource::read() {
  auto v = sysfs::read_u64((fs::path(chosen_.path) / cur_file_).string());
  if (!v) throw Unavailable("cpufreq: " + chosen_.path + "/" + cur_file_ + " vanished");
  return Reading{static_cast<double>(*v) / 1000.0, 0.0};
}

std::string CpufreqSource::describe() const {
  std::string cpus;
  for (int c : chosen_.related_cpus) cpus += (cpus.empty() ? "" : ",") + std::to_string(c);
  return "cpufreq policy" + std::to_string(chosen_.id) + " (cpus " + cpus + ") via " + cur_file_ +
         (cur_file_ == "scaling_cur_freq" ? " (the governor's last request)" : "") + ", " +
         std::to_string(policies_.size()) + " policies, at " + chosen_.path;
}

}  // namespace aio::dvfs
