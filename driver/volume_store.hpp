// Volume records in an embedded SQLite database (Poco::Data::SQLite), so that what exists
// survives a restart. Also a small key/value table of per-backend facts that must persist
// (thick_file's "free space is zero").
//
// Thread-safe: one connection guarded by a mutex; every write is its own transaction, and the
// database runs in WAL mode with synchronous=FULL, so a crash loses no acknowledged write.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "copy/result.hpp"

namespace Poco::Data {
class Session;
}

namespace volmig {

struct VolumeRecord {
    std::string id;
    std::string name;         // display name
    std::string backend;      // the backend's section name
    uint64_t size = 0;        // bytes
    std::string location;     // the driver's VolumeLocation
    std::string status;       // creating, available, deleting, error, extending, ...
    std::string created_at;   // ISO 8601 UTC
    std::string updated_at;
    std::string metadata = "{}";  // JSON object of user metadata
    std::string attached_path;    // a loop device set up for this volume, to release after a crash
    std::string project_id;
    std::string error;            // why the last operation failed, shown on the volume
    std::string description;
    std::string name_id;          // the id the storage is named after (Cinder's name_id); empty = id
    std::string migration_status; // Cinder's: starting, migrating, completing, success, error; empty = none
    std::string moved_to;         // host@backend#pool this volume migrated to (a forwarding record)

    const std::string& storage_id() const { return name_id.empty() ? id : name_id; }
};

class VolumeStore {
public:
    // Opens (creating if needed) <state_path>/volmig.sqlite and brings its schema up to date.
    static Result<std::unique_ptr<VolumeStore>> open(const std::string& state_path);
    ~VolumeStore();

    Status insert(const VolumeRecord& record);
    Status update(const VolumeRecord& record);  // by id; sets updated_at
    Result<std::optional<VolumeRecord>> get(const std::string& id);
    Result<std::vector<VolumeRecord>> list(const std::string& backend = "");
    Status remove(const std::string& id);

    Result<std::optional<std::string>> backend_fact(const std::string& backend, const std::string& key);
    Status set_backend_fact(const std::string& backend, const std::string& key, const std::string& value);

    // Regions of a backend's pool held by volumes (thick_file's allocation table).
    struct PoolExtent {
        std::string volume_id;
        uint64_t offset = 0;
        uint64_t length = 0;
    };
    Result<std::vector<PoolExtent>> pool_extents(const std::string& backend);
    Status put_pool_extent(const std::string& backend, const PoolExtent& extent);  // insert or replace by volume
    Status remove_pool_extent(const std::string& backend, const std::string& volume_id);

    // Runs `sql` statements that later schema versions add (used by api/ for migration state).
    // The session is locked for the duration of `fn`.
    template <typename Fn>
    auto with_session(Fn&& fn) {
        std::lock_guard<std::mutex> lock(mutex_);
        return fn(*session_);
    }

    const std::string& path() const { return path_; }

private:
    VolumeStore() = default;
    Status migrate();
    // The volumes matching `where` (SQL with ? placeholders bound to `args`), oldest first.
    Result<std::vector<VolumeRecord>> query(const std::string& what, const std::string& where, std::vector<std::string> args);

    std::mutex mutex_;
    std::unique_ptr<Poco::Data::Session> session_;
    std::string path_;
};

// Now as "2026-11-22T21:30:00.000000", the timestamp form Cinder's API uses.
std::string utc_timestamp();

}  // namespace volmig
