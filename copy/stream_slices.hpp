// How a volume is cut for parallel extent streams (copy/extent_stream.hpp): slices of about
// equal data on the checkpoint grid, and the grid a receiver picks. Pure functions over plain data.
#pragma once

#include <cstdint>
#include <vector>

#include "copy/extent.hpp"
#include "copy/extent_stream.hpp"

namespace volmig {

// Cuts [0, map.size()) into at most `count` contiguous slices whose boundaries lie on multiples
// of `checkpoint_bytes` and which hold about equal data bytes (by the extent map); fewer when
// the volume has too few grid cells or too little data (never an empty slice). from = start.
std::vector<StreamSlice> plan_slices(const ExtentMap& map, unsigned count, uint64_t checkpoint_bytes);

// The checkpoint grid for a volume carrying about `data_bytes` of data: a power
// of two, about data_bytes / 64 (a cut stream resends at most one range per slice: ~1.5% of the
// data), from 1 MiB to 64 MiB, and at least the block size.
uint64_t choose_checkpoint_bytes(uint64_t data_bytes, uint64_t block_size);

}  // namespace volmig
