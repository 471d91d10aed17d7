// Attaching a file (or a window of it) as a loop device with losetup, and detaching it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "copy/result.hpp"

namespace volmig {

// losetup --find --show [--offset O] [--sizelimit S] FILE -> "/dev/loopN".
Result<std::string> attach_loop(const std::string& file, uint64_t offset = 0, uint64_t size_limit = 0);
// losetup -d DEVICE. A device that is already gone is not an error.
Status detach_loop(const std::string& device);
// Whether DEVICE is a loop device currently attached to FILE (used after a restart).
bool loop_attached_to(const std::string& device, const std::string& file);
// Loop devices currently attached to FILE (the same inode), at `offset` when given: what a
// crash between losetup and recording the device left behind.
std::vector<std::string> loops_over(const std::string& file, std::optional<uint64_t> offset = std::nullopt);

}  // namespace volmig
