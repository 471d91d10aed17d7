#include "driver/volume_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>

namespace volmig {

using namespace Poco::Data::Keywords;

namespace {

constexpr int kSchemaVersion = 1;

Error db_error(const std::string& what, const Poco::Exception& e) {
    return Error{"volume database: " + what + ": " + e.displayText()};
}

// Poco binds by reference; a record's fields as lvalues, enums as their stored text.
struct Row {
    std::string id, name, backend, location, status, created_at, updated_at, metadata, attached_path, project_id, error, description,
        name_id, migration_status, moved_to;
    Poco::UInt64 size = 0;

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

std::string to_string(VolumeStatus status) {
    switch (status) {
        case VolumeStatus::creating: return "creating";
        case VolumeStatus::available: return "available";
        case VolumeStatus::in_use: return "in-use";
        case VolumeStatus::deleting: return "deleting";
        case VolumeStatus::error: return "error";
        case VolumeStatus::error_deleting: return "error_deleting";
        case VolumeStatus::extending: return "extending";
        case VolumeStatus::error_extending: return "error_extending";
        case VolumeStatus::maintenance: return "maintenance";
    }
    return "error";
}

std::optional<VolumeStatus> parse_volume_status(const std::string& text) {
    for (VolumeStatus s : {VolumeStatus::creating, VolumeStatus::available, VolumeStatus::in_use, VolumeStatus::deleting, VolumeStatus::error,
                           VolumeStatus::error_deleting, VolumeStatus::extending, VolumeStatus::error_extending, VolumeStatus::maintenance})
        if (to_string(s) == text) return s;
    return std::nullopt;
}

std::string to_string(VolumeMigrationStatus status) {
    switch (status) {
        case VolumeMigrationStatus::none: return "";
        case VolumeMigrationStatus::starting: return "starting";
        case VolumeMigrationStatus::migrating: return "migrating";
        case VolumeMigrationStatus::completing: return "completing";
        case VolumeMigrationStatus::success: return "success";
        case VolumeMigrationStatus::error: return "error";
        case VolumeMigrationStatus::target: return "target";
    }
    return "";
}

std::string VolumeRecord::migration_status_text() const {
    return migration_status == VolumeMigrationStatus::target ? "target:" + migration_source : to_string(migration_status);
}

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
    Status private_file = make_private(store->path_);
    if (!private_file.ok()) return private_file.error();
    try {
        store->session_ = std::make_unique<Poco::Data::Session>("SQLite", store->path_);
        *store->session_ << "PRAGMA journal_mode=WAL", now;
        *store->session_ << "PRAGMA synchronous=FULL", now;
        *store->session_ << "PRAGMA busy_timeout=10000", now;
    } catch (const Poco::Exception& e) {
        return db_error("cannot open " + store->path_, e);
    }
    Status migrated = store->migrate();
    if (!migrated.ok()) return migrated.error();
    return store;
}

VolumeStore::~VolumeStore() = default;

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

Status VolumeStore::transaction(const std::function<Status(Tx&)>& fn) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    Tx tx(*session_, *this);
    if (transaction_depth_ > 0) {  // joins the transaction this thread is in
        ++transaction_depth_;
        Status s = fn(tx);
        --transaction_depth_;
        return s;
    }
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
                    " project_id, error, description, name_id, migration_status, moved_to)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            use(row.id), use(row.name), use(row.backend), use(row.size), use(row.location), use(row.status), use(row.created_at),
            use(row.updated_at), use(row.metadata), use(row.attached_path), use(row.project_id), use(row.error), use(row.description),
            use(row.name_id), use(row.migration_status), use(row.moved_to), now;
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
              " attached_path = ?, project_id = ?, error = ?, description = ?, name_id = ?, migration_status = ?, moved_to = ?"
              " WHERE id = ?",
            use(row.name), use(row.backend), use(row.size), use(row.location), use(row.status), use(row.updated_at),
            use(row.metadata), use(row.attached_path), use(row.project_id), use(row.error), use(row.description), use(row.name_id),
            use(row.migration_status), use(row.moved_to), use(row.id);
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
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    std::vector<VolumeRecord> out;
    try {
        Row row;
        Poco::Data::Statement st(*session_);
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

Result<std::optional<std::string>> VolumeStore::backend_fact(const std::string& backend, const std::string& key) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    try {
        std::vector<std::string> values;
        std::string b = backend, k = key;
        *session_ << "SELECT value FROM backend_facts WHERE backend = ? AND key = ?", use(b), use(k), into(values), now;
        if (values.empty()) return std::optional<std::string>();
        return std::optional<std::string>(values.front());
    } catch (const Poco::Exception& e) {
        return db_error("read fact " + key + " of backend " + backend, e);
    }
}

Status VolumeStore::set_backend_fact(const std::string& backend, const std::string& key, const std::string& value) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    try {
        std::string b = backend, k = key, v = value;
        *session_ << "INSERT INTO backend_facts (backend, key, value) VALUES (?, ?, ?)"
                     " ON CONFLICT (backend, key) DO UPDATE SET value = excluded.value",
            use(b), use(k), use(v), now;
    } catch (const Poco::Exception& e) {
        return db_error("write fact " + key + " of backend " + backend, e);
    }
    return success();
}

Result<std::vector<VolumeStore::PoolExtent>> VolumeStore::pool_extents(const std::string& backend) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    std::vector<PoolExtent> out;
    try {
        std::string b = backend, id;
        Poco::UInt64 offset = 0, length = 0;
        Poco::Data::Statement st(*session_);
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
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    try {
        std::string b = backend, id = extent.volume_id;
        Poco::UInt64 offset = extent.offset, length = extent.length;
        *session_ << "INSERT OR REPLACE INTO pool_extents (backend, volume_id, offset, length) VALUES (?, ?, ?, ?)", use(b), use(id),
            use(offset), use(length), now;
    } catch (const Poco::Exception& e) {
        return db_error("record pool extent of volume " + extent.volume_id, e);
    }
    return success();
}

Status VolumeStore::remove_pool_extent(const std::string& backend, const std::string& volume_id) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    try {
        std::string b = backend, id = volume_id;
        *session_ << "DELETE FROM pool_extents WHERE backend = ? AND volume_id = ?", use(b), use(id), now;
    } catch (const Poco::Exception& e) {
        return db_error("release pool extent of volume " + volume_id, e);
    }
    return success();
}

}  // namespace volmig
