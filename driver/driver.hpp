// One interface for every volume backend (thin_file, thick_file, lvm).
//
// A driver owns storage and knows nothing of the API that calls it. Volume records (what
// exists, its size and status) live in the VolumeStore; the driver is told the record and
// answers for the storage: create, delete, extend, attach to a local path, stats, extent map,
// and the backend's capability facts.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "capabilities/facts.hpp"
#include "copy/extent.hpp"
#include "copy/result.hpp"

namespace volmig {

class VolumeStore;

// Where a volume's bytes are, in the driver's own terms, persisted in the volume record:
// thin_file: the file path; thick_file: the region's offset in the pool file (its length is in
// the backend's allocation table); lvm: "vg/lv".
struct VolumeLocation {
    std::string value;
};

// The part of a volume record a driver needs.
struct VolumeRef {
    std::string id;
    uint64_t size = 0;
    VolumeLocation location;
};

enum class AttachMode {
    block_device,  // always a block device (loop device for file backends)
    file_or_block, // a regular file is fine when the backend has one (no loop device needed)
};

struct Attachment {
    std::string path;
    bool is_block_device = false;
    bool created_loop = false;  // detach() must release a loop device we set up
};

struct VolumeUsage {
    uint64_t size = 0;
    std::optional<uint64_t> allocated;  // bytes the storage holds for this volume
    double data_percent() const {
        return allocated && size ? 100.0 * static_cast<double>(*allocated) / static_cast<double>(size) : 0.0;
    }
};

struct PoolUsage {
    uint64_t capacity = 0;         // bytes the pool can hold
    uint64_t free = 0;             // bytes not allocated (thin) or not carved (thick)
    uint64_t allocated = 0;        // bytes actually consumed by volumes
    uint64_t provisioned = 0;      // sum of volume sizes
    double max_over_subscription_ratio = 1.0;
    double data_percent() const {
        return capacity ? 100.0 * static_cast<double>(allocated) / static_cast<double>(capacity) : 0.0;
    }
};

// What a driver may use besides its own configuration.
struct DriverContext {
    VolumeStore& store;                           // persistent facts and pool allocations
    std::function<void(const std::string&)> log;  // one line per event worth an operator's eye
};

class VolumeDriver {
public:
    virtual ~VolumeDriver() = default;

    virtual std::string driver_name() const = 0;     // "thin_file", "thick_file", "lvm"
    virtual std::string backend_name() const = 0;    // the configured section name
    virtual std::string pool_name() const = 0;       // for host@backend#pool
    // Directories and files of the daemon's own storage layout (pool directory, pool file): not
    // for API clients' eyes (VolumeService::redact), only for logs.
    virtual std::vector<std::string> private_paths() const { return {}; }

    // Checks the backend can work (pool reachable, tools present); called at start-up.
    virtual Status check_setup() = 0;

    // Creates storage for a new volume. The id is the volume's id; storage is named
    // volume-<id> as Cinder names it.
    virtual Result<VolumeLocation> create(const std::string& id, uint64_t size) = 0;
    // Whether `size` more bytes can be provisioned now (over-subscription, a free region, VG
    // free space), so that an API can refuse a request before accepting it.
    virtual Status check_capacity(uint64_t size) = 0;
    virtual Status remove(const VolumeRef& volume) = 0;
    // Grows the volume to new_size; new_size <= size is refused (shrinking destroys data).
    // Returns the (possibly unchanged) location.
    virtual Result<VolumeLocation> extend(const VolumeRef& volume, uint64_t new_size) = 0;

    virtual Result<Attachment> attach(const VolumeRef& volume, AttachMode mode) = 0;
    virtual Status detach(const Attachment& attachment) = 0;
    // The loop devices over this volume's storage attached now (found by backing file and
    // offset, not by any record), for the clean-up after a crash: what a restart checks a
    // recorded device against, and detaches when no record keeps it (a crash may come between
    // losetup and recording the device). Empty for a backend whose attach() sets up none.
    virtual Result<std::vector<std::string>> attached_devices(const VolumeRef& volume) = 0;

    virtual Result<VolumeUsage> volume_usage(const VolumeRef& volume) = 0;
    virtual Result<PoolUsage> pool_usage() = 0;

    // The volume's data extents when the backend knows them; nullopt when it does not (the
    // caller then discovers them on the attached path, or treats everything as data).
    virtual Result<std::optional<ExtentMap>> extent_map(const VolumeRef& volume) = 0;

    // Live capability facts: never a constant where the truth depends on state.
    virtual BackendFacts facts() = 0;

    // Names of volumes present on the storage (volume-<id>), for the start-up orphan check.
    virtual Result<std::vector<std::string>> stored_volume_ids() = 0;
};

}  // namespace volmig
