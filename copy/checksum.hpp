// The checksum of a volume's logical content: every byte of [0, size), holes read as zeros.
//
// The content is cut into fixed 64 KiB chunks on a grid anchored at offset 0. Each chunk that
// is not all zeros contributes XXH3-128(chunk bytes, seed = chunk index); the checksum is the
// sum of the contributions modulo 2^128, finished with the size. Consequences that matter:
// - holes and zero chunks contribute nothing, so a thin volume is checksummed without reading
//   its holes, and the cost grows with data, not size;
// - chunks can be added in any order from any thread (partial sums merge by addition);
// - the chunk index is in the seed, so moved or swapped data changes the result.
// Both ends of a copy (and a remote peer) compute the same value for the same content.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace volmig {

constexpr uint64_t kChecksumChunk = 64 * 1024;

class ContentChecksum {
public:
    // Adds bytes that start at `offset` (a multiple of kChecksumChunk) and cover whole chunks,
    // except that the last chunk of the volume may be short. All-zero chunks add nothing.
    void add(uint64_t offset, const void* data, size_t length);
    void merge(const ContentChecksum& other);

    // "xxh3sum:<32 hex digits>" over the sum and the logical size.
    std::string finish(uint64_t volume_size) const;

    // A partial sum (a range or a slice of a volume, to be merged later) as text,
    // "xxh3part:<32 hex digits>", and back: nullopt for anything else.
    std::string partial() const;
    static std::optional<ContentChecksum> parse_partial(const std::string& text);
    bool operator==(const ContentChecksum& other) const { return sum_ == other.sum_; }
    bool operator!=(const ContentChecksum& other) const { return sum_ != other.sum_; }

private:
    unsigned __int128 sum_ = 0;
};

}  // namespace volmig
