// What the fuzz targets share: the libFuzzer entry point, a property check that fails the
// run the way a crash does (so libFuzzer saves the input), and a reader that takes typed
// values off the front of the fuzz data (its own, not libFuzzer's FuzzedDataProvider, so that
// the targets also build with g++ for the corpus replay).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace volmig::fuzz {

// A property the target asserts besides "no crash": prints what was violated and aborts.
inline void check(bool holds, const std::string& property) {
    if (holds) return;
    std::fprintf(stderr, "fuzz: property violated: %s\n", property.c_str());
    std::abort();
}

// Whether nlohmann's strict serialization takes this text: UTF-8 as JSON output needs it.
inline bool serializes_as_json(const std::string& text) {
    try {
        (void)nlohmann::json(text).dump();
        return true;
    } catch (const nlohmann::json::type_error&) {
        return false;
    }
}

// Typed values from the front of the data; past the end every read gives zeros (or empty).
class ByteReader {
  public:
    ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

    uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
    uint64_t integer(unsigned bytes) {  // little-endian, up to 8 bytes
        uint64_t v = 0;
        for (unsigned i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(byte()) << (8 * i);
        return v;
    }
    // A string of up to `max` bytes, its length taken from one byte.
    std::string text(size_t max) {
        size_t n = byte() % (max + 1);
        n = n < size_ - pos_ ? n : size_ - pos_;
        std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
        pos_ += n;
        return s;
    }
    // Everything not read yet.
    std::string rest() {
        std::string s(reinterpret_cast<const char*>(data_ + pos_), size_ - pos_);
        pos_ = size_;
        return s;
    }

  private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

}  // namespace volmig::fuzz
