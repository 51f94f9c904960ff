// Small helpers to read sysfs-style files strictly: a garbage value is an error, not a zero.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aio::dvfs::sysfs {

// Whole file as text, or nullopt when it is missing or unreadable (e.g. root-only).
std::optional<std::string> read_text(const std::string& path);
// One unsigned integer (surrounding whitespace allowed). Throws Unavailable on garbage.
std::optional<uint64_t> read_u64(const std::string& path);
// Whitespace-separated unsigned integers. Throws Unavailable on garbage.
std::optional<std::vector<uint64_t>> read_u64_list(const std::string& path);
// The text quoted for an error message: bytes that are not printable ASCII become \xNN, so the
// message stays valid UTF-8 whatever a damaged file holds; long text is cut to 40 bytes.
std::string quote(const std::string& raw);
// "0-3 6 8-9" or "0 1 2 3" (both forms appear in related_cpus / affected_cpus).
std::vector<int> parse_cpu_list(const std::string& text);

}  // namespace aio::dvfs::sysfs
