#include "driver/volume_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>


#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>

namespace volmig {

using namespace Poco::Data::Keywords;

namespace {

constexpr int kSchemaVersion = 2;
constexpr unsigned kReaders = 4;  // read connections: more than the cores readers compete for

Error db_error(const std::string& what, const Poco::Exception& e) {
    return Error{"volume database: " + what + ": " + e.displayText()};
}

// Poco binds by reference; a record's fields as lvalues, enums as their stored text.
struct Row {
    std::string id, name, backend, location, status, created_at, updated_at, metadata, attached_path, project_id, error, description,
        name_id, migration_status, moved_to, volume_type_id, attachments;
    Poco::UInt64 size = 0;
    int bootable = 0;

    VolumeRecord to_record() const {
        VolumeRecord r;
        r.id = id;
        r.name = name;
        r.backend = backend;
        r.size = size;
        r.location = location;
        r.created_at = created_at;
        r.updated_at = updated_at;
        r.metadata = metadata;
        r.attached_path = attached_path;
        r.project_id = project_id;
        r.error = error;
        r.description = description;
        r.name_id = name_id;
        r.moved_to = moved_to;
        r.volume_type_id = volume_type_id;
        r.bootable = bootable != 0;
        r.attachments = attachments;
        // A stored value this volmig does not know is input like any other: the volume shows as
        // error, saying why, rather than taking down a listing.
        if (auto known = parse_volume_status(status)) {
            r.status = *known;
        } else {
            r.status = VolumeStatus::error;
            r.error = "the stored status '" + status.substr(0, 40) + "' is not one volmig knows" + (error.empty() ? "" : "; " + error);
        }
        static const std::pair<const char*, VolumeMigrationStatus> kMigration[] = {
            {"", VolumeMigrationStatus::none},           {"starting", VolumeMigrationStatus::starting},
            {"migrating", VolumeMigrationStatus::migrating}, {"completing", VolumeMigrationStatus::completing},
            {"success", VolumeMigrationStatus::success}, {"error", VolumeMigrationStatus::error}};
        r.migration_status = VolumeMigrationStatus::error;
        for (const auto& [text, value] : kMigration)
            if (migration_status == text) r.migration_status = value;
        if (migration_status.rfind("target:", 0) == 0) {
            r.migration_status = VolumeMigrationStatus::target;
            r.migration_source = migration_status.substr(7);
        }
        return r;
    }
    static Row from(const VolumeRecord& r) {
        Row row;
        row.id = r.id;
        row.name = r.name;
        row.backend = r.backend;
        row.location = r.location;
        row.status = to_string(r.status);
        row.created_at = r.created_at;
        row.updated_at = r.updated_at;
        row.metadata = r.metadata;
        row.attached_path = r.attached_path;
        row.project_id = r.project_id;
        row.error = r.error;
        row.description = r.description;
        row.name_id = r.name_id;
        row.migration_status = r.migration_status_text();
        row.moved_to = r.moved_to;
        row.volume_type_id = r.volume_type_id;
        row.bootable = r.bootable ? 1 : 0;
        row.attachments = r.attachments;
        row.size = r.size;
        return row;
    }
};

// The database file, created private before SQLite opens it (SQLite gives its -wal and -shm
// files the database's own mode), and made private if an older volmig left it readable.
Status make_private(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return errno_error("cannot create the volume database " + path);
    const int rc = ::fchmod(fd, 0600);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return errno_error("cannot make " + path + " private (chmod 0600)", err);
    for (const char* suffix : {"-wal", "-shm"}) {
        const std::string side = path + suffix;
        if (::chmod(side.c_str(), 0600) != 0 && errno != ENOENT) return errno_error("cannot make " + side + " private (chmod 0600)");
    }
    return success();
}

}  // namespace

Result<std::unique_ptr<VolumeStore>> VolumeStore::open(const std::string& state_path) {
    struct stat st {};
    if (::stat(state_path.c_str(), &st) != 0 && ::mkdir(state_path.c_str(), 0700) != 0)
        return errno_error("cannot create state_path " + state_path);
    static std::once_flag registered;
    std::call_once(registered, [] { Poco::Data::SQLite::Connector::registerConnector(); });
    std::unique_ptr<VolumeStore> store(new VolumeStore());
    store->path_ = state_path + "/volmig.sqlite";
    Status private_file = make_private(store->path_);
    if (!private_file.ok()) return private_file.error();
    auto session = store->connect(Access::read_write);
    if (!session) return session.take_error();
    store->session_ = std::move(*session);
    sqlite3_commit_hook(Poco::Data::SQLite::Utility::dbHandle(*store->session_), &VolumeStore::on_commit, store.get());
    Status migrated = store->migrate();
    if (!migrated.ok()) return migrated.error();
    for (unsigned i = 0; i < kReaders; ++i) {
        auto reader = std::make_unique<Reader>();
        auto connected = store->connect(Access::read_only);
        if (!connected) return connected.take_error();
        reader->session = std::move(*connected);
        store->readers_.push_back(std::move(reader));
    }
    return store;
}

Result<std::unique_ptr<Poco::Data::Session>> VolumeStore::connect(Access access) {
    try {
        auto session = std::make_unique<Poco::Data::Session>("SQLite", path_);
        *session << "PRAGMA journal_mode=WAL", now;
        // No flush inside a commit: wait_durable() flushes the WAL for each group of commits
        // (see the header). Checkpoints still sync the WAL before and the database after.
        *session << "PRAGMA synchronous=NORMAL", now;
        *session << "PRAGMA busy_timeout=10000", now;
        if (access == Access::read_only) *session << "PRAGMA query_only=1", now;
        return session;
    } catch (const Poco::Exception& e) {
        return db_error(std::string("cannot open ") + (access == Access::read_only ? "a read connection to " : "") + path_, e);
    }
}

VolumeStore::~VolumeStore() {
    readers_.clear();
    session_.reset();
    if (wal_fd_ >= 0) ::close(wal_fd_);
}

int VolumeStore::on_commit(void* store) {
    ++static_cast<VolumeStore*>(store)->hooks_;  // on the thread holding the write connection
    return 0;                                    // 0: let the commit go on
}

VolumeStore::WriteLock::WriteLock(VolumeStore& store) : store_(store) {
    store_.mutex_.lock();
    outermost_ = store_.hold_depth_++ == 0;
    if (outermost_) store_.holder_ = std::this_thread::get_id();
    hooks_before_ = store_.hooks_;
}

VolumeStore::WriteLock::~WriteLock() { (void)done(); }

Status VolumeStore::WriteLock::done() {
    if (!held_) return success();
    held_ = false;
    // The hook runs before a commit completes; the sequence number is taken after, so that a
    // flush that sees it starts once the commit's WAL frames were written. Only the outermost
    // hold waits: inside it, a commit is not acknowledged yet.
    const uint64_t sequence = outermost_ && store_.hooks_ != hooks_before_ ? ++store_.committed_ : 0;
    if (outermost_) store_.holder_ = std::thread::id();
    --store_.hold_depth_;
    store_.mutex_.unlock();
    return sequence ? store_.wait_durable(sequence) : success();
}

VolumeStore::ReadLock::ReadLock(VolumeStore& store) : store_(store) {
    if (store_.holder_.load() == std::this_thread::get_id() || store_.readers_.empty()) {
        store_.mutex_.lock();
        writer_ = true;
        session_ = store_.session_.get();
        return;
    }
    for (auto& r : store_.readers_) {
        std::unique_lock<std::mutex> attempt(r->mutex, std::try_to_lock);
        if (attempt.owns_lock()) {
            reader_ = std::move(attempt);
            session_ = r->session.get();
            return;
        }
    }
    Reader& r = *store_.readers_[store_.next_reader_++ % store_.readers_.size()];
    reader_ = std::unique_lock<std::mutex>(r.mutex);
    session_ = r.session.get();
}

VolumeStore::ReadLock::~ReadLock() {
    if (writer_) store_.mutex_.unlock();
}

VolumeStore::WriteCounts VolumeStore::write_counts() {
    std::lock_guard<std::mutex> lock(sync_mutex_);
    return WriteCounts{committed_.load(), flushes_};
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
        const size_t slash = path_.rfind('/');
        const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash);
        const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
        if (version < 2) {  // volume types, the bootable flag, attachments
            session_->begin();
            *session_ << "ALTER TABLE volumes ADD COLUMN volume_type_id TEXT NOT NULL DEFAULT ''", now;
            *session_ << "ALTER TABLE volumes ADD COLUMN bootable INTEGER NOT NULL DEFAULT 0", now;
            *session_ << "ALTER TABLE volumes ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]'", now;
            *session_ << "PRAGMA user_version = 2", now;
            session_->commit();
        }
    } catch (const Poco::Exception& e) {
        if (session_->isTransaction()) session_->rollback();
        return db_error("schema upgrade of " + path_, e);
    }
    return success();
}

Status VolumeStore::transaction(const std::function<Status(Tx&)>& fn) {
    WriteLock lock(*this);
    Tx tx(*session_, *this);
    if (transaction_depth_ > 0) {  // joins the transaction this thread is in
        ++transaction_depth_;
        Status s = fn(tx);
        --transaction_depth_;
        return s;
    }
    // The depth goes back to 0 before the write connection is let go: another thread must never
    // find it raised and take itself for part of this transaction.
    Status committed = [&]() -> Status {
        struct Depth {
            int& depth;
            explicit Depth(int& d) : depth(d) { ++depth; }
            ~Depth() { --depth; }
        } depth(transaction_depth_);
        try {
            session_->begin();
            Status s = fn(tx);
            if (!s.ok()) {
                session_->rollback();
                return s;
            }
            session_->commit();
        } catch (const Poco::Exception& e) {
            if (session_->isTransaction()) session_->rollback();
            return db_error("transaction", e);
        }
        return success();
    }();
    if (!committed.ok()) return committed;
    return lock.done();
}

Result<std::optional<VolumeRecord>> VolumeStore::Tx::get(const std::string& id) { return store_.get(id); }

Status VolumeStore::Tx::modify(const std::string& id, const std::function<Status(VolumeRecord&)>& change) {
    auto got = get(id);
    if (!got) return got.error();
    if (!*got) return Error{"volume " + id + " could not be found", ErrorKind::not_found};
    VolumeRecord r = **got;
    Status s = change(r);
    if (!s.ok()) return s;
    return update(r);
}

Status VolumeStore::insert(const VolumeRecord& r) {
    return transaction([&](Tx& tx) { return tx.insert(r); });
}

Status VolumeStore::update(const VolumeRecord& r) {
    return transaction([&](Tx& tx) { return tx.update(r); });
}

Status VolumeStore::remove(const std::string& id) {
    return transaction([&](Tx& tx) { return tx.remove(id); });
}

Status VolumeStore::Tx::insert(const VolumeRecord& r) {
    Row row = Row::from(r);
    if (row.created_at.empty()) row.created_at = utc_timestamp();
    if (row.updated_at.empty()) row.updated_at = row.created_at;
    try {
        session_ << "INSERT INTO volumes (id, name, backend, size, location, status, created_at, updated_at, metadata, attached_path,"
                    " project_id, error, description, name_id, migration_status, moved_to, volume_type_id, bootable, attachments)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            use(row.id), use(row.name), use(row.backend), use(row.size), use(row.location), use(row.status), use(row.created_at),
            use(row.updated_at), use(row.metadata), use(row.attached_path), use(row.project_id), use(row.error), use(row.description),
            use(row.name_id), use(row.migration_status), use(row.moved_to), use(row.volume_type_id), use(row.bootable),
            use(row.attachments), now;
    } catch (const Poco::Exception& e) {
        return db_error("insert volume " + r.id, e);
    }
    return success();
}

Status VolumeStore::Tx::update(const VolumeRecord& r) {
    Row row = Row::from(r);
    row.updated_at = utc_timestamp();
    size_t changed = 0;
    try {
        Poco::Data::Statement st(session_);
        st << "UPDATE volumes SET name = ?, backend = ?, size = ?, location = ?, status = ?, updated_at = ?, metadata = ?,"
              " attached_path = ?, project_id = ?, error = ?, description = ?, name_id = ?, migration_status = ?, moved_to = ?,"
              " volume_type_id = ?, bootable = ?, attachments = ? WHERE id = ?",
            use(row.name), use(row.backend), use(row.size), use(row.location), use(row.status), use(row.updated_at),
            use(row.metadata), use(row.attached_path), use(row.project_id), use(row.error), use(row.description), use(row.name_id),
            use(row.migration_status), use(row.moved_to), use(row.volume_type_id), use(row.bootable), use(row.attachments),
            use(row.id);
        changed = st.execute();
    } catch (const Poco::Exception& e) {
        return db_error("update volume " + r.id, e);
    }
    if (changed == 0) return Error{"volume " + r.id + " is not in the database", ErrorKind::not_found};
    return success();
}

Status VolumeStore::Tx::remove(const std::string& id) {
    try {
        std::string key = id;
        session_ << "DELETE FROM volumes WHERE id = ?", use(key), now;
    } catch (const Poco::Exception& e) {
        return db_error("delete volume " + id, e);
    }
    return success();
}

Result<std::vector<VolumeRecord>> VolumeStore::query(const std::string& what, const std::string& where, std::vector<std::string> args) {
    ReadLock reader(*this);
    std::vector<VolumeRecord> out;
    try {
        Row row;
        Poco::Data::Statement st(reader.session());
        st << "SELECT id, name, backend, size, location, status, created_at, updated_at, metadata, attached_path, project_id, error,"
              " description, name_id, migration_status, moved_to, volume_type_id, bootable, attachments FROM volumes WHERE "
           << where << " ORDER BY created_at, id";
        for (auto& a : args) st, use(a);
        st, into(row.id), into(row.name), into(row.backend), into(row.size), into(row.location), into(row.status), into(row.created_at),
            into(row.updated_at), into(row.metadata), into(row.attached_path), into(row.project_id), into(row.error), into(row.description),
            into(row.name_id), into(row.migration_status), into(row.moved_to), into(row.volume_type_id), into(row.bootable),
            into(row.attachments), range(0, 1);
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
