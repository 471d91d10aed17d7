#include "driver/lvm.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>

#include "copy/fd.hpp"
#include "copy/process.hpp"
#include "copy/size.hpp"
#include "copy/volume.hpp"
#include "copy/zeroing.hpp"

namespace volmig {

namespace {
// lvcreate says "insufficient free space", lvextend "Insufficient free space".
bool out_of_space(const std::string& message) {
    return message.find("nsufficient free space") != std::string::npos;
}
const std::vector<std::string> kLvFields{"--reportformat", "json", "--units", "b", "--nosuffix", "-o",
                                         "lv_name,vg_name,lv_size,data_percent,pool_lv,lv_attr,lv_path,chunk_size,segtype,thin_id"};
}

Result<std::unique_ptr<VolumeDriver>> LvmDriver::create_from(const ConfigSection& s, DriverContext context) {
    Status known = s.only({"volume_driver", "volume_backend_name", "sparse_copy", "volume_group", "lvm_type", "thin_pool",
                           "max_over_subscription_ratio", "volume_clear", "volume_clear_size", "lvm_timeout"});
    if (!known.ok()) return known.error();
    std::unique_ptr<LvmDriver> d(new LvmDriver(s.name(), context));
    auto vg = s.required("volume_group");
    if (!vg) return vg.take_error();
    d->vg_ = *vg;
    auto type = s.choice("lvm_type", {"default", "thin"}, "default");
    if (!type) return type.take_error();
    d->thin_ = *type == "thin";
    d->thin_pool_ = s.string("thin_pool", d->vg_ + "-pool");
    auto ratio = s.number("max_over_subscription_ratio", 20.0, 1.0, 1000.0);
    if (!ratio) return ratio.take_error();
    d->ratio_ = *ratio;
    auto clear = s.choice("volume_clear", {"zero", "none"}, "zero");
    if (!clear) return clear.take_error();
    d->clear_zero_ = *clear == "zero";
    auto clear_mib = s.integer("volume_clear_size", 0, 0, 1ull << 40);
    if (!clear_mib) return clear_mib.take_error();
    d->clear_size_ = *clear_mib << 20;
    auto timeout = s.integer("lvm_timeout", 120, 5, 86400);
    if (!timeout) return timeout.take_error();
    d->timeout_ = std::chrono::seconds(*timeout);
    return std::unique_ptr<VolumeDriver>(std::move(d));
}

Result<std::string> LvmDriver::lvm(const std::vector<std::string>& argv) {
    ProcessOptions options;
    options.timeout = timeout_;
    auto r = run_checked(argv, options);
    if (!r) return r.take_error();
    return r->out;
}

Result<std::vector<LvRow>> LvmDriver::list_lvs(const std::string& target) {
    std::vector<std::string> argv{"lvs"};
    argv.insert(argv.end(), kLvFields.begin(), kLvFields.end());
    argv.push_back(target);
    auto out = lvm(argv);
    if (!out) return out.take_error();
    return parse_lvs_json(*out);
}

Result<LvRow> LvmDriver::lv_of(const std::string& lv) {
    auto rows = list_lvs(vg_ + "/" + lv);
    if (!rows) {
        if (rows.error().message.find("Failed to find logical volume") != std::string::npos)
            return Error{"logical volume " + vg_ + "/" + lv + " not found", ErrorKind::not_found};
        return rows.take_error();
    }
    for (const auto& r : *rows)
        if (r.name == lv) return r;
    return Error{"logical volume " + vg_ + "/" + lv + " not found", ErrorKind::not_found};
}

Status LvmDriver::check_setup() {
    for (const char* tool : {"lvcreate", "lvremove", "lvextend", "lvs", "vgs", "lvchange"})
        if (!find_executable(tool)) return Error{"[" + backend_ + "] " + tool + " not found: install lvm2"};
    auto vgs = lvm({"vgs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "vg_name,vg_size,vg_free,vg_extent_size", vg_});
    if (!vgs) return Error{"[" + backend_ + "] volume_group " + vg_ + " is not usable: " + vgs.error().message, ErrorKind::invalid};
    if (!thin_) return success();
    for (const char* tool : {"thin_dump", "dmsetup"})
        if (!find_executable(tool)) return Error{"[" + backend_ + "] " + tool + " not found: install thin-provisioning-tools and dmsetup"};
    auto pool = lv_of(thin_pool_);
    if (pool) {
        if (pool->segtype != "thin-pool")
            return Error{"[" + backend_ + "] thin_pool " + vg_ + "/" + thin_pool_ + " is a " + pool->segtype + " LV, not a thin pool",
                         ErrorKind::invalid};
        return success();
    }
    if (pool.error().kind != ErrorKind::not_found) return pool.error();
    // As Cinder does: create the pool from 95% of the VG's free space.
    auto rows = parse_vgs_json(*vgs);
    if (!rows || rows->empty()) return Error{"[" + backend_ + "] cannot read the free space of " + vg_};
    const uint64_t extent = (*rows)[0].extent_size ? (*rows)[0].extent_size : (4u << 20);
    const uint64_t size = static_cast<uint64_t>(static_cast<double>((*rows)[0].free) * 0.95) / extent * extent;
    auto made = lvm({"lvcreate", "-y", "--type", "thin-pool", "-L", std::to_string(size) + "b", "-n", thin_pool_, vg_});
    if (!made) return Error{"[" + backend_ + "] cannot create thin pool " + vg_ + "/" + thin_pool_ + ": " + made.error().message};
    if (context_.log) context_.log("[" + backend_ + "] created thin pool " + vg_ + "/" + thin_pool_ + " of " + format_bytes(size));
    return success();
}

Status LvmDriver::check_capacity(uint64_t size) {
    auto usage = pool_usage();
    if (!usage) return usage.error();
    if (thin_ && static_cast<double>(usage->provisioned + size) > static_cast<double>(usage->capacity) * ratio_)
        return Error{"backend " + backend_ + " cannot provision " + format_bytes(size) + ": over-subscription limit (" +
                         std::to_string(ratio_) + " x " + format_bytes(usage->capacity) + ") reached",
                     ENOSPC, ErrorKind::refused};
    if (!thin_ && size > usage->free)
        return Error{"backend " + backend_ + " cannot provision " + format_bytes(size) + ": volume group " + vg_ + " has " +
                         format_bytes(usage->free) + " free",
                     ENOSPC, ErrorKind::refused};
    return success();
}

Result<VolumeLocation> LvmDriver::create(const std::string& id, uint64_t size) {
    const std::string lv = lv_name(id);
    if (thin_) {
        Status room = check_capacity(size);
        if (!room.ok()) return room.error();
    }
    std::vector<std::string> argv = thin_ ? std::vector<std::string>{"lvcreate", "-y", "-T", vg_ + "/" + thin_pool_, "-V", std::to_string(size) + "b", "-n", lv}
                                          : std::vector<std::string>{"lvcreate", "-y", "-L", std::to_string(size) + "b", "-n", lv, vg_};
    auto out = lvm(argv);
    if (!out) {
        const bool full = out_of_space(out.error().message);
        return Error{"cannot create " + vg_ + "/" + lv + ": " + out.error().message, full ? ENOSPC : 0,
                     full ? ErrorKind::refused : ErrorKind::failed};
    }
    return VolumeLocation{vg_ + "/" + lv};
}

Status LvmDriver::remove(const VolumeRef& v) {
    const std::string lv = lv_name(v.id);
    auto row = lv_of(lv);
    if (!row) return row.error().kind == ErrorKind::not_found ? success() : Status(row.error());
    if (!thin_ && clear_zero_) {
        // Thick LVs are carved from reused extents: wipe them so the next volume sees no stale data.
        const std::string dev = device_path(lv);
        (void)lvm({"lvchange", "-ay", vg_ + "/" + lv});
        Fd fd(::open(dev.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd) return errno_error("cannot open " + dev + " for volume_clear");
        auto info = inspect_volume(dev);
        if (!info) return info.error();
        RangeZeroer zeroer(fd.get(), *info, context_.log);
        const uint64_t n = clear_size_ ? std::min(clear_size_, info->size) : info->size;
        auto zeroed = zeroer.zero(0, n, ZeroIntent::keep_allocated);
        if (!zeroed) return Error{"volume_clear of " + dev + " failed (the volume is kept): " + zeroed.error().message};
        ::fsync(fd.get());
    }
    auto out = lvm({"lvremove", "-f", vg_ + "/" + lv});
    if (!out) return out.error();
    return success();
}

Result<VolumeLocation> LvmDriver::extend(const VolumeRef& v, uint64_t new_size) {
    if (new_size <= v.size)
        return Error{"volume " + v.id + " cannot be extended to " + std::to_string(new_size) + " bytes: not larger than its size " +
                         std::to_string(v.size),
                     ErrorKind::invalid};
    auto out = lvm({"lvextend", "-L", std::to_string(new_size) + "b", vg_ + "/" + lv_name(v.id)});
    if (!out) {
        const bool full = out_of_space(out.error().message);
        return Error{"cannot extend " + vg_ + "/" + lv_name(v.id) + ": " + out.error().message, full ? ENOSPC : 0,
                     full ? ErrorKind::refused : ErrorKind::failed};
    }
    return v.location;
}

Result<Attachment> LvmDriver::attach(const VolumeRef& v, AttachMode) {
    auto out = lvm({"lvchange", "-ay", vg_ + "/" + lv_name(v.id)});
    if (!out) return out.take_error();
    return Attachment{device_path(lv_name(v.id)), true, false};
}

Status LvmDriver::detach(const Attachment&) { return success(); }

Result<std::vector<std::string>> LvmDriver::attached_devices(const VolumeRef&) { return std::vector<std::string>{}; }  // attach sets up nothing

Result<VolumeUsage> LvmDriver::volume_usage(const VolumeRef& v) {
    auto row = lv_of(lv_name(v.id));
    if (!row) return row.take_error();
    VolumeUsage u;
    u.size = row->size;
    if (!thin_)
        u.allocated = row->size;
    else if (row->data_percent)  // empty while the LV is inactive: unknown, not zero
        u.allocated = static_cast<uint64_t>(std::llround(static_cast<double>(row->size) * *row->data_percent / 100.0));
    return u;
}

Result<PoolUsage> LvmDriver::pool_usage() {
    PoolUsage p;
    p.max_over_subscription_ratio = thin_ ? ratio_ : 1.0;
    if (thin_) {
        auto rows = list_lvs(vg_);
        if (!rows) return rows.take_error();
        bool found = false;
        for (const auto& r : *rows) {
            if (r.name == thin_pool_) {
                found = true;
                p.capacity = r.size;
                p.allocated = static_cast<uint64_t>(std::llround(static_cast<double>(r.size) * r.data_percent.value_or(0) / 100.0));
            } else if (r.pool_lv == thin_pool_) {
                p.provisioned += r.size;
            }
        }
        if (!found) return Error{"thin pool " + vg_ + "/" + thin_pool_ + " not found", ErrorKind::not_found};
        p.free = p.capacity - std::min(p.capacity, p.allocated);
        return p;
    }
    auto out = lvm({"vgs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "vg_name,vg_size,vg_free,vg_extent_size", vg_});
    if (!out) return out.take_error();
    auto rows = parse_vgs_json(*out);
    if (!rows) return rows.take_error();
    if (rows->empty()) return Error{"volume group " + vg_ + " not found", ErrorKind::not_found};
    p.capacity = (*rows)[0].size;
    p.free = (*rows)[0].free;
    p.allocated = p.capacity - std::min(p.capacity, p.free);
    p.provisioned = p.allocated;
    return p;
}

Result<ExtentMap> LvmDriver::thin_mappings(const LvRow& lv, uint64_t volume_size) {
    if (!lv.thin_id) return Error{vg_ + "/" + lv.name + " has no thin_id"};
    std::lock_guard<std::mutex> lock(metadata_mutex_);
    const std::string pool = dm_name(vg_, thin_pool_);
    // The thin-pool target is VG-POOL-tpool once the pool has held a thin LV, VG-POOL before.
    struct stat st {};
    const std::string target = ::stat(("/dev/mapper/" + pool + "-tpool").c_str(), &st) == 0 ? pool + "-tpool" : pool;
    ProcessOptions options;
    options.timeout = timeout_;
    auto reserved = run_checked({"dmsetup", "message", target, "0", "reserve_metadata_snap"}, options);
    if (!reserved) return reserved.take_error();
    auto dump = run_checked({"thin_dump", "--metadata-snap", "-f", "xml", "/dev/mapper/" + pool + "_tmeta"}, options);
    // Release even when the dump failed: a held snapshot blocks the next reservation.
    auto released = run_checked({"dmsetup", "message", target, "0", "release_metadata_snap"}, options);
    if (!dump) return dump.take_error();
    if (!released && context_.log) context_.log("[" + backend_ + "] release_metadata_snap failed: " + released.error().message);
    return parse_thin_dump_xml(dump->out, *lv.thin_id, volume_size);
}

Result<std::optional<ExtentMap>> LvmDriver::extent_map(const VolumeRef& v) {
    if (!thin_) return std::optional<ExtentMap>();
    auto row = lv_of(lv_name(v.id));
    if (!row) return row.take_error();
    auto map = thin_mappings(*row, v.size);
    if (!map) {
        if (context_.log)
            context_.log("[" + backend_ + "] extent map of " + vg_ + "/" + row->name + " unavailable, copying it as all data: " +
                         map.error().message);
        return std::optional<ExtentMap>();
    }
    return std::optional<ExtentMap>(std::move(*map));
}

BackendFacts LvmDriver::facts() {
    BackendFacts f;
    f.storage_protocol = "lvm";
    if (!thin_) {
        f.zero_initialized_reason = "thick LVs are carved from reused extents: their content is whatever was there";
        auto out = lvm({"vgs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "vg_name,vg_size,vg_free,vg_extent_size", vg_});
        auto rows = out ? parse_vgs_json(*out) : Result<std::vector<VgRow>>(out.error());
        f.block_size = rows && !rows->empty() && (*rows)[0].extent_size ? (*rows)[0].extent_size : 4u << 20;
        return f;
    }
    f.thin_provisioning = true;
    f.discard = true;
    f.discard_zeroes = false;  // dm-thin ignores discards smaller than a chunk
    auto pool = lv_of(thin_pool_);
    if (!pool) {
        f.zero_initialized_reason = "thin pool " + vg_ + "/" + thin_pool_ + " cannot be read: " + pool.error().message;
        return f;
    }
    f.block_size = pool->chunk_size ? pool->chunk_size : 65536;
    f.zero_initialized = thin_pool_zeroes(pool->attr);
    f.zero_initialized_reason = f.zero_initialized
                                    ? "thin LVs read unprovisioned chunks as zeros and the pool zeroes new chunks"
                                    : "the thin pool does not zero new chunks (lvchange -Zy to enable): partly written chunks may show old data";
    return f;
}

Result<std::vector<std::string>> LvmDriver::stored_volume_ids() {
    auto rows = list_lvs(vg_);
    if (!rows) return rows.take_error();
    std::vector<std::string> ids;
    for (const auto& r : *rows) {
        const bool mine = thin_ ? r.pool_lv == thin_pool_ : (r.segtype != "thin" && r.segtype != "thin-pool");
        if (mine && r.name.rfind("volume-", 0) == 0) ids.push_back(r.name.substr(7));
    }
    return ids;
}

}  // namespace volmig
