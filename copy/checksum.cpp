#include "copy/checksum.hpp"

#include <cstdio>
#include <cstring>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "copy/zero_detect.hpp"

namespace volmig {

void ContentChecksum::add(uint64_t offset, const void* data, size_t length) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t pos = 0; pos < length; pos += kChecksumChunk) {
        const size_t n = length - pos < kChecksumChunk ? length - pos : kChecksumChunk;
        if (is_zero(p + pos, n)) continue;
        const uint64_t index = (offset + pos) / kChecksumChunk;
        const XXH128_hash_t h = XXH3_128bits_withSeed(p + pos, n, index);
        sum_ += (static_cast<unsigned __int128>(h.high64) << 64) | h.low64;
    }
}

void ContentChecksum::merge(const ContentChecksum& other) { sum_ += other.sum_; }

std::string ContentChecksum::finish(uint64_t volume_size) const {
    unsigned char material[24];
    const uint64_t lo = static_cast<uint64_t>(sum_), hi = static_cast<uint64_t>(sum_ >> 64);
    std::memcpy(material, &lo, 8);
    std::memcpy(material + 8, &hi, 8);
    std::memcpy(material + 16, &volume_size, 8);
    const XXH128_hash_t h = XXH3_128bits(material, sizeof material);
    char out[48];
    std::snprintf(out, sizeof out, "xxh3sum:%016llx%016llx", static_cast<unsigned long long>(h.high64),
                  static_cast<unsigned long long>(h.low64));
    return out;
}

std::string ContentChecksum::partial() const {
    char out[48];
    std::snprintf(out, sizeof out, "xxh3part:%016llx%016llx", static_cast<unsigned long long>(sum_ >> 64),
                  static_cast<unsigned long long>(static_cast<uint64_t>(sum_)));
    return out;
}

std::optional<ContentChecksum> ContentChecksum::parse_partial(const std::string& text) {
    static const std::string prefix = "xxh3part:";
    if (text.size() != prefix.size() + 32 || text.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
    unsigned __int128 v = 0;
    for (size_t i = prefix.size(); i < text.size(); ++i) {
        const char c = text[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return std::nullopt;
        v = (v << 4) | static_cast<unsigned>(d);
    }
    ContentChecksum out;
    out.sum_ = v;
    return out;
}

}  // namespace volmig
