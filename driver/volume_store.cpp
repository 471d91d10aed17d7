#include "driver/volume_store.hpp"

#include <sys/stat.h>

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

Status VolumeStore::insert(const VolumeRecord& r) {
    std::lock_guard<std::mutex> lock(mutex_);
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
    return success();
}

Status VolumeStore::update(const VolumeRecord& r) {
    std::lock_guard<std::mutex> lock(mutex_);
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
    if (changed == 0) return Error{"volume " + r.id + " is not in the database", ErrorKind::not_found};
    return success();
}

Result<std::vector<VolumeRecord>> VolumeStore::query(const std::string& what, const std::string& where, std::vector<std::string> args) {
    std::lock_guard<std::mutex> lock(mutex_);
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

Status VolumeStore::remove(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        std::string key = id;
        *session_ << "DELETE FROM volumes WHERE id = ?", use(key), now;
    } catch (const Poco::Exception& e) {
        return db_error("delete volume " + id, e);
    }
    return success();
}

Result<std::optional<std::string>> VolumeStore::backend_fact(const std::string& backend, const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
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
    std::lock_guard<std::mutex> lock(mutex_);
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
    std::lock_guard<std::mutex> lock(mutex_);
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
    std::lock_guard<std::mutex> lock(mutex_);
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
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        std::string b = backend, id = volume_id;
        *session_ << "DELETE FROM pool_extents WHERE backend = ? AND volume_id = ?", use(b), use(id), now;
    } catch (const Poco::Exception& e) {
        return db_error("release pool extent of volume " + volume_id, e);
    }
    return success();
}

}  // namespace volmig
