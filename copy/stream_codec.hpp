// Little-endian integers and record headers of the extent stream (copy/extent_stream.hpp).
// Internal to copy/.
#pragma once

#include <cstdint>

namespace volmig {

inline void put_u32(char* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
inline void put_u64(char* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
inline uint32_t get_u32(const char* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}
inline uint64_t get_u64(const char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}
inline void record_header(char* out, uint32_t kind, uint32_t aux, uint64_t offset, uint64_t length) {
    put_u32(out, kind);
    put_u32(out + 4, aux);
    put_u64(out + 8, offset);
    put_u64(out + 16, length);
}

}  // namespace volmig
