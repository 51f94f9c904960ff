#include "dvfs/replay.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "dvfs/sysfs_util.h"

namespace aio::dvfs {

namespace {
std::string strip(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

double parse_num(const std::string& tok, const std::string& where) {
  std::string t = strip(tok);
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || !std::isfinite(v))
    throw Unavailable(where + ": not a number: " + sysfs::quote(t));
  return v;
}
}  // namespace

std::vector<TracePoint> parse_trace(const std::string& text, const std::string& origin) {
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  size_t ncols = 0;
  std::vector<TracePoint> pts;
  while (std::getline(in, line)) {
    ++lineno;
    line = strip(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::stringstream ls(line);
    std::string c;
    while (std::getline(ls, c, ',')) cols.push_back(strip(c));
    if (!line.empty() && line.back() == ',') cols.push_back("");
    const std::string where = origin + " line " + std::to_string(lineno);
    if (ncols == 0) {  // header
      if (cols.size() < 2 || cols.size() > 3 || cols[0] != "t_s" || cols[1] != "cpu_mhz" ||
          (cols.size() == 3 && cols[2] != "gpu_mhz"))
        throw Unavailable(where + ": header must be 't_s,cpu_mhz[,gpu_mhz]', got '" + line + "'");
      ncols = cols.size();
      continue;
    }
    if (cols.size() != ncols)
      throw Unavailable(where + ": expected " + std::to_string(ncols) + " columns, got " +
                        std::to_string(cols.size()));
    TracePoint p{parse_num(cols[0], where), parse_num(cols[1], where),
                 ncols == 3 ? parse_num(cols[2], where) : 0.0};
    if (p.cpu_mhz <= 0 || (ncols == 3 && p.gpu_mhz <= 0))
      throw Unavailable(where + ": frequencies must be positive");
    if (pts.empty() ? p.t_s != 0.0 : p.t_s <= pts.back().t_s)
      throw Unavailable(where + (pts.empty() ? ": t_s must start at 0" : ": t_s must increase"));
    pts.push_back(p);
  }
  if (ncols == 0) throw Unavailable(origin + ": empty trace (no header)");
  if (pts.empty()) throw Unavailable(origin + ": trace has a header but no rows");
  return pts;
}

ReplaySource::ReplaySource(const std::string& path) : origin_(path) {
  auto text = sysfs::read_text(path);
  if (!text) throw Unavailable("replay: cannot read trace file " + path);
  points_ = parse_trace(*text, path);
  find_limits();
}

ReplaySource::ReplaySource(std::vector<TracePoint> points, std::string origin)
    : points_(std::move(points)), origin_(std::move(origin)) {
  if (points_.empty()) throw Unavailable("replay: empty trace");
  // Same rules as parse_trace, so a trace built in code cannot break at() either.
  for (size_t i = 0; i < points_.size(); ++i) {
    const TracePoint& p = points_[i];
    const bool time_ok = i == 0 ? p.t_s == 0.0 : p.t_s > points_[i - 1].t_s;
    if (!(p.cpu_mhz > 0) || p.gpu_mhz < 0 || !time_ok)
      throw Unavailable(origin_ + ": point " + std::to_string(i) +
                        ": need t_s from 0 increasing and positive clocks");
  }
  find_limits();
}

void ReplaySource::find_limits() {
  for (const auto& p : points_) {
    max_cpu_ = std::max(max_cpu_, p.cpu_mhz);
    max_gpu_ = std::max(max_gpu_, p.gpu_mhz);
  }
}

void ReplaySource::set_time(double t_s) {
  std::lock_guard<std::mutex> lock(clock_mu_);
  manual_ = true;
  manual_t_ = t_s;
}

void ReplaySource::restart() {
  std::lock_guard<std::mutex> lock(clock_mu_);
  manual_ = false;
  start_ = std::chrono::steady_clock::now();
}

double ReplaySource::now_s() const {
  std::lock_guard<std::mutex> lock(clock_mu_);
  if (manual_) return manual_t_;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

Reading ReplaySource::at(double t_s) const {
  double end = duration_s();
  if (loop_ && end > 0 && t_s > end) t_s = std::fmod(t_s, end);
  // Last row with t <= t_s: the value held at that moment.
  auto it = std::upper_bound(points_.begin(), points_.end(), t_s,
                             [](double t, const TracePoint& p) { return t < p.t_s; });
  const TracePoint& p = it == points_.begin() ? points_.front() : *(it - 1);
  return Reading{p.cpu_mhz, p.gpu_mhz};
}

std::string ReplaySource::describe() const {
  std::ostringstream s;
  s << "replayed trace " << origin_ << " (" << points_.size() << " rows, " << duration_s()
    << " s, max " << max_cpu_ << " MHz; EMULATED, not this machine's clock)";
  return s.str();
}

}  // namespace aio::dvfs
