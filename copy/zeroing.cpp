#include "copy/zeroing.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <vector>

#include "copy/fd.hpp"

namespace volmig {

std::string to_string(ZeroMethod method) {
    switch (method) {
        case ZeroMethod::punch_hole: return "fallocate PUNCH_HOLE";
        case ZeroMethod::blkzeroout: return "BLKZEROOUT";
        case ZeroMethod::zero_range: return "fallocate ZERO_RANGE";
        case ZeroMethod::write_zeros: return "writing zeros";
    }
    return "?";
}

namespace {

bool is_unsupported(int err) {
    return err == EOPNOTSUPP || err == ENOTTY || err == ENOSYS || err == ENODEV || err == EINVAL;
}

const std::vector<ZeroMethod>& method_order(VolumeKind kind, ZeroIntent intent) {
    static const std::vector<ZeroMethod> file_release{ZeroMethod::punch_hole, ZeroMethod::zero_range, ZeroMethod::write_zeros};
    static const std::vector<ZeroMethod> block_release{ZeroMethod::punch_hole, ZeroMethod::blkzeroout, ZeroMethod::write_zeros};
    static const std::vector<ZeroMethod> file_keep{ZeroMethod::zero_range, ZeroMethod::write_zeros};
    static const std::vector<ZeroMethod> block_keep{ZeroMethod::blkzeroout, ZeroMethod::write_zeros};
    if (kind == VolumeKind::regular_file) return intent == ZeroIntent::release ? file_release : file_keep;
    return intent == ZeroIntent::release ? block_release : block_keep;
}

constexpr size_t kZeroBufferSize = 1 << 20;

const char* zero_buffer() {
    static const std::vector<char> zeros(kZeroBufferSize, 0);
    return zeros.data();
}

}  // namespace

RangeZeroer::RangeZeroer(int fd, const VolumeInfo& volume, std::function<void(const std::string&)> log, uint64_t base)
    : fd_(fd), volume_(volume), base_(base), log_(std::move(log)) {
    for (auto& flag : unsupported_) flag = false;
    for (auto& used : last_used_) used = -1;
}

Status RangeZeroer::write_zeros(uint64_t offset, uint64_t length) {
    while (length > 0) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(length, kZeroBufferSize));
        const ssize_t w = ::pwrite(fd_, zero_buffer(), n, static_cast<off_t>(base_ + offset));
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno_error("writing zeros to " + volume_.path + " at offset " + std::to_string(offset));
        }
        if (w == 0) return Error{"writing zeros to " + volume_.path + " at offset " + std::to_string(offset) + ": no progress"};
        offset += static_cast<uint64_t>(w);
        length -= static_cast<uint64_t>(w);
    }
    return success();
}

Status RangeZeroer::try_method(ZeroMethod method, uint64_t offset, uint64_t length, bool* unsupported) {
    *unsupported = false;
    int rc = 0;
    switch (method) {
        case ZeroMethod::punch_hole:
            rc = ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(base_ + offset), static_cast<off_t>(length));
            break;
        case ZeroMethod::zero_range:
            rc = ::fallocate(fd_, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(base_ + offset), static_cast<off_t>(length));
            break;
        case ZeroMethod::blkzeroout: {
            uint64_t range[2] = {base_ + offset, length};
            rc = ::ioctl(fd_, BLKZEROOUT, range);
            break;
        }
        case ZeroMethod::write_zeros:
            return write_zeros(offset, length);
    }
    if (rc == 0) return success();
    const int err = errno;
    if (is_unsupported(err)) {
        *unsupported = true;
        return success();
    }
    return errno_error(to_string(method) + " on " + volume_.path + " at offset " + std::to_string(offset) + ", length " +
                           std::to_string(length),
                       err);
}

Result<ZeroMethod> RangeZeroer::zero(uint64_t offset, uint64_t length, ZeroIntent intent) {
    if (length == 0) return ZeroMethod::punch_hole;
    // Block devices only take whole logical blocks; a ragged range is written as zeros.
    const uint64_t lbs = volume_.logical_block_size;
    const bool aligned = volume_.kind == VolumeKind::regular_file || (offset % lbs == 0 && length % lbs == 0);
    for (ZeroMethod method : method_order(volume_.kind, intent)) {
        const auto index = static_cast<size_t>(method);
        if (method != ZeroMethod::write_zeros && (!aligned || unsupported_[index].load())) continue;
        bool unsupported = false;
        Status s = try_method(method, offset, length, &unsupported);
        if (!s.ok()) return s.error();
        if (!unsupported) {
            last_used_[static_cast<size_t>(intent)] = static_cast<int>(method);
            return method;
        }
        if (!unsupported_[index].exchange(true) && log_) {
            std::lock_guard<std::mutex> lock(log_mutex_);
            log_(volume_.path + ": " + to_string(method) + " is not supported here; falling back to the next method");
        }
    }
    return Error{"no way to zero " + volume_.path + " at offset " + std::to_string(offset)};
}

std::string RangeZeroer::method_used(ZeroIntent intent) const {
    const int used = last_used_[static_cast<size_t>(intent)].load();
    return used < 0 ? std::string() : to_string(static_cast<ZeroMethod>(used));
}

bool RangeZeroer::probe_release(const VolumeInfo& volume, std::string* how) {
    if (volume.kind == VolumeKind::regular_file) {
        Fd fd(::open(volume.path.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd) {
            if (how) *how = "cannot open " + volume.path + " to probe hole punching";
            return false;
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) return false;
        // Punching beyond end of file changes nothing but still asks the filesystem.
        const int rc = ::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, st.st_size + 65536, 4096);
        if (how) *how = rc == 0 ? "the filesystem of " + volume.path + " punches holes" : "the filesystem of " + volume.path + " cannot punch holes";
        return rc == 0;
    }
    std::ifstream in("/sys/dev/block/" + std::to_string(major(volume.device)) + ":" + std::to_string(minor(volume.device)) +
                     "/queue/write_zeroes_max_bytes");
    uint64_t max_bytes = 0;
    if (!(in >> max_bytes)) max_bytes = 0;
    if (how)
        *how = max_bytes > 0 ? volume.path + " supports write-zeroes (fallocate PUNCH_HOLE releases and reads back zeros)"
                             : volume.path + " has no write-zeroes support";
    return max_bytes > 0;
}

}  // namespace volmig
