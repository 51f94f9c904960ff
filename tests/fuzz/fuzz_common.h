// Shared by the .aio fuzz targets: CRC/size fix-up so mutations reach the metadata parser.
//
// Every section of a .aio file is covered by a CRC-32, so almost every mutation of a valid seed
// fails at "header checksum mismatch" and the fuzzer never gets past the header. Each target
// therefore parses the input twice: as given (the checksum paths), and a copy whose size fields
// and checksums are rewritten to match its bytes (the paths after the checksums), the way the
// TFLite harness skips its verifier to reach "verifier-valid but semantically inconsistent" files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "format/crc32.h"

namespace aio_fuzz {

inline uint64_t rd64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline void wr32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void wr64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

// Returns a copy of data with file_size, data_size and the three CRCs made consistent with its
// bytes (where the declared offsets fall inside it); other fields are left as the fuzzer made them.
inline std::vector<uint8_t> fix_up(const uint8_t* data, size_t size) {
  std::vector<uint8_t> b(data, data + size);
  if (size < 128) return b;
  uint8_t* h = b.data();
  wr64(h + 16, size);  // file_size
  const uint64_t meta_off = rd64(h + 24), meta_size = rd64(h + 32), data_off = rd64(h + 40);
  if (data_off <= size) {
    wr64(h + 48, size - data_off);  // data_size
    wr32(h + 60, aio::crc32(h + data_off, size - data_off));
  }
  if (meta_off <= size && meta_size <= size - meta_off)
    wr32(h + 56, aio::crc32(h + meta_off, meta_size));
  wr32(h + 124, aio::crc32(h, 124));
  return b;
}

}  // namespace aio_fuzz
