// lvm: real LVM through the lvm2 command-line tools (Boost.Process, bounded time, stderr in
// errors). LVs are named volume-<id>. lvm_type = thin: thin LVs in thin_pool (created from
// 95% of the VG's free space if missing, as Cinder does), zero-initialized when the pool zeroes
// new chunks, discard supported, extent map from the pool metadata (thin_dump of a metadata
// snapshot). lvm_type = default: linear LVs, not zero-initialized, no discard; volume_clear
// wipes them on delete.
//
// Options: volume_group, lvm_type = default|thin, thin_pool (default <volume_group>-pool),
// max_over_subscription_ratio, volume_clear = zero|none, volume_clear_size (MiB), lvm_timeout (s).
#pragma once

#include <chrono>
#include <mutex>

#include "driver/config.hpp"
#include "driver/driver.hpp"
#include "driver/lvm_report.hpp"

namespace volmig {

class LvmDriver : public VolumeDriver {
public:
    static Result<std::unique_ptr<VolumeDriver>> create_from(const ConfigSection& section, DriverContext context);

    std::string driver_name() const override { return "lvm"; }
    std::string backend_name() const override { return backend_; }
    std::string pool_name() const override { return thin_ ? thin_pool_ : vg_; }
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
    LvmDriver(std::string backend, DriverContext context) : backend_(std::move(backend)), context_(context) {}

    Result<std::string> lvm(const std::vector<std::string>& argv);
    Result<std::vector<LvRow>> list_lvs(const std::string& target);
    Result<LvRow> lv_of(const std::string& lv_name);
    Result<ExtentMap> thin_mappings(const LvRow& lv, uint64_t volume_size);
    std::string lv_name(const std::string& id) const { return "volume-" + id; }
    std::string device_path(const std::string& lv) const { return "/dev/" + vg_ + "/" + lv; }

    std::string backend_;
    DriverContext context_;
    std::string vg_;
    bool thin_ = false;
    std::string thin_pool_;
    double ratio_ = 20.0;
    bool clear_zero_ = true;
    uint64_t clear_size_ = 0;
    std::chrono::seconds timeout_{120};
    std::mutex metadata_mutex_;  // one metadata snapshot per pool at a time
};

}  // namespace volmig
