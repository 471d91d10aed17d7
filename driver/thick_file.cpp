#include "driver/thick_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <Poco/UUIDGenerator.h>

#include "copy/fd.hpp"
#include "copy/size.hpp"
#include "copy/volume.hpp"
#include "copy/zeroing.hpp"
#include "driver/loop_device.hpp"
#include "driver/volume_store.hpp"

namespace volmig {

namespace {
const char* kCreatedByVolmig = "pool_created_by_volmig";
const char* kFreeSpaceZero = "free_space_zero";
const char* kPoolIdentity = "pool_identity";

const char* kPoolTag = "user.volmig.pool_id";

// Who the pool file is: a random id volmig wrote into an extended attribute when it made the
// file, plus inode, birth time and size. A file put in its place (even one that reuses the
// inode number) lacks the tag or has another birth time, so it never inherits "created by volmig".
std::string identity_of(int fd) {
    char tag[64] = {0};
    const ssize_t n = ::fgetxattr(fd, kPoolTag, tag, sizeof tag - 1);
    struct statx sx {};
    std::string birth = "?";
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME | STATX_SIZE, &sx) == 0 && (sx.stx_mask & STATX_BTIME))
        birth = std::to_string(sx.stx_btime.tv_sec) + "." + std::to_string(sx.stx_btime.tv_nsec);
    struct stat st {};
    ::fstat(fd, &st);
    return std::string(n > 0 ? tag : "untagged") + ":" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + birth + ":" +
           std::to_string(st.st_size);
}
}  // namespace

Result<std::unique_ptr<VolumeDriver>> ThickFileDriver::create_from(const ConfigSection& s, DriverContext context) {
    Status known = s.only({"volume_driver", "volume_backend_name", "sparse_copy", "pool_file", "pool_size", "volume_clear", "volume_clear_size",
                           "zero_on_create"});
    if (!known.ok()) return known.error();
    Options o;
    auto file = s.required("pool_file");
    if (!file) return file.take_error();
    o.pool_file = *file;
    auto size = s.size("pool_size", 0);
    if (!size) return size.take_error();
    o.pool_size = *size;
    auto clear = s.choice("volume_clear", {"zero", "none"}, "zero");
    if (!clear) return clear.take_error();
    o.clear_zero = *clear == "zero";
    auto clear_mib = s.integer("volume_clear_size", 0, 0, 1ull << 40);  // MiB, as in Cinder
    if (!clear_mib) return clear_mib.take_error();
    o.clear_size = *clear_mib << 20;
    auto zero = s.boolean("zero_on_create", false);
    if (!zero) return zero.take_error();
    o.zero_on_create = *zero;
    return std::unique_ptr<VolumeDriver>(new ThickFileDriver(s.name(), o, context));
}

bool ThickFileDriver::fact(const std::string& key) {
    auto v = context_.store.backend_fact(backend_, key);
    return v && *v && **v == "true";
}

Status ThickFileDriver::set_fact(const std::string& key, bool value) {
    return context_.store.set_backend_fact(backend_, key, value ? "true" : "false");
}

Status ThickFileDriver::check_setup() {
    std::lock_guard<std::mutex> lock(mutex_);
    struct stat st {};
    if (::stat(options_.pool_file.c_str(), &st) != 0) {
        if (errno != ENOENT) return errno_error("[" + backend_ + "] pool_file " + options_.pool_file);
        if (options_.pool_size == 0)
            return Error{"[" + backend_ + "] pool_file " + options_.pool_file + " does not exist: set pool_size to let volmig create it",
                         ErrorKind::invalid};
        if (options_.pool_size % kRegionAlignment)
            return Error{"[" + backend_ + "] pool_size must be a multiple of 1M", ErrorKind::invalid};
        Fd fd(::open(options_.pool_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!fd) return errno_error("[" + backend_ + "] cannot create pool_file " + options_.pool_file);
        // Preallocated (thick), and every byte reads as zero: the one state in which volmig knows
        // the content of all free space.
        if (::fallocate(fd.get(), 0, 0, static_cast<off_t>(options_.pool_size)) != 0) {
            const Error e = errno_error("[" + backend_ + "] cannot preallocate pool_file " + options_.pool_file);
            ::unlink(options_.pool_file.c_str());
            return e;
        }
        const std::string tag = Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
        if (::fsetxattr(fd.get(), kPoolTag, tag.data(), tag.size(), 0) != 0 && context_.log)
            context_.log("[" + backend_ + "] cannot tag pool_file " + options_.pool_file + " (" + std::strerror(errno) +
                         "): its identity rests on inode and birth time only");
        ::fsync(fd.get());
        ::fstat(fd.get(), &st);
        Status s1 = set_fact(kCreatedByVolmig, true), s2 = set_fact(kFreeSpaceZero, true);
        if (!s1.ok()) return s1;
        if (!s2.ok()) return s2;
        Status s3 = context_.store.set_backend_fact(backend_, kPoolIdentity, identity_of(fd.get()));
        if (!s3.ok()) return s3;
        if (context_.log) context_.log("[" + backend_ + "] created pool file " + options_.pool_file + " of " + format_bytes(options_.pool_size));
    } else {
        if (!S_ISREG(st.st_mode)) return Error{"[" + backend_ + "] pool_file " + options_.pool_file + " is not a regular file", ErrorKind::invalid};
        if (options_.pool_size && options_.pool_size != static_cast<uint64_t>(st.st_size))
            return Error{"[" + backend_ + "] pool_size " + std::to_string(options_.pool_size) + " does not match the existing pool_file " +
                             options_.pool_file + " (" + std::to_string(st.st_size) + " bytes): remove pool_size to use the file as it is",
                         ErrorKind::invalid};
        Fd fd(::open(options_.pool_file.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) return errno_error("[" + backend_ + "] cannot open pool_file " + options_.pool_file);
        const std::string identity = identity_of(fd.get());
        auto known = context_.store.backend_fact(backend_, kPoolIdentity);
        if (!known) return known.error();
        if (!*known || **known != identity) {
            // A pool file we did not make (or not this one): its free space is of unknown content.
            if (*known && context_.log)
                context_.log("[" + backend_ + "] pool_file " + options_.pool_file + " is not the file volmig created; its free space is treated as dirty");
            Status s1 = set_fact(kCreatedByVolmig, false), s2 = set_fact(kFreeSpaceZero, false);
            if (!s1.ok()) return s1;
            if (!s2.ok()) return s2;
            Status s3 = context_.store.set_backend_fact(backend_, kPoolIdentity, identity);
            if (!s3.ok()) return s3;
        }
    }
    capacity_ = static_cast<uint64_t>(st.st_size) - static_cast<uint64_t>(st.st_size) % kRegionAlignment;
    auto allocator = load_allocator();
    if (!allocator) return allocator.take_error();
    auto conflicts = allocator->conflicts();
    if (!conflicts.empty()) return Error{"[" + backend_ + "] the pool allocation table is inconsistent: " + conflicts.front()};
    return success();
}

Result<ExtentAllocator> ThickFileDriver::load_allocator() {
    auto extents = context_.store.pool_extents(backend_);
    if (!extents) return extents.take_error();
    std::vector<PoolRegion> used;
    for (const auto& e : *extents) used.push_back({e.volume_id, e.offset, e.length});
    return ExtentAllocator(capacity_, kRegionAlignment, std::move(used));
}

Result<PoolRegion> ThickFileDriver::region_of(const std::string& id) {
    auto allocator = load_allocator();
    if (!allocator) return allocator.take_error();
    for (const auto& r : allocator->regions())
        if (r.owner == id) return r;
    return Error{"volume " + id + " has no region in pool " + options_.pool_file, ErrorKind::not_found};
}

Status ThickFileDriver::zero_region(uint64_t offset, uint64_t length) {
    Fd fd(::open(options_.pool_file.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return errno_error("cannot open pool_file " + options_.pool_file);
    auto info = inspect_volume(options_.pool_file);
    if (!info) return info.error();
    // ZERO_RANGE keeps the region allocated (thick) and makes it read as zeros.
    RangeZeroer zeroer(fd.get(), *info, context_.log);
    auto zeroed = zeroer.zero(offset, length, ZeroIntent::keep_allocated);
    if (!zeroed) return zeroed.error();
    if (::fdatasync(fd.get()) != 0) return errno_error("fdatasync " + options_.pool_file);
    return success();
}

Status ThickFileDriver::check_capacity(uint64_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto allocator = load_allocator();
    if (!allocator) return allocator.error();
    if (allocator->round(size) > allocator->largest_free())
        return Error{"backend " + backend_ + " has no contiguous free region of " + format_bytes(allocator->round(size)) +
                         " (largest free: " + format_bytes(allocator->largest_free()) + " of " + format_bytes(capacity_) + ")",
                     ENOSPC, ErrorKind::refused};
    return success();
}

Result<VolumeLocation> ThickFileDriver::create(const std::string& id, uint64_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto allocator = load_allocator();
    if (!allocator) return allocator.take_error();
    auto region = allocator->allocate(id, size);
    if (!region)
        return Error{"backend " + backend_ + " has no contiguous free region of " + format_bytes(allocator->round(size)) +
                         " (largest free: " + format_bytes(allocator->largest_free()) + " of " + format_bytes(capacity_) + ")",
                     ENOSPC, ErrorKind::refused};
    if (options_.zero_on_create) {
        Status zeroed = zero_region(region->offset, region->length);
        if (!zeroed.ok()) return Error{"zero_on_create for volume " + id + " failed: " + zeroed.error().message};
    }
    Status recorded = context_.store.put_pool_extent(backend_, {id, region->offset, region->length});
    if (!recorded.ok()) return recorded.error();
    return VolumeLocation{std::to_string(region->offset)};
}

Status ThickFileDriver::remove(const VolumeRef& v) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto region = region_of(v.id);
    if (!region) return region.error().kind == ErrorKind::not_found ? success() : Status(region.error());
    const uint64_t wipe = options_.clear_zero ? (options_.clear_size ? std::min(options_.clear_size, region->length) : region->length) : 0;
    if (wipe) {
        Status s = zero_region(region->offset, wipe);
        if (!s.ok()) return Error{"volume_clear of volume " + v.id + " failed (the volume is kept): " + s.error().message};
    }
    if (wipe < region->length) {
        // Stale bytes stay in the freed region: from now on new volumes may see them.
        Status s = set_fact(kFreeSpaceZero, false);
        if (!s.ok()) return s;
    }
    return context_.store.remove_pool_extent(backend_, v.id);
}

Result<VolumeLocation> ThickFileDriver::extend(const VolumeRef& v, uint64_t new_size) {
    if (new_size <= v.size)
        return Error{"volume " + v.id + " cannot be extended to " + std::to_string(new_size) + " bytes: not larger than its size " +
                         std::to_string(v.size),
                     ErrorKind::invalid};
    std::lock_guard<std::mutex> lock(mutex_);
    auto allocator = load_allocator();
    if (!allocator) return allocator.take_error();
    auto before = region_of(v.id);
    if (!before) return before.take_error();
    auto grown = allocator->grow_in_place(v.id, new_size);
    if (!grown)
        return Error{"backend " + backend_ + " cannot extend volume " + v.id + " to " + format_bytes(new_size) +
                         ": the space right after its region is in use (thick_file volumes are contiguous)",
                     ENOSPC, ErrorKind::refused};
    if (options_.zero_on_create && grown->length > before->length) {
        Status s = zero_region(before->end(), grown->length - before->length);
        if (!s.ok()) return s.error();
    }
    Status recorded = context_.store.put_pool_extent(backend_, {v.id, grown->offset, grown->length});
    if (!recorded.ok()) return recorded.error();
    return v.location;
}

Result<Attachment> ThickFileDriver::attach(const VolumeRef& v, AttachMode) {
    auto region = region_of(v.id);
    if (!region) return region.take_error();
    // Never let a loop device reach past the volume's own region into its neighbour's bytes.
    if (v.size > region->length)
        return Error{"volume " + v.id + " claims " + std::to_string(v.size) + " bytes but its region in " + options_.pool_file + " has " +
                         std::to_string(region->length) + ": refusing to attach beyond it",
                     ErrorKind::refused};
    auto device = attach_loop(options_.pool_file, region->offset, v.size);
    if (!device) return device.take_error();
    return Attachment{*device, true, true};
}

Status ThickFileDriver::detach(const Attachment& a) { return a.created_loop ? detach_loop(a.path) : success(); }

Result<std::vector<std::string>> ThickFileDriver::attached_devices(const VolumeRef& v) {
    auto region = region_of(v.id);
    if (!region && region.error().kind == ErrorKind::not_found) return std::vector<std::string>{};  // no storage, nothing over it
    if (!region) return region.take_error();
    return loops_over(options_.pool_file, region->offset);
}

Result<VolumeUsage> ThickFileDriver::volume_usage(const VolumeRef& v) {
    auto region = region_of(v.id);
    if (!region) return region.take_error();
    VolumeUsage u;
    u.size = v.size;
    u.allocated = v.size;  // thick: the whole region is the volume's
    return u;
}

Result<PoolUsage> ThickFileDriver::pool_usage() {
    auto allocator = load_allocator();
    if (!allocator) return allocator.take_error();
    PoolUsage p;
    p.capacity = capacity_;
    p.allocated = allocator->used_bytes();
    p.provisioned = p.allocated;
    p.free = capacity_ - std::min(capacity_, p.allocated);
    return p;
}

Result<std::optional<ExtentMap>> ThickFileDriver::extent_map(const VolumeRef&) { return std::optional<ExtentMap>(); }

BackendFacts ThickFileDriver::facts() {
    BackendFacts f;
    f.thin_provisioning = false;
    f.discard = false;
    f.discard_zeroes = false;
    f.block_size = 4096;
    f.storage_protocol = "file";
    if (options_.zero_on_create) {
        f.zero_initialized = true;
        f.zero_initialized_reason = "zero_on_create = true: every new volume is zeroed when it is created";
    } else if (!fact(kCreatedByVolmig)) {
        f.zero_initialized_reason = "pool_file was not created by volmig: free space is of unknown content";
    } else if (!fact(kFreeSpaceZero)) {
        f.zero_initialized_reason = "a deleted volume's region was not fully wiped (volume_clear = none or volume_clear_size)";
    } else {
        f.zero_initialized = true;
        f.zero_initialized_reason = "pool_file created by volmig and every freed region wiped with zeros";
    }
    return f;
}

Result<std::vector<std::string>> ThickFileDriver::stored_volume_ids() {
    auto extents = context_.store.pool_extents(backend_);
    if (!extents) return extents.take_error();
    std::vector<std::string> ids;
    for (const auto& e : *extents) ids.push_back(e.volume_id);
    return ids;
}

}  // namespace volmig
