// Volume records in an embedded SQLite database (Poco::Data::SQLite), so that what exists
// survives a restart. Also a small key/value table of per-backend facts that must persist
// (thick_file's "free space is zero").
//
// Thread-safe: one connection guarded by a mutex; every write is a transaction (one statement, or
// several through transaction()), and the database runs in WAL mode with synchronous=FULL, so a
// crash loses no acknowledged write. The database files are private to the daemon (0600): they
// hold migration stream tokens.
#pragma once

#include <cstdint>
#include <functional>
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

// A volume's status, as Cinder spells it in the API (to_string).
enum class VolumeStatus { creating, available, in_use, deleting, error, error_deleting, extending, error_extending, maintenance };
std::string to_string(VolumeStatus status);
std::optional<VolumeStatus> parse_volume_status(const std::string& text);

// Cinder's migration_status of a volume: none, the source side of a migration (starting,
// migrating, completing, then success or error), or `target` ("target:<source volume id>"): the
// new volume a migration is filling.
enum class VolumeMigrationStatus { none, starting, migrating, completing, success, error, target };
std::string to_string(VolumeMigrationStatus status);

struct VolumeRecord {
    std::string id;
    std::string name;         // display name
    std::string backend;      // the backend's section name
    uint64_t size = 0;        // bytes
    std::string location;     // the driver's VolumeLocation
    VolumeStatus status = VolumeStatus::creating;
    std::string created_at;   // ISO 8601 UTC
    std::string updated_at;
    std::string metadata = "{}";  // JSON object of user metadata
    std::string attached_path;    // a loop device set up for this volume, to release after a crash
    std::string project_id;
    std::string error;            // why the last operation failed, shown on the volume
    std::string description;
    std::string name_id;          // the id the storage is named after (Cinder's name_id); empty = id
    VolumeMigrationStatus migration_status = VolumeMigrationStatus::none;
    std::string migration_source; // with migration_status target: the id of the volume being migrated here
    std::string moved_to;         // host@backend#pool this volume migrated to (a forwarding record)

    const std::string& storage_id() const { return name_id.empty() ? id : name_id; }
    // The one "is this volume busy with a migration" predicate: it is the source of a running
    // migration, or the target a migration is filling.
    bool in_migration() const {
        return migration_status == VolumeMigrationStatus::starting || migration_status == VolumeMigrationStatus::migrating ||
               migration_status == VolumeMigrationStatus::completing || migration_status == VolumeMigrationStatus::target;
    }
    bool is_forwarding() const { return !moved_to.empty(); }
    // Cinder's migration_status text: "" for none, "target:<id>" for a target.
    std::string migration_status_text() const;
};

class VolumeStore {
public:
    // Opens (creating if needed) <state_path>/volmig.sqlite and brings its schema up to date.
    static Result<std::unique_ptr<VolumeStore>> open(const std::string& state_path);
    ~VolumeStore();

    // The writes of one transaction: all of them are committed together, or none.
    class Tx {
    public:
        Result<std::optional<VolumeRecord>> get(const std::string& id);
        // Reads the record, lets `change` check and change it, writes it back: a check and the
        // change it allows happen atomically. not_found when the volume does not exist.
        Status modify(const std::string& id, const std::function<Status(VolumeRecord&)>& change);
        Status insert(const VolumeRecord& record);
        Status update(const VolumeRecord& record);  // by id; sets updated_at; not_found if absent
        Status remove(const std::string& id);
        Poco::Data::Session& session() { return session_; }  // for other tables (migration records)

    private:
        friend class VolumeStore;
        Tx(Poco::Data::Session& session, VolumeStore& store) : session_(session), store_(store) {}
        Poco::Data::Session& session_;
        VolumeStore& store_;
    };
    // Runs `fn` in one transaction: commits when it returns ok, rolls back otherwise (and when the
    // commit itself fails). The store is locked for the duration. Called inside another
    // transaction on the same thread, `fn` joins it: all commit or roll back together.
    Status transaction(const std::function<Status(Tx&)>& fn);
    Status modify(const std::string& id, const std::function<Status(VolumeRecord&)>& change) {
        return transaction([&](Tx& tx) { return tx.modify(id, change); });
    }

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
        std::lock_guard<std::recursive_mutex> lock(mutex_);
        return fn(*session_);
    }

    const std::string& path() const { return path_; }

private:
    VolumeStore() = default;
    Status migrate();
    // The volumes matching `where` (SQL with ? placeholders bound to `args`), oldest first.
    Result<std::vector<VolumeRecord>> query(const std::string& what, const std::string& where, std::vector<std::string> args);

    std::recursive_mutex mutex_;  // recursive: a transaction's callbacks read through the store
    int transaction_depth_ = 0;   // guarded by mutex_
    std::unique_ptr<Poco::Data::Session> session_;
    std::string path_;
};

// Now as "2026-11-22T21:30:00.000000", the timestamp form Cinder's API uses.
std::string utc_timestamp();

}  // namespace volmig
