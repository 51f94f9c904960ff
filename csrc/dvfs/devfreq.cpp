#include "dvfs/devfreq.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "dvfs/sysfs_util.h"

namespace fs = std::filesystem;

namespace aio::dvfs {

namespace {
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

DevfreqDevice load_device(const fs::path& dir) {
  DevfreqDevice d;
  d.name = dir.filename().string();
  d.path = dir.string();
  auto f = [&](const char* leaf) { return (dir / leaf).string(); };
  auto mx = sysfs::read_u64(f("max_freq"));
  if (!mx || *mx == 0) throw Unavailable(d.path + ": no readable max_freq");
  d.max_hz = *mx;
  if (auto mn = sysfs::read_u64(f("min_freq"))) d.min_hz = *mn;
  if (auto a = sysfs::read_u64_list(f("available_frequencies"))) {
    d.available_hz = *a;
    std::sort(d.available_hz.begin(), d.available_hz.end());
  }
  if (auto g = sysfs::read_text(f("governor"))) {
    d.governor = *g;
    while (!d.governor.empty() && std::isspace(static_cast<unsigned char>(d.governor.back())))
      d.governor.pop_back();
  }
  return d;
}
}  // namespace

bool looks_like_gpu(const std::string& device_name) {
  const std::string n = lower(device_name);
  for (const char* key : {"gpu", "mali", "kgsl", "gm20b", "gp10b", "gv11b", "ga10b", "gb10b"})
    if (n.find(key) != std::string::npos) return true;
  return false;
}

std::vector<DevfreqDevice> list_devfreq_devices(const std::string& root) {
  std::vector<DevfreqDevice> out;
  std::error_code ec;
  fs::path dir = fs::path(root) / "class/devfreq";
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    try {
      out.push_back(load_device(e.path()));
    } catch (const Unavailable&) {
      continue;  // a device with unreadable limits is skipped, not fatal for the others
    }
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

DevfreqSource::DevfreqSource(const std::string& root, const std::string& device) {
  fs::path dir = fs::path(root) / "class/devfreq";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Unavailable("devfreq not available here: " + dir.string() + " does not exist");
  auto devices = list_devfreq_devices(root);
  auto it = std::find_if(devices.begin(), devices.end(), [&](const DevfreqDevice& d) {
    return device.empty() ? looks_like_gpu(d.name) : d.name == device;
  });
  if (it == devices.end())
    throw Unavailable("devfreq: no " + (device.empty() ? std::string("GPU-like device") : device) +
                      " with readable max_freq under " + dir.string() + " (" +
                      std::to_string(devices.size()) + " devices found)");
  dev_ = *it;
  read();  // fail at construction, not on the first poll
}

Reading DevfreqSource::read() {
  auto v = sysfs::read_u64((fs::path(dev_.path) / "cur_freq").string());
  if (!v) throw Unavailable("devfreq: " + dev_.path + "/cur_freq missing or unreadable");
  return Reading{0.0, static_cast<double>(*v) / 1e6};
}

std::string DevfreqSource::describe() const {
  return "devfreq " + dev_.name + " (governor " + (dev_.governor.empty() ? "?" : dev_.governor) +
         ") at " + dev_.path;
}

}  // namespace aio::dvfs
