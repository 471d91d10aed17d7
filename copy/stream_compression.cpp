#include "copy/stream_compression.hpp"

#include <zstd.h>

#include <new>
#include <string>

#include "copy/extent_stream.hpp"

namespace volmig {

RecordCompressor::RecordCompressor() : context_(ZSTD_createCCtx()) {
    if (!context_) throw std::bad_alloc();
    ZSTD_CCtx_setParameter(static_cast<ZSTD_CCtx*>(context_), ZSTD_c_compressionLevel, kStreamZstdLevel);
    ZSTD_CCtx_setParameter(static_cast<ZSTD_CCtx*>(context_), ZSTD_c_contentSizeFlag, 1);
}
RecordCompressor::~RecordCompressor() { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(context_)); }

bool RecordCompressor::compress(const char* data, size_t length, std::vector<char>& out) {
    // Only a result below the threshold is useful: zstd stops early when it cannot fit.
    const size_t limit = length * kCompressNumerator / kCompressDenominator;
    if (limit == 0) return false;
    out.resize(limit);
    const size_t n = ZSTD_compress2(static_cast<ZSTD_CCtx*>(context_), out.data(), out.size(), data, length);
    if (ZSTD_isError(n) || n == 0 || n >= limit) return false;
    out.resize(n);
    return true;
}

RecordDecompressor::RecordDecompressor() : context_(ZSTD_createDCtx()) {
    if (!context_) throw std::bad_alloc();
}
RecordDecompressor::~RecordDecompressor() { ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(context_)); }

Status RecordDecompressor::decompress(const char* in, size_t in_length, char* out, size_t length) {
    // The frame must say its own size, and say `length`: checked before any output is produced.
    const unsigned long long declared = ZSTD_getFrameContentSize(in, in_length);
    if (declared == ZSTD_CONTENTSIZE_ERROR) return Error{"the ZDATA payload is not a zstd frame", ErrorKind::invalid};
    if (declared != length)
        return Error{"the ZDATA frame declares " +
                         (declared == ZSTD_CONTENTSIZE_UNKNOWN ? std::string("no size") : std::to_string(declared) + " bytes") +
                         ", the record " + std::to_string(length),
                     ErrorKind::invalid};
    const size_t frame = ZSTD_findFrameCompressedSize(in, in_length);
    if (ZSTD_isError(frame) || frame != in_length)
        return Error{"the ZDATA payload is not exactly one zstd frame", ErrorKind::invalid};
    const size_t n = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(context_), out, length, in, in_length);
    if (ZSTD_isError(n)) return Error{std::string("the ZDATA frame does not decompress: ") + ZSTD_getErrorName(n), ErrorKind::invalid};
    if (n != length)
        return Error{"the ZDATA frame decompressed to " + std::to_string(n) + " bytes, the record declares " + std::to_string(length),
                     ErrorKind::invalid};
    return success();
}

bool CompressionGate::should_try() {
    int left = skip_left_.load();
    while (left > 0) {
        if (skip_left_.compare_exchange_weak(left, left - 1)) {
            skipped_.fetch_add(1);
            return false;
        }
    }
    return true;
}

void CompressionGate::record(bool shrank) {
    if (shrank) {
        misses_ = 0;
        return;
    }
    if (misses_.fetch_add(1) + 1 >= kMisses) {
        misses_ = 0;
        skip_left_ = kSkip;
    }
}

}  // namespace volmig
