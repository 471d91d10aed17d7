// Byte sizes as operators write them: plain bytes or LVM-style binary suffixes.
#pragma once

#include <cstdint>
#include <string>

#include "copy/result.hpp"

namespace volmig {

// "4096", "512K", "512M", "8G", "1T", "1P", "2s" (512-byte sectors); suffixes are binary and
// case-insensitive, an optional trailing "B" or "iB" is accepted ("4KiB", "1GB" = 1 GiB, as lvm2
// reads it). Rejects empty text, signs, fractions, unknown suffixes and overflow.
Result<uint64_t> parse_size(const std::string& text);

// 1536 -> "1.5 KiB"; exact byte counts below 1 KiB.
std::string format_bytes(uint64_t bytes);

}  // namespace volmig
