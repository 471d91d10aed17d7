// Writing a destination volume: data through O_DIRECT where the alignment allows (else the page
// cache, with write-behind so memory stays flat), and zero ranges skipped, zeroed or released as
// the strategy says. Shared by the native engine and the extent-stream receiver. Internal to copy/.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "copy/copy.hpp"
#include "copy/fd.hpp"
#include "copy/strategy.hpp"
#include "copy/unit_io.hpp"
#include "copy/volume.hpp"
#include "copy/zeroing.hpp"

namespace volmig {

class DestinationWriter {
public:
    // Opens `volume` for writing (block devices with O_EXCL: EBUSY while mounted or held).
    // A loop device (not partitioned, not read-only) is written through its backing file, as its
    // extents are read through it, unless IoMode::direct: one page cache instead of two and no
    // loop worker in the way. The device stays held with O_EXCL for the whole copy (no mounts),
    // is flushed before, and its page cache is invalidated by sync().
    // O_DIRECT: always with IoMode::direct; with automatic, for block devices only. Regular files
    // are written through the page cache with write-behind: measured here, that keeps the disk
    // busier than O_DIRECT (whose many mid-sized allocating writes into a new file serialize on
    // the inode lock) and reaches the disk's own rate. Block devices go direct so that a loop
    // device's bytes are not cached twice. Fallbacks are appended to `warnings`; with
    // IoMode::direct they are errors instead.
    static Result<std::unique_ptr<DestinationWriter>> open(const VolumeInfo& volume, IoMode io, uint64_t block_size,
                                                           std::vector<std::string>& warnings);

    int fd() const { return fd_.get(); }
    bool direct() const { return direct_fd_.get() >= 0; }
    const VolumeInfo& volume() const { return volume_; }
    // What fd() writes: the volume itself, or a loop device's backing file (see open()), and the
    // offset of the volume in it. Range zeroing works on these.
    const VolumeInfo& target() const { return target_; }
    uint64_t base() const { return base_; }
    // Non-empty when the bytes go to a loop device's backing file instead of through the loop.
    const std::string& bypass_note() const { return bypass_note_; }

    // Writes all of buf; errors name path, offset and cause (ENOSPC with what to do).
    Status write(uint64_t offset, const char* buf, uint64_t length);
    // Page-cache writes: start writeback of this range, wait for and drop the previous one.
    void write_behind(uint64_t offset, uint64_t length, WorkItem& previous);
    Status sync();
    // fdatasync of what fd() writes: the bytes written so far are durable (a checkpoint).
    Status sync_data();

private:
    explicit DestinationWriter(const VolumeInfo& v) : volume_(v), target_(v) {}
    bool bypass_loop(const VolumeInfo& volume, std::vector<std::string>& warnings);
    Status write_all(int fd, uint64_t offset, const char* buf, uint64_t length);

    VolumeInfo volume_;
    VolumeInfo target_;
    uint64_t base_ = 0;
    std::string bypass_note_;
    Fd device_fd_;  // the loop device, held exclusively while its backing file is written
    Fd fd_, direct_fd_;
    std::atomic<bool> buffered_since_sync_{false};
};

// Bytes of zero ranges by what became of them.
struct ZeroTally {
    uint64_t skipped = 0, zeroed = 0, released = 0;
};

// One writer's pending zero range: adjacent ranges merge into one zeroing call. sparse skips,
// full zeroes keeping the allocation, full+discard releases.
class ZeroBatch {
public:
    ZeroBatch(Strategy strategy, RangeZeroer& zeroer, ZeroTally& tally) : strategy_(strategy), zeroer_(zeroer), tally_(tally) {}
    Status add(uint64_t offset, uint64_t length);
    Status flush();

private:
    Strategy strategy_;
    RangeZeroer& zeroer_;
    ZeroTally& tally_;
    uint64_t offset_ = 0, length_ = 0;
};

}  // namespace volmig
