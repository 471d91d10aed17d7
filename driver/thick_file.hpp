// thick_file: one preallocated pool file carved into contiguous regions (first fit; freed
// regions are reused), like a volume group carved into linear volumes. A volume attaches as a
// loop device over its region (offset + size limit).
//
// A new volume holds whatever its region held before, so zero-initialization is advertised
// only when guaranteed: zero_on_create = true, or volmig made the pool file itself (all zeros)
// and every region freed since was fully wiped (volume_clear = zero over the whole volume).
// That last fact is persisted per backend. No discard.
//
// Options: pool_file, pool_size (to create it; must match an existing file), volume_clear =
// zero|none, volume_clear_size (MiB wiped on delete, 0 = all; as in Cinder), zero_on_create.
#pragma once

#include <mutex>

#include "driver/config.hpp"
#include "driver/driver.hpp"
#include "driver/extent_allocator.hpp"

namespace volmig {

class ThickFileDriver : public VolumeDriver {
public:
    static constexpr uint64_t kRegionAlignment = 1 << 20;

    static Result<std::unique_ptr<VolumeDriver>> create_from(const ConfigSection& section, DriverContext context);

    std::string driver_name() const override { return "thick_file"; }
    std::string backend_name() const override { return backend_; }
    std::string pool_name() const override { return backend_; }
    std::vector<std::string> private_paths() const override {
        const size_t slash = options_.pool_file.find_last_of('/');
        if (slash == std::string::npos || slash == 0) return {options_.pool_file};
        return {options_.pool_file, options_.pool_file.substr(0, slash)};
    }
    Status check_setup() override;
    Result<VolumeLocation> create(const std::string& id, uint64_t size) override;
    Status check_capacity(uint64_t size) override;
    Status remove(const VolumeRef& volume) override;
    Result<VolumeLocation> extend(const VolumeRef& volume, uint64_t new_size) override;
    Result<Attachment> attach(const VolumeRef& volume, AttachMode mode) override;
    Status detach(const Attachment& attachment) override;
    Result<std::vector<std::string>> attached_devices(const VolumeRef& volume) override;
    Result<VolumeUsage> volume_usage(const VolumeRef& volume) override;
    Result<PoolUsage> pool_usage() override;
    Result<std::optional<ExtentMap>> extent_map(const VolumeRef& volume) override;
    BackendFacts facts() override;
    Result<std::vector<std::string>> stored_volume_ids() override;

private:
    struct Options {
        std::string pool_file;
        uint64_t pool_size = 0;
        bool clear_zero = true;
        uint64_t clear_size = 0;  // bytes, 0 = whole volume
        bool zero_on_create = false;
    };
    ThickFileDriver(std::string backend, Options options, DriverContext context)
        : backend_(std::move(backend)), options_(std::move(options)), context_(context) {}

    Result<ExtentAllocator> load_allocator();
    Status zero_region(uint64_t offset, uint64_t length);
    bool fact(const std::string& key);
    Status set_fact(const std::string& key, bool value);
    Result<PoolRegion> region_of(const std::string& id);

    std::string backend_;
    Options options_;
    DriverContext context_;
    uint64_t capacity_ = 0;
    std::mutex mutex_;
};

}  // namespace volmig
