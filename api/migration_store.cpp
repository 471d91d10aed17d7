#include "api/migration_store.hpp"

#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>

#include <nlohmann/json.hpp>

namespace volmig {

using namespace Poco::Data::Keywords;

namespace {

// Poco binds by reference: one lvalue per column, in the order of kColumns.
struct Row {
    std::string id, role, volume_id, peer_volume_id, destination, source_host, state, plan, report, error, stream_token, source_backend,
        source_location, source_storage_id, created_at, updated_at, requested_strategy;
    int force_full = 0, auto_complete = 1, lock_volume = 0;
    Poco::UInt64 source_size = 0, bytes_done = 0, bytes_total = 0;
    double rate = 0, eta = -1;

    static Row from(const MigrationRecord& m) {
        Row r;
        r.id = m.id;
        r.role = m.role;
        r.volume_id = m.volume_id;
        r.peer_volume_id = m.peer_volume_id;
        r.destination = m.destination;
        r.source_host = m.source_host;
        r.state = m.state;
        r.plan = m.plan;
        r.report = m.report;
        r.error = m.error;
        r.stream_token = m.stream_token;
        r.source_backend = m.source_backend;
        r.source_location = m.source_location;
        r.source_storage_id = m.source_storage_id;
        r.created_at = m.created_at;
        r.updated_at = m.updated_at;
        r.force_full = m.force_full;
        r.auto_complete = m.auto_complete;
        r.lock_volume = m.lock_volume;
        r.source_size = m.source_size;
        r.bytes_done = m.bytes_done;
        r.bytes_total = m.bytes_total;
        r.rate = m.rate;
        r.eta = m.eta_seconds;
        r.requested_strategy = m.requested_strategy;
        return r;
    }
    MigrationRecord to_record() const {
        MigrationRecord m;
        m.id = id;
        m.role = role;
        m.volume_id = volume_id;
        m.peer_volume_id = peer_volume_id;
        m.destination = destination;
        m.source_host = source_host;
        m.state = state;
        m.plan = plan;
        m.report = report;
        m.error = error;
        m.stream_token = stream_token;
        m.source_backend = source_backend;
        m.source_location = source_location;
        m.source_storage_id = source_storage_id;
        m.created_at = created_at;
        m.updated_at = updated_at;
        m.force_full = force_full != 0;
        m.auto_complete = auto_complete != 0;
        m.lock_volume = lock_volume != 0;
        m.source_size = source_size;
        m.bytes_done = bytes_done;
        m.bytes_total = bytes_total;
        m.rate = rate;
        m.eta_seconds = eta;
        m.requested_strategy = requested_strategy;
        return m;
    }
};

const char* kColumns =
    "id, role, volume_id, peer_volume_id, destination, source_host, state, plan, report, error, stream_token, source_backend,"
    " source_location, source_storage_id, created_at, updated_at, force_full, auto_complete, lock_volume, source_size, bytes_done,"
    " bytes_total, rate, eta, requested_strategy";

Error db_error(const std::string& what, const Poco::Exception& e) { return Error{"migration records: " + what + ": " + e.displayText()}; }

}  // namespace

MigrationStore::MigrationStore(VolumeStore& store) : store_(store) {}

Status MigrationStore::ensure_schema() {
    return store_.with_session([](Poco::Data::Session& session) -> Status {
        try {
            session << "CREATE TABLE IF NOT EXISTS migrations ("
                       " id TEXT PRIMARY KEY, role TEXT NOT NULL, volume_id TEXT NOT NULL, peer_volume_id TEXT NOT NULL,"
                       " destination TEXT NOT NULL, source_host TEXT NOT NULL, state TEXT NOT NULL, plan TEXT NOT NULL,"
                       " report TEXT NOT NULL, error TEXT NOT NULL, stream_token TEXT NOT NULL, source_backend TEXT NOT NULL,"
                       " source_location TEXT NOT NULL, source_storage_id TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
                       " force_full INTEGER NOT NULL, auto_complete INTEGER NOT NULL, lock_volume INTEGER NOT NULL,"
                       " source_size INTEGER NOT NULL, bytes_done INTEGER NOT NULL, bytes_total INTEGER NOT NULL, rate REAL NOT NULL,"
                       " eta REAL NOT NULL, requested_strategy TEXT NOT NULL DEFAULT '')",
                now;
            session << "CREATE INDEX IF NOT EXISTS migrations_by_volume ON migrations (volume_id, role, created_at)", now;
        } catch (const Poco::Exception& e) {
            return db_error("create table", e);
        }
        return success();
    });
}

Status MigrationStore::save(const MigrationRecord& m) {
    Row r = Row::from(m);
    r.updated_at = utc_timestamp();
    if (r.created_at.empty()) r.created_at = r.updated_at;
    return store_.with_session([&](Poco::Data::Session& session) -> Status {
        try {
            session << "INSERT OR REPLACE INTO migrations (" << kColumns
                    << ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                use(r.id), use(r.role), use(r.volume_id), use(r.peer_volume_id), use(r.destination), use(r.source_host), use(r.state),
                use(r.plan), use(r.report), use(r.error), use(r.stream_token), use(r.source_backend), use(r.source_location),
                use(r.source_storage_id), use(r.created_at), use(r.updated_at), use(r.force_full), use(r.auto_complete),
                use(r.lock_volume), use(r.source_size), use(r.bytes_done), use(r.bytes_total), use(r.rate), use(r.eta),
                use(r.requested_strategy), now;
        } catch (const Poco::Exception& e) {
            return db_error("save migration " + m.id, e);
        }
        return success();
    });
}

Result<std::vector<MigrationRecord>> MigrationStore::query(const std::string& where, const std::vector<std::string>& args) {
    return store_.with_session([&](Poco::Data::Session& session) -> Result<std::vector<MigrationRecord>> {
        std::vector<MigrationRecord> out;
        try {
            Row r;
            std::vector<std::string> values = args;
            Poco::Data::Statement st(session);
            st << "SELECT " << kColumns << " FROM migrations WHERE " << where << " ORDER BY created_at, id";
            for (auto& v : values) st, use(v);
            st, into(r.id), into(r.role), into(r.volume_id), into(r.peer_volume_id), into(r.destination), into(r.source_host),
                into(r.state), into(r.plan), into(r.report), into(r.error), into(r.stream_token), into(r.source_backend),
                into(r.source_location), into(r.source_storage_id), into(r.created_at), into(r.updated_at), into(r.force_full),
                into(r.auto_complete), into(r.lock_volume), into(r.source_size), into(r.bytes_done), into(r.bytes_total), into(r.rate),
                into(r.eta), into(r.requested_strategy), range(0, 1);
            while (!st.done()) {
                if (st.execute() == 0) break;
                out.push_back(r.to_record());
            }
        } catch (const Poco::Exception& e) {
            return db_error("query", e);
        }
        return out;
    });
}

Result<std::optional<MigrationRecord>> MigrationStore::get(const std::string& id) {
    auto rows = query("id = ?", {id});
    if (!rows) return rows.take_error();
    if (rows->empty()) return std::optional<MigrationRecord>();
    return std::optional<MigrationRecord>(rows->back());
}

Result<std::optional<MigrationRecord>> MigrationStore::latest(const std::string& volume_id, const std::string& role) {
    auto rows = query("volume_id = ? AND role = ?", {volume_id, role});
    if (!rows) return rows.take_error();
    if (rows->empty()) return std::optional<MigrationRecord>();
    return std::optional<MigrationRecord>(rows->back());
}

Result<std::vector<MigrationRecord>> MigrationStore::failed_with_cleanup_pending(const std::string& volume_id) {
    auto rows = query("volume_id = ? AND role = 'source' AND state = 'error'", {volume_id});
    if (!rows) return rows.take_error();
    std::vector<MigrationRecord> out;
    for (auto& m : *rows) {
        auto report = nlohmann::json::parse(m.report, nullptr, false);
        if (report.is_object() && report.value("cleanup_pending", false)) out.push_back(m);
    }
    return out;
}

Result<std::optional<MigrationRecord>> MigrationStore::arrived(const std::string& volume_id) {
    auto rows = query("peer_volume_id = ? AND role = 'target' AND state = 'success'", {volume_id});
    if (!rows) return rows.take_error();
    if (rows->empty()) return std::optional<MigrationRecord>();
    return std::optional<MigrationRecord>(rows->back());
}

Result<std::vector<MigrationRecord>> MigrationStore::unfinished(const std::string& role) {
    return query("role = ? AND state NOT IN ('success', 'error')", {role});
}

}  // namespace volmig
