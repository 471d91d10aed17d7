#include "driver/volume_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>

namespace volmig {

using namespace Poco::Data::Keywords;

namespace {

constexpr int kSchemaVersion = 1;
constexpr unsigned kReaders = 4;  // read connections: more than the cores readers compete for

Error db_error(const std::string& what, const Poco::Exception& e) {
    return Error{"volume database: " + what + ": " + e.displayText()};
}

// Poco binds by reference; a record's fields as a tuple of lvalues.
struct Row {
    std::string id, name, backend, location, status, created_at, updated_at, metadata, attached_path, project_id, error, description,
        name_id, migration_status, moved_to;
    Poco::UInt64 size = 0;
    VolumeRecord to_record() const {
        return VolumeRecord{id,          name,    backend,  size,    location,         status,  created_at, updated_at, metadata,
                            attached_path, project_id, error, description, name_id, migration_status, moved_to};
    }
    static Row from(const VolumeRecord& r) {
        return Row{r.id,         r.name,       r.backend, r.location,         r.status,    r.created_at, r.updated_at,
                   r.metadata,   r.attached_path, r.project_id, r.error, r.description, r.name_id, r.migration_status,
                   r.moved_to,   r.size};
    }
};

}  // namespace

std::string utc_timestamp() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
    std::tm tm {};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, static_cast<long long>(micros));
    return buf;
}

Result<std::unique_ptr<VolumeStore>> VolumeStore::open(const std::string& state_path) {
    struct stat st {};
    if (::stat(state_path.c_str(), &st) != 0 && ::mkdir(state_path.c_str(), 0700) != 0)
        return errno_error("cannot create state_path " + state_path);
    static std::once_flag registered;
    std::call_once(registered, [] { Poco::Data::SQLite::Connector::registerConnector(); });
    std::unique_ptr<VolumeStore> store(new VolumeStore());
    store->path_ = state_path + "/volmig.sqlite";
    auto session = store->connect(Access::read_write, &store->hooks_);
    if (!session) return session.take_error();
    store->session_ = std::move(*session);
    Status migrated = store->migrate();
    if (!migrated.ok()) return migrated.error();
    auto shared = store->connect(Access::read_write, &store->shared_hooks_);
    if (!shared) return shared.take_error();
    store->shared_session_ = std::move(*shared);
    for (unsigned i = 0; i < kReaders; ++i) {
        auto reader = std::make_unique<Reader>();
        auto connected = store->connect(Access::read_only, nullptr);
        if (!connected) return connected.take_error();
        reader->session = std::move(*connected);
        store->readers_.push_back(std::move(reader));
    }
    return store;
}

Result<std::unique_ptr<Poco::Data::Session>> VolumeStore::connect(Access access, uint64_t* hooks) {
    try {
        auto session = std::make_unique<Poco::Data::Session>("SQLite", path_);
        *session << "PRAGMA journal_mode=WAL", now;
        // No flush inside a commit: wait_durable() flushes the WAL for each group of commits
        // (see the header). Checkpoints still sync the WAL before and the database after.
        *session << "PRAGMA synchronous=NORMAL", now;
        // Write transactions here are short (no flush in them): a writer that finds the other
        // connection writing is let in within a millisecond or two.
        *session << "PRAGMA busy_timeout=10000", now;
        if (access == Access::read_only) *session << "PRAGMA query_only=1", now;
        if (hooks) sqlite3_commit_hook(Poco::Data::SQLite::Utility::dbHandle(*session), &VolumeStore::on_commit, hooks);
        return session;
    } catch (const Poco::Exception& e) {
        return db_error(std::string("cannot open ") + (access == Access::read_only ? "a read connection to " : "") + path_, e);
    }
}

VolumeStore::~VolumeStore() {
    readers_.clear();
    shared_session_.reset();
    session_.reset();
    if (wal_fd_ >= 0) ::close(wal_fd_);
}

int VolumeStore::on_commit(void* hooks) {
    ++*static_cast<uint64_t*>(hooks);  // under the connection's mutex: the one thread using it
    return 0;                          // 0: let the commit go on
}

VolumeStore::WriteLock::WriteLock(VolumeStore& store, std::mutex& connection, const uint64_t& hooks)
    : store_(store), hooks_(hooks), lock_(connection) {
    hooks_before_ = hooks_;
}

VolumeStore::WriteLock::~WriteLock() {
    if (lock_.owns_lock()) (void)done();
}

Status VolumeStore::WriteLock::done(Durability durability) {
    // The hook runs before a commit completes; the sequence number is taken after, so that a
    // flush that sees it starts once the commit's WAL frames were written.
    const uint64_t sequence = hooks_ != hooks_before_ ? ++store_.committed_ : 0;
    lock_.unlock();
    return sequence && durability == Durability::durable ? store_.wait_durable(sequence) : success();
}

VolumeStore::WriteCounts VolumeStore::write_counts() {
    std::lock_guard<std::mutex> lock(sync_mutex_);
    return WriteCounts{committed_.load(), flushes_};
}

Status VolumeStore::make_durable() {
    const uint64_t sequence = committed_.load();
    return sequence ? wait_durable(sequence) : success();
}

VolumeStore::ReadLock::ReadLock(VolumeStore& store) {
    for (auto& r : store.readers_) {
        std::unique_lock<std::mutex> attempt(r->mutex, std::try_to_lock);
        if (attempt.owns_lock()) {
            reader_ = r.get();
            lock_ = std::move(attempt);
            return;
        }
    }
    reader_ = store.readers_[store.next_reader_++ % store.readers_.size()].get();
    lock_ = std::unique_lock<std::mutex>(reader_->mutex);
}

Status VolumeStore::wait_durable(uint64_t sequence) {
    std::unique_lock<std::mutex> lock(sync_mutex_);
    while (durable_ < sequence) {
        if (!flush_failure_.empty()) break;
        if (flushing_) {
            synced_.wait(lock);
            continue;
        }
        flushing_ = true;
        const uint64_t covered = committed_.load();
        lock.unlock();
        Status flushed = flush_wal();
        lock.lock();
        flushing_ = false;
        if (flushed.ok()) {
            durable_ = std::max(durable_, covered);
            ++flushes_;
        } else {
            flush_failure_ = flushed.error().message;
        }
        synced_.notify_all();
    }
    if (durable_ >= sequence) return success();
    return Error{"volume database " + path_ + ": a write could not be made durable (" + flush_failure_ +
                 "); no write is acknowledged any more: check the disk, then restart the daemon",
                 EIO, ErrorKind::io};
}

// Only the one flushing waiter runs this (flushing_), so wal_fd_ needs no lock of its own.
Status VolumeStore::flush_wal() {
    const std::string wal = path_ + "-wal";
    struct stat st {};
    if (::stat(wal.c_str(), &st) != 0) return errno_error("cannot find the write-ahead log " + wal);
    if (wal_fd_ < 0 || static_cast<uint64_t>(st.st_ino) != wal_inode_) {
        // A new WAL file (the first write, or SQLite made it anew): its directory entry must
        // be on disk too before it holds acknowledged commits.
        if (wal_fd_ >= 0) ::close(wal_fd_);
        wal_fd_ = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
        if (wal_fd_ < 0) return errno_error("cannot open the write-ahead log " + wal);
        wal_inode_ = static_cast<uint64_t>(st.st_ino);
        const std::string dir = path_.substr(0, path_.rfind('/') == std::string::npos ? 0 : path_.rfind('/'));
        const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) return errno_error("cannot open the directory of " + path_);
        const int synced = ::fsync(dfd);
        const int err = errno;
        ::close(dfd);
        if (synced != 0) return errno_error("cannot sync the directory of " + path_, err);
    }
    if (::fdatasync(wal_fd_) != 0) return errno_error("cannot sync the write-ahead log " + wal);
    return success();
}

Status VolumeStore::migrate() {
    try {
        int version = 0;
        *session_ << "PRAGMA user_version", into(version), now;
        if (version > kSchemaVersion)
            return Error{"volume database " + path_ + " has schema version " + std::to_string(version) +
                         ", newer than this volmig understands (" + std::to_string(kSchemaVersion) + "): upgrade volmig"};
        if (version < 1) {
            session_->begin();
            *session_ << "CREATE TABLE IF NOT EXISTS volumes ("
                         " id TEXT PRIMARY KEY, name TEXT NOT NULL, backend TEXT NOT NULL, size INTEGER NOT NULL,"
                         " location TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
                         " metadata TEXT NOT NULL DEFAULT '{}', attached_path TEXT NOT NULL DEFAULT '',"
                         " project_id TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '',"
                         " name_id TEXT NOT NULL DEFAULT '', migration_status TEXT NOT NULL DEFAULT '', moved_to TEXT NOT NULL DEFAULT '')",
                now;
            *session_ << "CREATE TABLE IF NOT EXISTS backend_facts ("
                         " backend TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (backend, key))",
                now;
            *session_ << "CREATE TABLE IF NOT EXISTS pool_extents ("
                         " backend TEXT NOT NULL, volume_id TEXT NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL,"
                         " PRIMARY KEY (backend, volume_id))",
                now;
            *session_ << "PRAGMA user_version = 1", now;
            session_->commit();
        }
    } catch (const Poco::Exception& e) {
        if (session_->isTransaction()) session_->rollback();
        return db_error("schema upgrade of " + path_, e);
    }
    return success();
}

Status VolumeStore::insert(const VolumeRecord& r) {
    WriteLock lock(*this);
    Row row = Row::from(r);
    if (row.created_at.empty()) row.created_at = utc_timestamp();
    if (row.updated_at.empty()) row.updated_at = row.created_at;
    try {
        *session_ << "INSERT INTO volumes (id, name, backend, size, location, status, created_at, updated_at, metadata, attached_path,"
                     " project_id, error, description, name_id, migration_status, moved_to)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            use(row.id), use(row.name), use(row.backend), use(row.size), use(row.location), use(row.status), use(row.created_at),
            use(row.updated_at), use(row.metadata), use(row.attached_path), use(row.project_id), use(row.error), use(row.description), use(row.name_id), use(row.migration_status),
            use(row.moved_to), now;
    } catch (const Poco::Exception& e) {
        return db_error("insert volume " + r.id, e);
    }
    return lock.done();
}

Status VolumeStore::update(const VolumeRecord& r, Durability durability) {
    WriteLock lock(*this);
    Row row = Row::from(r);
    row.updated_at = utc_timestamp();
    size_t changed = 0;
    try {
        Poco::Data::Statement st(*session_);
        st << "UPDATE volumes SET name = ?, backend = ?, size = ?, location = ?, status = ?, updated_at = ?, metadata = ?,"
              " attached_path = ?, project_id = ?, error = ?, description = ?, name_id = ?, migration_status = ?, moved_to = ?"
              " WHERE id = ?",
            use(row.name), use(row.backend), use(row.size), use(row.location), use(row.status), use(row.updated_at),
            use(row.metadata), use(row.attached_path), use(row.project_id), use(row.error), use(row.description), use(row.name_id),
            use(row.migration_status), use(row.moved_to), use(row.id);
        changed = st.execute();
    } catch (const Poco::Exception& e) {
        return db_error("update volume " + r.id, e);
    }
    Status durable = lock.done(durability);
    if (!durable.ok()) return durable;
    if (changed == 0) return Error{"volume " + r.id + " is not in the database", ErrorKind::not_found};
    return success();
}

Result<std::vector<VolumeRecord>> VolumeStore::query(const std::string& what, const std::string& where, std::vector<std::string> args) {
    ReadLock reader(*this);
    std::vector<VolumeRecord> out;
    try {
        Row row;
        Poco::Data::Statement st(reader.session());
        st << "SELECT id, name, backend, size, location, status, created_at, updated_at, metadata, attached_path, project_id, error,"
              " description, name_id, migration_status, moved_to FROM volumes WHERE "
           << where << " ORDER BY created_at, id";
        for (auto& a : args) st, use(a);
        st, into(row.id), into(row.name), into(row.backend), into(row.size), into(row.location), into(row.status), into(row.created_at),
            into(row.updated_at), into(row.metadata), into(row.attached_path), into(row.project_id), into(row.error), into(row.description),
            into(row.name_id), into(row.migration_status), into(row.moved_to), range(0, 1);
        while (!st.done()) {
            if (st.execute() == 0) break;
            out.push_back(row.to_record());
        }
    } catch (const Poco::Exception& e) {
        return db_error(what, e);
    }
    return out;
}

Result<std::optional<VolumeRecord>> VolumeStore::get(const std::string& id) {
    auto rows = query("read volume " + id, "id = ?", {id});
    if (!rows) return rows.take_error();
    if (rows->empty()) return std::optional<VolumeRecord>();
    return std::optional<VolumeRecord>(rows->front());
}

Result<std::vector<VolumeRecord>> VolumeStore::list(const std::string& backend) {
    if (backend.empty()) return query("list volumes", "1 = 1", {});
    return query("list volumes", "backend = ?", {backend});
}

Status VolumeStore::remove(const std::string& id, Durability durability) {
    WriteLock lock(*this);
    try {
        std::string key = id;
        *session_ << "DELETE FROM volumes WHERE id = ?", use(key), now;
    } catch (const Poco::Exception& e) {
        return db_error("delete volume " + id, e);
    }
    return lock.done(durability);
}

Result<std::optional<std::string>> VolumeStore::backend_fact(const std::string& backend, const std::string& key) {
    ReadLock reader(*this);
    try {
        std::vector<std::string> values;
        std::string b = backend, k = key;
        reader.session() << "SELECT value FROM backend_facts WHERE backend = ? AND key = ?", use(b), use(k), into(values), now;
        if (values.empty()) return std::optional<std::string>();
        return std::optional<std::string>(values.front());
    } catch (const Poco::Exception& e) {
        return db_error("read fact " + key + " of backend " + backend, e);
    }
}

Status VolumeStore::set_backend_fact(const std::string& backend, const std::string& key, const std::string& value) {
    WriteLock lock(*this);
    try {
        std::string b = backend, k = key, v = value;
        *session_ << "INSERT INTO backend_facts (backend, key, value) VALUES (?, ?, ?)"
                     " ON CONFLICT (backend, key) DO UPDATE SET value = excluded.value",
            use(b), use(k), use(v), now;
    } catch (const Poco::Exception& e) {
        return db_error("write fact " + key + " of backend " + backend, e);
    }
    return lock.done();
}

Result<std::vector<VolumeStore::PoolExtent>> VolumeStore::pool_extents(const std::string& backend) {
    ReadLock reader(*this);
    std::vector<PoolExtent> out;
    try {
        std::string b = backend, id;
        Poco::UInt64 offset = 0, length = 0;
        Poco::Data::Statement st(reader.session());
        st << "SELECT volume_id, offset, length FROM pool_extents WHERE backend = ? ORDER BY offset", use(b), into(id), into(offset),
            into(length), range(0, 1);
        while (!st.done()) {
            if (st.execute() == 0) break;
            out.push_back({id, offset, length});
        }
    } catch (const Poco::Exception& e) {
        return db_error("read pool extents of backend " + backend, e);
    }
    return out;
}

Status VolumeStore::put_pool_extent(const std::string& backend, const PoolExtent& extent) {
    WriteLock lock(*this);
    try {
        std::string b = backend, id = extent.volume_id;
        Poco::UInt64 offset = extent.offset, length = extent.length;
        *session_ << "INSERT OR REPLACE INTO pool_extents (backend, volume_id, offset, length) VALUES (?, ?, ?, ?)", use(b), use(id),
            use(offset), use(length), now;
    } catch (const Poco::Exception& e) {
        return db_error("record pool extent of volume " + extent.volume_id, e);
    }
    return lock.done();
}

Status VolumeStore::remove_pool_extent(const std::string& backend, const std::string& volume_id) {
    WriteLock lock(*this);
    try {
        std::string b = backend, id = volume_id;
        *session_ << "DELETE FROM pool_extents WHERE backend = ? AND volume_id = ?", use(b), use(id), now;
    } catch (const Poco::Exception& e) {
        return db_error("release pool extent of volume " + volume_id, e);
    }
    return lock.done();
}

}  // namespace volmig
