// Zero detection: which blocks of a buffer are all zero bytes.
//
// Exact: any non-zero byte anywhere in a block makes it data. Fast: word-wise with early exit,
// so a data block usually costs a few loads and a zero block streams at memory speed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace volmig {

// True when all `length` bytes at `data` are zero (true for length 0).
bool is_zero(const void* data, size_t length);

// A run of consecutive blocks of one kind, relative to the start of the scanned buffer.
struct BlockRun {
    size_t offset = 0;
    size_t length = 0;
    bool zero = false;
};

// Splits `length` bytes into blocks of `block_size` (the last one may be shorter), classifies
// each as zero or data, and appends maximal runs of one kind to `runs` (which is cleared first).
void find_block_runs(const void* data, size_t length, size_t block_size, std::vector<BlockRun>& runs);

}  // namespace volmig
