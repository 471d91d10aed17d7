// What a volume path is: a regular file or a block device (a loop device is a block device
// whose backing file we can see), its size, and how much of it is allocated.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "copy/extent.hpp"
#include "copy/result.hpp"

namespace volmig {

enum class VolumeKind { regular_file, block_device };

// A loop device's view of its backing file: bytes [offset, offset + size) of `backing_file`.
struct LoopBacking {
    std::string device;        // /dev/loopN
    std::string backing_file;  // as the kernel reports it (sysfs)
    uint64_t offset = 0;
    uint64_t size_limit = 0;   // 0 = up to the end of the backing file
    dev_t backing_dev = 0;     // identity of the backing file, from LOOP_GET_STATUS64
    ino_t backing_inode = 0;
};

struct VolumeInfo {
    std::string path;
    VolumeKind kind = VolumeKind::regular_file;
    uint64_t size = 0;
    uint32_t logical_block_size = 512;  // alignment O_DIRECT needs on this volume
    dev_t device = 0;                   // st_dev (files) or st_rdev (block devices)
    ino_t inode = 0;                    // files only
    std::optional<LoopBacking> loop;
};

// Stats the path; for block devices reads the size and logical block size; for loop devices
// reads the backing file, offset and size limit. Errors name the path and the cause.
Result<VolumeInfo> inspect_volume(const std::string& path);

// Reads a loop device's backing (sysfs and LOOP_GET_STATUS64). Not a loop device: nullopt.
std::optional<LoopBacking> loop_backing(const std::string& device_path, dev_t rdev);

// True when both names refer to the same storage: the same file, the same device, or a loop
// device over the file (any overlap of its window counts).
bool same_storage(const VolumeInfo& a, const VolumeInfo& b);

// Allocation of a volume in bytes: what its storage has allocated for [0, size).
//  - regular file: st_blocks (includes unwritten extents: allocated, reading as zeros);
//  - loop device: the backing file's FIEMAP extents within the loop's window;
//  - other block devices: unknown (nullopt): the device does not say.
struct Allocation {
    uint64_t size = 0;
    std::optional<uint64_t> allocated;
    double data_percent() const {
        return allocated && size ? 100.0 * static_cast<double>(*allocated) / static_cast<double>(size) : 0.0;
    }
};
Result<Allocation> measure_allocation(const VolumeInfo& volume);

// Where a volume's data is, and how that was found out.
struct DiscoveredExtents {
    ExtentMap map;
    std::string method;  // e.g. "SEEK_DATA/SEEK_HOLE on /pool/volume-1"
};

// Source extent discovery: never report a range as a hole unless it is known to read as zeros.
//  - regular files: SEEK_DATA / SEEK_HOLE;
//  - loop devices: the backing file's SEEK_DATA/SEEK_HOLE within the window, after checking the
//    file at the sysfs path is the one the loop holds (same device and inode);
//  - other block devices: everything is data.
// A loop device whose backing file cannot be checked falls back to "all data", and says why.
Result<DiscoveredExtents> discover_extents(const VolumeInfo& volume);

// Opens a loop device's backing file with `flags`, checking that the file at the sysfs path is
// the one the loop holds (same device and inode).
Result<class Fd> open_loop_backing_file(const LoopBacking& loop, int flags);

// SEEK_DATA/SEEK_HOLE over [start, start + length) of an open file, as extents relative to start.
Result<ExtentMap> seek_data_extents(int fd, const std::string& path, uint64_t start, uint64_t length);

}  // namespace volmig
