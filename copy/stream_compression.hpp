// zstd for the extent stream's ZDATA records (copy/extent_stream.hpp): compressing a record
// where it pays, decompressing one into exactly the bytes it declares, and the gate that stops
// a sender from spending CPU on data that does not shrink. Internal to copy/.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "copy/result.hpp"

namespace volmig {

// zstd level 1: measured here (DESIGN.md "The extent stream") it compresses text and binaries
// at several hundred MB/s per core; higher levels cost more CPU than they save on the wire at
// the link speeds volmig meets.
constexpr int kStreamZstdLevel = 1;

// One thread's compressor (a zstd context is not shared between threads).
class RecordCompressor {
public:
    RecordCompressor();
    ~RecordCompressor();
    RecordCompressor(const RecordCompressor&) = delete;
    RecordCompressor& operator=(const RecordCompressor&) = delete;
    // Compresses [data, data + length) into out; true when the result is smaller than 7/8 of
    // `length` (the record is worth sending compressed), false otherwise (send it raw).
    bool compress(const char* data, size_t length, std::vector<char>& out);

private:
    void* context_;
};

// One thread's decompressor.
class RecordDecompressor {
public:
    RecordDecompressor();
    ~RecordDecompressor();
    RecordDecompressor(const RecordDecompressor&) = delete;
    RecordDecompressor& operator=(const RecordDecompressor&) = delete;
    // Decompresses the frame [in, in + in_length) into out[0, length); an error (invalid) unless
    // it is one valid zstd frame of exactly `length` bytes. Never writes past out + length.
    Status decompress(const char* in, size_t in_length, char* out, size_t length);

private:
    void* context_;
};

// Shared by the sender's workers (and slices): after kMisses records in a row that did not
// shrink, the next kSkip records are sent raw without trying, then compression is tried again.
// Incompressible data (random, already compressed, encrypted) then costs about 1/30 of the CPU
// of compressing all of it, and data that compresses again is noticed within kSkip records.
class CompressionGate {
public:
    static constexpr int kMisses = 8, kSkip = 256;
    bool should_try();
    void record(bool shrank);
    uint64_t skipped() const { return skipped_.load(); }

private:
    std::atomic<int> misses_{0};
    std::atomic<int> skip_left_{0};
    std::atomic<uint64_t> skipped_{0};
};

}  // namespace volmig
