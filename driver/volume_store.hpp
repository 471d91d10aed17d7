// Volume records in an embedded SQLite database (Poco::Data::SQLite), so that what exists
// survives a restart. Also a small key/value table of per-backend facts that must persist
// (thick_file's "free space is zero").
//
// Thread-safe. Durability: every write returns only once it is on disk (it survives kill -9
// and power loss), with group commit: a write commits without waiting for the disk (WAL,
// synchronous=NORMAL), then waits until an fdatasync of the WAL covers it; writers that commit
// while a flush runs share the next one. So concurrent writers pay one disk flush per group,
// not one each, and none holds a connection while the disk works. (NORMAL alone would lose the
// last commits on power loss; the flush of the WAL after each commit is what synchronous=FULL
// does, done once for many.) The volume records have a write connection, with_session another
// (so that api/'s migration state and the records do not queue behind each other), and reads
// go to a few read connections that never wait for a writer or a flush; a read may see a commit
// whose writer is still waiting for its flush (it is not acknowledged yet).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
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

// When a write returns: `durable`, once it is on disk (the default); `committed`, once every
// reader sees it, for a caller that commits under a lock of its own and calls make_durable()
// after letting go of it, before it acts on the write or acknowledges it.
enum class Durability { durable, committed };

class VolumeStore {
public:
    // Opens (creating if needed) <state_path>/volmig.sqlite and brings its schema up to date.
    static Result<std::unique_ptr<VolumeStore>> open(const std::string& state_path);
    ~VolumeStore();

    Status insert(const VolumeRecord& record);
    Status update(const VolumeRecord& record, Durability durability = Durability::durable);  // by id; sets updated_at
    Result<std::optional<VolumeRecord>> get(const std::string& id);
    Result<std::vector<VolumeRecord>> list(const std::string& backend = "");
    Status remove(const std::string& id, Durability durability = Durability::durable);
    // Returns once every write committed so far is on disk.
    Status make_durable();
    // Commits made and flushes of the WAL done so far: with concurrent writers, fewer flushes.
    struct WriteCounts {
        uint64_t commits = 0;
        uint64_t flushes = 0;
    };
    WriteCounts write_counts();

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

    // Runs `fn` on a connection of its own, locked for the duration of `fn` (used by api/ for
    // migration state), so that what api/ does there neither waits for nor holds up the volume
    // records' writes. What `fn` commits is durable when with_session returns (grouped with
    // every other write); if the flush fails, a Status or Result returned by `fn` is replaced
    // by the error.
    template <typename Fn>
    auto with_session(Fn&& fn) {
        WriteLock lock(*this, shared_mutex_, shared_hooks_);
        auto result = fn(*shared_session_);
        Status durable = lock.done();
        if (!durable.ok()) {
            if constexpr (std::is_constructible_v<decltype(result), Error>) return decltype(result)(durable.error());
            else throw std::runtime_error(durable.error().message);
        }
        return result;
    }

    // Runs `fn` on one of the read connections, which never wait for the writer or a flush and
    // refuse writes (query_only): for queries (used by api/ for migration state).
    template <typename Fn>
    auto with_read_session(Fn&& fn) {
        ReadLock reader(*this);
        return fn(reader.session());
    }

    const std::string& path() const { return path_; }

private:
    // Holds the write connection while it lives. done() lets go of it, then waits until what
    // was committed meanwhile is on disk: the write's outcome. (Destroyed without done(): the
    // same, ignoring the outcome, as on an error path that already failed.)
    class WriteLock {
    public:
        // The volume records' write connection (session_), or another one with its hooks count.
        explicit WriteLock(VolumeStore& store) : WriteLock(store, store.write_mutex_, store.hooks_) {}
        WriteLock(VolumeStore& store, std::mutex& connection, const uint64_t& hooks);
        ~WriteLock();
        Status done(Durability durability = Durability::durable);

    private:
        VolumeStore& store_;
        const uint64_t& hooks_;
        uint64_t hooks_before_;
        std::unique_lock<std::mutex> lock_;
    };
    struct Reader {
        std::mutex mutex;
        std::unique_ptr<Poco::Data::Session> session;
    };
    // Holds one of the read connections while it lives: a free one, else one in turn.
    class ReadLock {
    public:
        explicit ReadLock(VolumeStore& store);
        Poco::Data::Session& session() { return *reader_->session; }

    private:
        Reader* reader_;
        std::unique_lock<std::mutex> lock_;
    };

    VolumeStore() = default;
    Status migrate();
    // Returns once commit `sequence` is on disk: the first waiter flushes the WAL for all
    // commits made so far, the others wait for it, and the next waiter flushes what came since.
    Status wait_durable(uint64_t sequence);
    Status flush_wal();
    static int on_commit(void* hooks);
    enum class Access { read_write, read_only };
    // A connection to the database; commits on it counted in `hooks` (read_write).
    Result<std::unique_ptr<Poco::Data::Session>> connect(Access access, uint64_t* hooks);
    // The volumes matching `where` (SQL with ? placeholders bound to `args`), oldest first.
    Result<std::vector<VolumeRecord>> query(const std::string& what, const std::string& where, std::vector<std::string> args);

    std::string path_;
    std::mutex write_mutex_;                         // session_ and hooks_
    std::unique_ptr<Poco::Data::Session> session_;   // the volume records' write connection
    uint64_t hooks_ = 0;                             // commits SQLite announced on session_
    std::mutex shared_mutex_;                        // shared_session_ and shared_hooks_
    std::unique_ptr<Poco::Data::Session> shared_session_;  // with_session's
    uint64_t shared_hooks_ = 0;
    std::atomic<uint64_t> committed_{0};             // commit sequence: numbered after each commit completed
    std::vector<std::unique_ptr<Reader>> readers_;  // fixed after open()
    std::atomic<unsigned> next_reader_{0};

    std::mutex sync_mutex_;  // everything below
    std::condition_variable synced_;
    uint64_t durable_ = 0;   // every commit up to this sequence number is on disk
    uint64_t flushes_ = 0;
    bool flushing_ = false;
    std::string flush_failure_;  // once a flush failed, no write is acknowledged again
    int wal_fd_ = -1;
    uint64_t wal_inode_ = 0;
};

// Now as "2026-11-22T21:30:00.000000", the timestamp form Cinder's API uses.
std::string utc_timestamp();

}  // namespace volmig
