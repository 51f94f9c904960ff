#include "dvfs/sysfs_util.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "dvfs/source.h"

namespace aio::dvfs::sysfs {

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return std::nullopt;
  return ss.str();
}

std::string quote(const std::string& raw) {
  static const char* hex = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < raw.size() && i < 40; ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (raw.size() > 40) out += "...";
  return out + "'";
}

namespace {
uint64_t parse_u64(const std::string& tok, const std::string& path) {
  if (tok.empty() || tok.size() > 19) throw Unavailable(path + ": not a number: " + quote(tok));
  uint64_t v = 0;
  for (char c : tok) {
    if (!std::isdigit(static_cast<unsigned char>(c)))
      throw Unavailable(path + ": not a number: " + quote(tok));
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}
}  // namespace

std::optional<std::vector<uint64_t>> read_u64_list(const std::string& path) {
  auto text = read_text(path);
  if (!text) return std::nullopt;
  std::istringstream ss(*text);
  std::vector<uint64_t> out;
  std::string tok;
  while (ss >> tok) out.push_back(parse_u64(tok, path));
  return out;
}

std::optional<uint64_t> read_u64(const std::string& path) {
  auto v = read_u64_list(path);
  if (!v) return std::nullopt;
  if (v->size() != 1) throw Unavailable(path + ": expected one number, found " +
                                        std::to_string(v->size()));
  return v->front();
}

std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  std::string norm = text;
  for (char& c : norm)
    if (c == ',') c = ' ';
  std::istringstream ss(norm);
  std::string tok;
  while (ss >> tok) {
    auto dash = tok.find('-');
    try {
      if (dash == std::string::npos) {
        cpus.push_back(std::stoi(tok));
      } else {
        int a = std::stoi(tok.substr(0, dash)), b = std::stoi(tok.substr(dash + 1));
        if (b < a || b - a > 4096) throw Unavailable("bad cpu range '" + tok + "'");
        for (int i = a; i <= b; ++i) cpus.push_back(i);
      }
    } catch (const std::logic_error&) {  // stoi: invalid_argument / out_of_range
      throw Unavailable("bad cpu list '" + text + "'");
    }
  }
  return cpus;
}

}  // namespace aio::dvfs::sysfs
