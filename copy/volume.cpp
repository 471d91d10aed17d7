#include "copy/volume.hpp"

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <memory>
#include <vector>

#include "copy/fd.hpp"

namespace volmig {

namespace {

std::optional<std::string> read_sysfs_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) return std::nullopt;
    return line;
}

std::optional<uint64_t> read_sysfs_number(const std::string& path) {
    auto line = read_sysfs_line(path);
    if (!line || line->empty()) return std::nullopt;
    try {
        return std::stoull(*line);
    } catch (...) {
        return std::nullopt;
    }
}

// The kernel encodes lo_device with new_encode_dev(); turn it back into a dev_t.
dev_t decode_kernel_dev(uint64_t encoded) {
    const unsigned maj = static_cast<unsigned>((encoded & 0xfff00) >> 8);
    const unsigned min = static_cast<unsigned>((encoded & 0xff) | ((encoded >> 12) & 0xfff00));
    return makedev(maj, min);
}

}  // namespace

std::optional<LoopBacking> loop_backing(const std::string& device_path, dev_t rdev) {
    const std::string sys = "/sys/dev/block/" + std::to_string(major(rdev)) + ":" + std::to_string(minor(rdev)) + "/loop/";
    auto file = read_sysfs_line(sys + "backing_file");
    if (!file) return std::nullopt;
    LoopBacking loop;
    loop.device = device_path;
    loop.backing_file = *file;
    loop.offset = read_sysfs_number(sys + "offset").value_or(0);
    loop.size_limit = read_sysfs_number(sys + "sizelimit").value_or(0);
    Fd fd(::open(device_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd) {
        struct loop_info64 info {};
        if (::ioctl(fd.get(), LOOP_GET_STATUS64, &info) == 0) {
            loop.backing_dev = decode_kernel_dev(info.lo_device);
            loop.backing_inode = static_cast<ino_t>(info.lo_inode);
            loop.offset = info.lo_offset;
            loop.size_limit = info.lo_sizelimit;
        }
    }
    return loop;
}

Result<VolumeInfo> inspect_volume(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return errno_error("cannot access volume " + path);
    VolumeInfo info;
    info.path = path;
    if (S_ISREG(st.st_mode)) {
        info.kind = VolumeKind::regular_file;
        info.size = static_cast<uint64_t>(st.st_size);
        info.device = st.st_dev;
        info.inode = st.st_ino;
        info.logical_block_size = 4096;  // safe O_DIRECT alignment on every Linux filesystem we use
        return info;
    }
    if (!S_ISBLK(st.st_mode))
        return Error{path + " is neither a regular file nor a block device: volmig copies volumes (files or block devices)"};
    info.kind = VolumeKind::block_device;
    info.device = st.st_rdev;
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return errno_error("cannot open block device " + path);
    uint64_t bytes = 0;
    if (::ioctl(fd.get(), BLKGETSIZE64, &bytes) != 0) return errno_error("cannot read the size of " + path + " (BLKGETSIZE64)");
    int lbs = 512;
    if (::ioctl(fd.get(), BLKSSZGET, &lbs) == 0 && lbs > 0) info.logical_block_size = static_cast<uint32_t>(lbs);
    info.size = bytes;
    info.loop = loop_backing(path, st.st_rdev);
    return info;
}

bool same_storage(const VolumeInfo& a, const VolumeInfo& b) {
    if (a.kind == b.kind) {
        if (a.kind == VolumeKind::block_device) {
            if (a.device == b.device) return true;
            // Two loop devices over the same backing file.
            return a.loop && b.loop && a.loop->backing_inode && a.loop->backing_dev == b.loop->backing_dev &&
                   a.loop->backing_inode == b.loop->backing_inode;
        }
        return a.device == b.device && a.inode == b.inode;
    }
    const VolumeInfo& file = a.kind == VolumeKind::regular_file ? a : b;
    const VolumeInfo& dev = a.kind == VolumeKind::regular_file ? b : a;
    return dev.loop && dev.loop->backing_inode == file.inode && dev.loop->backing_dev == file.device;
}

Result<ExtentMap> seek_data_extents(int fd, const std::string& path, uint64_t start, uint64_t length) {
    std::vector<Extent> extents;
    const uint64_t end = start + length;
    off_t pos = static_cast<off_t>(start);
    while (static_cast<uint64_t>(pos) < end) {
        const off_t data = ::lseek(fd, pos, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO) break;  // no data at or after pos
            if (errno == EINVAL && extents.empty())  // filesystem without SEEK_DATA: all data
                return ExtentMap::all_data(length);
            return errno_error("SEEK_DATA on " + path + " at offset " + std::to_string(pos));
        }
        if (static_cast<uint64_t>(data) >= end) break;
        off_t hole = ::lseek(fd, data, SEEK_HOLE);
        if (hole < 0) return errno_error("SEEK_HOLE on " + path + " at offset " + std::to_string(data));
        const uint64_t stop = std::min<uint64_t>(static_cast<uint64_t>(hole), end);
        extents.push_back({static_cast<uint64_t>(data) - start, stop - static_cast<uint64_t>(data)});
        pos = hole;
    }
    return ExtentMap(length, std::move(extents));
}

namespace {

uint64_t loop_window(const LoopBacking& loop, uint64_t device_size) {
    return loop.size_limit ? std::min(loop.size_limit, device_size) : device_size;
}

Result<Fd> open_loop_backing(const LoopBacking& loop) { return open_loop_backing_file(loop, O_RDONLY); }

}  // namespace

Result<Fd> open_loop_backing_file(const LoopBacking& loop, int flags) {
    std::string name = loop.backing_file;
    const std::string deleted = " (deleted)";
    if (name.size() > deleted.size() && name.compare(name.size() - deleted.size(), deleted.size(), deleted) == 0)
        return Error{"backing file of " + loop.device + " was deleted"};
    Fd fd(::open(name.c_str(), flags | O_CLOEXEC));
    if (!fd) return errno_error("cannot open " + name + ", the backing file of " + loop.device);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return errno_error("cannot stat " + name);
    if (loop.backing_inode && (st.st_ino != loop.backing_inode || st.st_dev != loop.backing_dev))
        return Error{name + " is not the file " + loop.device + " holds (replaced or in another mount namespace)"};
    return fd;
}

Result<DiscoveredExtents> discover_extents(const VolumeInfo& volume) {
    if (volume.kind == VolumeKind::regular_file) {
        Fd fd(::open(volume.path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) return errno_error("cannot open " + volume.path);
        auto map = seek_data_extents(fd.get(), volume.path, 0, volume.size);
        if (!map) return map.take_error();
        return DiscoveredExtents{std::move(*map), "SEEK_DATA/SEEK_HOLE on " + volume.path};
    }
    if (volume.loop) {
        auto fd = open_loop_backing(*volume.loop);
        if (!fd)
            return DiscoveredExtents{ExtentMap::all_data(volume.size),
                                     "all data: " + fd.error().message};
        const uint64_t window = loop_window(*volume.loop, volume.size);
        auto map = seek_data_extents(fd->get(), volume.loop->backing_file, volume.loop->offset, window);
        if (!map)
            return DiscoveredExtents{ExtentMap::all_data(volume.size), "all data: " + map.error().message};
        // Bytes of the device beyond the end of the backing file read as zeros: already holes.
        return DiscoveredExtents{ExtentMap(volume.size, map->data()),
                                 "SEEK_DATA/SEEK_HOLE on " + volume.loop->backing_file + ", the backing file of " + volume.path};
    }
    return DiscoveredExtents{ExtentMap::all_data(volume.size),
                             "all data: " + volume.path + " is a block device with no extent map (pass one to skip unallocated ranges)"};
}

namespace {

// Sum of FIEMAP extent bytes that fall inside [start, start + length) of the open file.
Result<uint64_t> fiemap_allocated(int fd, const std::string& path, uint64_t start, uint64_t length) {
    constexpr unsigned kBatch = 512;
    std::vector<char> storage(sizeof(struct fiemap) + kBatch * sizeof(struct fiemap_extent));
    auto* fm = reinterpret_cast<struct fiemap*>(storage.data());
    const uint64_t end = start + length;
    uint64_t pos = start, total = 0;
    while (pos < end) {
        std::fill(storage.begin(), storage.end(), 0);
        fm->fm_start = pos;
        fm->fm_length = end - pos;
        fm->fm_flags = FIEMAP_FLAG_SYNC;
        fm->fm_extent_count = kBatch;
        if (::ioctl(fd, FS_IOC_FIEMAP, fm) != 0) return errno_error("FIEMAP on " + path);
        if (fm->fm_mapped_extents == 0) break;
        bool last = false;
        for (unsigned i = 0; i < fm->fm_mapped_extents; ++i) {
            const struct fiemap_extent& e = fm->fm_extents[i];
            const uint64_t a = std::max<uint64_t>(e.fe_logical, start);
            const uint64_t b = std::min<uint64_t>(e.fe_logical + e.fe_length, end);
            if (b > a) total += b - a;
            pos = e.fe_logical + e.fe_length;
            if (e.fe_flags & FIEMAP_EXTENT_LAST) last = true;
        }
        if (last) break;
    }
    return total;
}

}  // namespace

Result<Allocation> measure_allocation(const VolumeInfo& volume) {
    Allocation a;
    a.size = volume.size;
    if (volume.kind == VolumeKind::regular_file) {
        struct stat st {};
        if (::stat(volume.path.c_str(), &st) != 0) return errno_error("cannot stat " + volume.path);
        a.allocated = static_cast<uint64_t>(st.st_blocks) * 512;
        return a;
    }
    if (!volume.loop) return a;
    auto fd = open_loop_backing(*volume.loop);
    if (!fd) return a;
    const uint64_t window = loop_window(*volume.loop, volume.size);
    struct stat st {};
    if (volume.loop->offset == 0 && ::fstat(fd->get(), &st) == 0 && static_cast<uint64_t>(st.st_size) <= window) {
        a.allocated = static_cast<uint64_t>(st.st_blocks) * 512;
        return a;
    }
    auto bytes = fiemap_allocated(fd->get(), volume.loop->backing_file, volume.loop->offset, window);
    if (bytes) a.allocated = *bytes;
    return a;
}

}  // namespace volmig
