// Volume records in an embedded SQLite database (Poco::Data::SQLite), so that what exists
// survives a restart. Also a small key/value table of per-backend facts that must persist
// (thick_file's "free space is zero").
//
// Thread-safe. Writes go through one write connection; every write is a transaction (one
// statement, or several through transaction()). Durability: a write returns only once it is on
// disk (it survives kill -9 and power loss), with group commit: it commits without waiting for
// the disk (WAL, synchronous=NORMAL), lets go of the write connection, then waits until an
// fdatasync of the WAL covers it; writers that commit while a flush runs share the next one. So
// concurrent writers pay one disk flush per group, not one each, and none holds the connection
// while the disk works. (NORMAL alone would lose the last commits on power loss; the flush of
// the WAL after each commit is what synchronous=FULL does, done once for many.) Reads go to a few
// read connections that never wait for a writer or a flush, except on a thread inside a
// transaction or with_session, whose reads use the write connection and see its own writes. A
// read may see a commit whose writer is still waiting for its flush (not acknowledged yet).
// The database files are private to the daemon (0600): they hold migration stream tokens.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <string>
#include <vector>

#include "copy/result.hpp"
#include "driver/volume_record.hpp"

namespace Poco::Data {
class Session;
}

namespace volmig {

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
    // commit itself fails), and returns once the commit is on disk. The write connection is held
    // for the duration of `fn` and the commit, not while the disk works. Called inside another
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

    // Runs `fn` on the write connection, held for the duration of `fn` (used by api/ for
    // migration state). What `fn` commits is on disk when with_session returns (inside a
    // transaction: when the transaction returns); if the flush fails, a Status or Result
    // returned by `fn` is replaced by the error.
    template <typename Fn>
    auto with_session(Fn&& fn) {
        WriteLock lock(*this);
        auto result = fn(*session_);
        Status durable = lock.done();
        if (!durable.ok()) {
            if constexpr (std::is_constructible_v<decltype(result), Error>) return decltype(result)(durable.error());
            else throw std::runtime_error(durable.error().message);
        }
        return result;
    }
    // Runs `fn` on a read connection, for queries: it waits neither for a writer nor for a flush.
    // On a thread inside a transaction or with_session it runs on the write connection instead,
    // so that it sees what that thread wrote. A read connection refuses writes (query_only).
    template <typename Fn>
    auto with_read_session(Fn&& fn) {
        ReadLock lock(*this);
        return fn(lock.session());
    }

    // Commits made and flushes of the WAL done so far: with concurrent writers, fewer flushes.
    struct WriteCounts {
        uint64_t commits = 0;
        uint64_t flushes = 0;
    };
    WriteCounts write_counts();

    const std::string& path() const { return path_; }

private:
    // Holds the write connection (recursively: a thread may nest with_session and transactions)
    // while it lives. done() lets go of it; the outermost hold then waits until what was
    // committed under it is on disk, and returns that outcome. (Destroyed without done(): the
    // same, ignoring the outcome, as on an error path that already failed.)
    class WriteLock {
    public:
        explicit WriteLock(VolumeStore& store);
        ~WriteLock();
        Status done();

    private:
        VolumeStore& store_;
        bool held_ = true;
        bool outermost_ = false;
        uint64_t hooks_before_ = 0;
    };
    struct Reader {
        std::mutex mutex;
        std::unique_ptr<Poco::Data::Session> session;
    };
    // A connection to read on: a free read connection, else one in turn; the write connection
    // when this thread holds it.
    class ReadLock {
    public:
        explicit ReadLock(VolumeStore& store);
        ~ReadLock();
        Poco::Data::Session& session() { return *session_; }

    private:
        VolumeStore& store_;
        Poco::Data::Session* session_ = nullptr;
        std::unique_lock<std::mutex> reader_;
        bool writer_ = false;
    };

    VolumeStore() = default;
    Status migrate();
    enum class Access { read_write, read_only };
    Result<std::unique_ptr<Poco::Data::Session>> connect(Access access);
    // Returns once commit `sequence` is on disk: the first waiter flushes the WAL for all
    // commits made so far, the others wait for it, and the next waiter flushes what came since.
    Status wait_durable(uint64_t sequence);
    Status flush_wal();
    static int on_commit(void* store);
    // The volumes matching `where` (SQL with ? placeholders bound to `args`), oldest first.
    Result<std::vector<VolumeRecord>> query(const std::string& what, const std::string& where, std::vector<std::string> args);

    std::recursive_mutex mutex_;  // the write connection; recursive: a transaction's callbacks read through the store
    int transaction_depth_ = 0;   // guarded by mutex_
    int hold_depth_ = 0;          // WriteLocks this thread holds; guarded by mutex_
    uint64_t hooks_ = 0;          // commits SQLite announced on session_; guarded by mutex_
    std::atomic<std::thread::id> holder_{};  // the thread holding the write connection, if any
    std::unique_ptr<Poco::Data::Session> session_;
    std::string path_;
    std::atomic<uint64_t> committed_{0};  // commit sequence: numbered after each commit completed
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

}  // namespace volmig
