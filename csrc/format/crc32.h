// CRC-32 (IEEE 802.3 / zlib polynomial, reflected), the checksum of the .aio header and sections.
#pragma once
#include <cstddef>
#include <cstdint>

namespace aio {
// crc32(data, n) == zlib.crc32(data) in Python. Chain with the previous value as `crc`.
uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);
}  // namespace aio
