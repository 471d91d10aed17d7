#include "copy/destination.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace volmig {

namespace {

std::string sysfs_of(const VolumeInfo& v) {
    return "/sys/dev/block/" + std::to_string(major(v.device)) + ":" + std::to_string(minor(v.device));
}

// A loop device volmig may write through its backing file: not read-only, not partitioned.
bool loop_bypassable(const VolumeInfo& v) {
    if (!v.loop || !v.loop->backing_inode) return false;
    std::ifstream ro(sysfs_of(v) + "/ro");
    int read_only = 1;
    if (!(ro >> read_only) || read_only) return false;
    const std::string name = v.loop->device.substr(v.loop->device.find_last_of('/') + 1);
    DIR* dir = ::opendir(sysfs_of(v).c_str());
    if (!dir) return false;
    bool partitioned = false;
    while (dirent* e = ::readdir(dir))
        if (std::string(e->d_name).rfind(name + "p", 0) == 0) partitioned = true;
    ::closedir(dir);
    return !partitioned;
}

}  // namespace

bool DestinationWriter::bypass_loop(const VolumeInfo& volume, std::vector<std::string>& warnings) {
    if (!loop_bypassable(volume)) return false;
    // Whatever the device has cached or dirty goes first: it must not land on our bytes later.
    if (::fsync(device_fd_.get()) != 0 || ::ioctl(device_fd_.get(), BLKFLSBUF, 0) != 0) return false;
    auto backing = open_loop_backing_file(*volume.loop, O_WRONLY);
    if (!backing) {
        warnings.push_back("writing through " + volume.path + " itself: " + backing.error().message);
        return false;
    }
    fd_ = std::move(*backing);
    base_ = volume.loop->offset;
    target_.path = volume.path + " (backing file " + volume.loop->backing_file + ")";
    target_.kind = VolumeKind::regular_file;
    target_.logical_block_size = 4096;
    target_.loop.reset();
    bypass_note_ = "written through " + volume.loop->backing_file + ", the backing file of " + volume.path;
    return true;
}

Result<std::unique_ptr<DestinationWriter>> DestinationWriter::open(const VolumeInfo& volume, IoMode io, uint64_t block_size,
                                                                   std::vector<std::string>& warnings) {
    auto w = std::unique_ptr<DestinationWriter>(new DestinationWriter(volume));
    if (volume.loop && io != IoMode::direct) {
        w->device_fd_ = Fd(::open(volume.path.c_str(), O_WRONLY | O_CLOEXEC | O_EXCL));
        if (!w->device_fd_) {
            if (errno == EBUSY)
                return Error{"destination " + volume.path + " is in use (mounted, or held open exclusively): unmount or release it first",
                             EBUSY, ErrorKind::refused};
            return errno_error("cannot open destination " + volume.path + " for writing").with_kind(ErrorKind::refused);
        }
        if (w->bypass_loop(volume, warnings)) return w;
        w->device_fd_.reset();
    }
    const int excl = volume.kind == VolumeKind::block_device ? O_EXCL : 0;
    w->fd_ = Fd(::open(volume.path.c_str(), O_WRONLY | O_CLOEXEC | excl));
    if (!w->fd_) {
        if (errno == EBUSY)
            return Error{"destination " + volume.path + " is in use (mounted, or held open exclusively): unmount or release it first", EBUSY,
                         ErrorKind::refused};
        return errno_error("cannot open destination " + volume.path + " for writing").with_kind(ErrorKind::refused);
    }
    if (io == IoMode::buffered || (io == IoMode::automatic && volume.kind == VolumeKind::regular_file)) return w;
    if (block_size % volume.logical_block_size != 0) {
        const std::string why = "O_DIRECT not used on " + volume.path + ": block size " + std::to_string(block_size) +
                                " is not a multiple of its alignment " + std::to_string(volume.logical_block_size);
        if (io == IoMode::direct)
            return Error{why + "; choose --block-size " + std::to_string(volume.logical_block_size) + " or more", ErrorKind::refused};
        warnings.push_back(why);
        return w;
    }
    w->direct_fd_ = Fd(::open(volume.path.c_str(), O_WRONLY | O_CLOEXEC | O_DIRECT));
    if (!w->direct_fd_) {
        const Error e = errno_error("cannot open " + volume.path + " with O_DIRECT");
        if (io == IoMode::direct) return Error{e.message + "; run without --direct", e.code, ErrorKind::refused};
        warnings.push_back(e.message + "; writing through the page cache");
    }
    return w;
}

Status DestinationWriter::write(uint64_t offset, const char* buf, uint64_t length) {
    const uint64_t align = volume_.logical_block_size;
    uint64_t direct_len = 0;
    if (direct() && offset % align == 0 && reinterpret_cast<uintptr_t>(buf) % align == 0) direct_len = align_down(length, align);
    if (direct_len) {
        Status s = write_all(direct_fd_.get(), offset, buf, direct_len);
        if (!s.ok()) return s;
    }
    if (direct_len < length) {
        Status s = write_all(fd_.get(), base_ + offset + direct_len, buf + direct_len, length - direct_len);
        if (!s.ok()) return s;
        buffered_since_sync_ = true;
    }
    return success();
}

void DestinationWriter::write_behind(uint64_t offset, uint64_t length, WorkItem& previous) {
    if (direct() && !buffered_since_sync_) return;
    ::sync_file_range(fd_.get(), static_cast<off_t>(base_ + offset), static_cast<off_t>(length), SYNC_FILE_RANGE_WRITE);
    if (previous.length) {
        ::sync_file_range(fd_.get(), static_cast<off_t>(base_ + previous.offset), static_cast<off_t>(previous.length),
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
        ::posix_fadvise(fd_.get(), static_cast<off_t>(base_ + previous.offset), static_cast<off_t>(previous.length), POSIX_FADV_DONTNEED);
    }
    previous = {offset, length, false};
}

Status DestinationWriter::sync() {
    if (::fsync(fd_.get()) != 0) return errno_error("fsync of destination " + target_.path);
    // Written through the backing file: drop what the loop device may have cached of the old bytes.
    if (device_fd_ && ::ioctl(device_fd_.get(), BLKFLSBUF, 0) != 0) return errno_error("BLKFLSBUF on " + volume_.path);
    return success();
}

Status DestinationWriter::sync_data() {
    if (::fdatasync(fd_.get()) != 0) return errno_error("fdatasync of destination " + target_.path);
    return success();
}

Status DestinationWriter::write_all(int fd, uint64_t offset, const char* buf, uint64_t length) {
    uint64_t done = 0;
    while (done < length) {
        const ssize_t n = ::pwrite(fd, buf + done, length - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            std::string hint;
            if (err == ENOSPC) hint = " (the destination's storage is full: free space or grow the pool, then retry)";
            return Error{"write error on destination " + target_.path + " at offset " + std::to_string(offset + done - base_) + ": " +
                             std::strerror(err) + hint,
                         err};
        }
        if (n == 0)
            return Error{"short write on destination " + target_.path + " at offset " + std::to_string(offset + done - base_) +
                         ": the device accepted no more bytes"};
        done += static_cast<uint64_t>(n);
    }
    return success();
}

Status ZeroBatch::add(uint64_t offset, uint64_t length) {
    if (strategy_ == Strategy::sparse) {
        tally_.skipped += length;
        return success();
    }
    if (length_ && offset == offset_ + length_) {
        length_ += length;
        return success();
    }
    Status s = flush();
    offset_ = offset;
    length_ = length;
    return s;
}

Status ZeroBatch::flush() {
    if (!length_) return success();
    const bool release = strategy_ == Strategy::full_then_discard;
    auto method = zeroer_.zero(offset_, length_, release ? ZeroIntent::release : ZeroIntent::keep_allocated);
    if (!method) return method.error();
    // Released means the space was given back; a fallback that wrote zeros only zeroed.
    (*method == ZeroMethod::punch_hole ? tally_.released : tally_.zeroed) += length_;
    length_ = 0;
    return success();
}

}  // namespace volmig
