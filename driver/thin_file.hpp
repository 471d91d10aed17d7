// thin_file: a pool directory of sparse files, one per volume, named volume-<id>.
// New volumes read as zeros (holes); releasing a range punches a hole; allocation is the
// files' allocated blocks. A removed volume's file is renamed out of sight at once and unlinked
// by a thread (deferred_unlink.hpp). Options: pool_path, pool_size, max_over_subscription_ratio.
#pragma once

#include <mutex>

#include "driver/config.hpp"
#include "driver/deferred_unlink.hpp"
#include "driver/driver.hpp"

namespace volmig {

class ThinFileDriver : public VolumeDriver {
public:
    static Result<std::unique_ptr<VolumeDriver>> create_from(const ConfigSection& section, DriverContext context);

    std::string driver_name() const override { return "thin_file"; }
    std::string backend_name() const override { return backend_; }
    std::string pool_name() const override { return backend_; }
    std::vector<std::string> private_paths() const override { return {pool_path_}; }
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
    ThinFileDriver(std::string backend, std::string pool_path, uint64_t pool_size, double ratio, DriverContext context)
        : backend_(std::move(backend)), pool_path_(std::move(pool_path)), pool_size_(pool_size), ratio_(ratio), context_(context) {}
    std::string path_of(const std::string& id) const { return pool_path_ + "/volume-" + id; }

    std::string backend_;
    std::string pool_path_;
    uint64_t pool_size_;
    double ratio_;
    DriverContext context_;
    std::mutex mutex_;  // capacity checks and creates are atomic together
    DeferredUnlink unlinker_;  // last member: it finishes its unlinks before the rest goes
};

}  // namespace volmig
