#include "driver/thin_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

#include "copy/fd.hpp"
#include "copy/size.hpp"
#include "copy/volume.hpp"
#include "copy/zeroing.hpp"
#include "driver/loop_device.hpp"

namespace volmig {

Result<std::unique_ptr<VolumeDriver>> ThinFileDriver::create_from(const ConfigSection& s, DriverContext context) {
    Status known = s.only({"volume_driver", "volume_backend_name", "sparse_copy", "pool_path", "pool_size", "max_over_subscription_ratio"});
    if (!known.ok()) return known.error();
    auto path = s.required("pool_path");
    if (!path) return path.take_error();
    auto size = s.size("pool_size", 0);
    if (!size) return size.take_error();
    auto ratio = s.number("max_over_subscription_ratio", 20.0, 1.0, 1000.0);
    if (!ratio) return ratio.take_error();
    return std::unique_ptr<VolumeDriver>(new ThinFileDriver(s.name(), *path, *size, *ratio, context));
}

Status ThinFileDriver::check_setup() {
    struct stat st {};
    if (::stat(pool_path_.c_str(), &st) != 0) {
        if (errno != ENOENT || ::mkdir(pool_path_.c_str(), 0700) != 0)
            return errno_error("[" + backend_ + "] pool_path " + pool_path_ + " cannot be created");
        if (context_.log) context_.log("[" + backend_ + "] created pool directory " + pool_path_);
    } else if (!S_ISDIR(st.st_mode)) {
        return Error{"[" + backend_ + "] pool_path " + pool_path_ + " is not a directory", ErrorKind::invalid};
    }
    if (::access(pool_path_.c_str(), W_OK) != 0) return errno_error("[" + backend_ + "] pool_path " + pool_path_ + " is not writable");
    if (size_t left = unlinker_.adopt_leftovers(pool_path_); left > 0 && context_.log)
        context_.log("[" + backend_ + "] deleting " + std::to_string(left) + " volume file(s) a previous run had removed");
    if (pool_size_ == 0) {
        struct statvfs vfs {};
        if (::statvfs(pool_path_.c_str(), &vfs) != 0) return errno_error("statvfs " + pool_path_);
        pool_size_ = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    }
    return success();
}

Status ThinFileDriver::check_capacity(uint64_t size) {
    auto usage = pool_usage();
    if (!usage) return usage.error();
    const double limit = static_cast<double>(pool_size_) * ratio_;
    if (static_cast<double>(usage->provisioned + size) > limit)
        return Error{"backend " + backend_ + " cannot provision " + format_bytes(size) + ": " + format_bytes(usage->provisioned) +
                         " already provisioned of " + format_bytes(static_cast<uint64_t>(limit)) + " (pool_size " +
                         format_bytes(pool_size_) + " x max_over_subscription_ratio)",
                     ENOSPC, ErrorKind::refused};
    return success();
}

Result<VolumeLocation> ThinFileDriver::create(const std::string& id, uint64_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    Status room = check_capacity(size);
    if (!room.ok()) return room.error();
    const std::string path = path_of(id);
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return errno_error("cannot create volume file " + path);
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
        const Error e = errno_error("cannot size volume file " + path);
        ::unlink(path.c_str());
        return e;
    }
    return VolumeLocation{path};
}

Status ThinFileDriver::remove(const VolumeRef& v) { return unlinker_.remove(v.location.value); }

Result<VolumeLocation> ThinFileDriver::extend(const VolumeRef& v, uint64_t new_size) {
    if (new_size <= v.size)
        return Error{"volume " + v.id + " cannot be extended to " + std::to_string(new_size) + " bytes: not larger than its size " +
                         std::to_string(v.size) + " (shrinking would destroy data)",
                     ErrorKind::invalid};
    std::lock_guard<std::mutex> lock(mutex_);
    auto usage = pool_usage();
    if (!usage) return usage.take_error();
    if (static_cast<double>(usage->provisioned + new_size - v.size) > static_cast<double>(pool_size_) * ratio_)
        return Error{"backend " + backend_ + " cannot grow volume " + v.id + " to " + format_bytes(new_size) + ": over-subscription limit reached",
                     ENOSPC, ErrorKind::refused};
    if (::truncate(v.location.value.c_str(), static_cast<off_t>(new_size)) != 0)
        return errno_error("cannot extend volume file " + v.location.value);
    return v.location;
}

Result<Attachment> ThinFileDriver::attach(const VolumeRef& v, AttachMode mode) {
    if (mode == AttachMode::file_or_block) return Attachment{v.location.value, false, false};
    auto device = attach_loop(v.location.value);
    if (!device) return device.take_error();
    return Attachment{*device, true, true};
}

Status ThinFileDriver::detach(const Attachment& a) { return a.created_loop ? detach_loop(a.path) : success(); }

Result<std::vector<std::string>> ThinFileDriver::attached_devices(const VolumeRef& v) { return loops_over(v.location.value); }

Result<VolumeUsage> ThinFileDriver::volume_usage(const VolumeRef& v) {
    struct stat st {};
    if (::stat(v.location.value.c_str(), &st) != 0) return errno_error("cannot stat volume file " + v.location.value);
    VolumeUsage u;
    u.size = static_cast<uint64_t>(st.st_size);
    u.allocated = static_cast<uint64_t>(st.st_blocks) * 512;
    return u;
}

Result<PoolUsage> ThinFileDriver::pool_usage() {
    PoolUsage p;
    p.capacity = pool_size_;
    p.max_over_subscription_ratio = ratio_;
    auto ids = stored_volume_ids();
    if (!ids) return ids.take_error();
    for (const auto& id : *ids) {
        struct stat st {};
        if (::stat(path_of(id).c_str(), &st) != 0) continue;  // deleted meanwhile
        p.provisioned += static_cast<uint64_t>(st.st_size);
        p.allocated += static_cast<uint64_t>(st.st_blocks) * 512;
    }
    p.free = p.capacity > p.allocated ? p.capacity - p.allocated : 0;
    struct statvfs vfs {};
    if (::statvfs(pool_path_.c_str(), &vfs) == 0)  // the filesystem may hold less than pool_size says
        p.free = std::min<uint64_t>(p.free, static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize);
    return p;
}

Result<std::optional<ExtentMap>> ThinFileDriver::extent_map(const VolumeRef& v) {
    Fd fd(::open(v.location.value.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return errno_error("cannot open volume file " + v.location.value);
    auto map = seek_data_extents(fd.get(), v.location.value, 0, v.size);
    if (!map) return map.take_error();
    return std::optional<ExtentMap>(std::move(*map));
}

BackendFacts ThinFileDriver::facts() {
    BackendFacts f;
    f.thin_provisioning = true;
    f.zero_initialized = true;
    f.zero_initialized_reason = "new volumes are sparse files: unwritten ranges are holes that read as zeros";
    struct statvfs vfs {};
    f.block_size = ::statvfs(pool_path_.c_str(), &vfs) == 0 ? vfs.f_bsize : 4096;
    // Live: ask the pool's filesystem whether it punches holes (an empty probe file, removed).
    const std::string probe = pool_path_ + "/.volmig-discard-probe";
    if (Fd fd(::open(probe.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600)); fd) {
        auto info = inspect_volume(probe);
        f.discard = info && RangeZeroer::probe_release(*info, nullptr);
        ::unlink(probe.c_str());
    }
    f.discard_zeroes = f.discard;  // a punched hole reads as zeros
    f.storage_protocol = "file";
    return f;
}

Result<std::vector<std::string>> ThinFileDriver::stored_volume_ids() {
    std::vector<std::string> ids;
    DIR* dir = ::opendir(pool_path_.c_str());
    if (!dir) return errno_error("cannot list pool directory " + pool_path_);
    while (dirent* e = ::readdir(dir)) {
        const std::string name = e->d_name;
        if (name.rfind("volume-", 0) == 0 && name.size() > 7) ids.push_back(name.substr(7));
    }
    ::closedir(dir);
    return ids;
}

}  // namespace volmig
