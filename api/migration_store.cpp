#include "api/migration_store.hpp"

#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>

namespace volmig {

using namespace Poco::Data::Keywords;

namespace {

// Poco binds by reference: one lvalue per column, in the order of kColumns; enums as text.
struct Row {
    std::string id, role, state, volume_id, destination_volume_id, source_host, destination, requested_strategy, strategy, plan, report,
        error, stream_token, source_backend, source_location, source_storage_id, created_at, updated_at;
    int force_full = 0, auto_complete = 1, lock_volume = 0, cleanup_pending = 0;
    Poco::UInt64 block_size = 4096, source_size = 0, bytes_done = 0, bytes_total = 0;
    double rate = 0, eta = -1;
    Poco::Int64 seq = 0;

    static Row from(const MigrationRecord& m) {
        Row r;
        r.id = m.id;
        r.role = to_string(m.role);
        r.state = to_string(m.state);
        r.volume_id = m.volume_id;
        r.destination_volume_id = m.destination_volume_id;
        r.source_host = m.source_host;
        r.destination = m.destination;
        r.requested_strategy = m.requested_strategy == Strategy::automatic ? "" : to_string(m.requested_strategy);
        r.strategy = m.strategy ? to_string(*m.strategy) : "";
        r.plan = m.plan;
        r.report = m.report;
        r.error = m.error;
        r.stream_token = m.stream_token;
        r.source_backend = m.source.backend;
        r.source_location = m.source.location;
        r.source_storage_id = m.source.storage_id;
        r.source_size = m.source.size;
        r.created_at = m.created_at;
        r.updated_at = m.updated_at;
        r.force_full = m.force_full;
        r.auto_complete = m.auto_complete;
        r.lock_volume = m.lock_volume;
        r.cleanup_pending = m.cleanup_pending;
        r.block_size = m.block_size;
        r.bytes_done = m.bytes_done;
        r.bytes_total = m.bytes_total;
        r.rate = m.rate;
        r.eta = m.eta_seconds;
        r.seq = m.sequence;
        return r;
    }

    // A stored row is input: a role, state or strategy this volmig does not know makes the
    // record an error that says so, never a guess.
    MigrationRecord to_record() const {
        MigrationRecord m;
        m.id = id;
        m.volume_id = volume_id;
        m.destination_volume_id = destination_volume_id;
        m.source_host = source_host;
        m.destination = destination;
        m.plan = plan;
        m.report = report;
        m.error = error;
        m.stream_token = stream_token;
        m.source = SourceStorage{source_backend, source_location, source_storage_id, source_size};
        m.created_at = created_at;
        m.updated_at = updated_at;
        m.force_full = force_full != 0;
        m.auto_complete = auto_complete != 0;
        m.lock_volume = lock_volume != 0;
        m.cleanup_pending = cleanup_pending != 0;
        m.block_size = block_size;
        m.bytes_done = bytes_done;
        m.bytes_total = bytes_total;
        m.rate = rate;
        m.eta_seconds = eta;
        m.sequence = seq;
        std::string problem;
        if (auto r = parse_migration_role(role)) m.role = *r;
        else problem = "role '" + role.substr(0, 40) + "'";
        if (auto s = parse_migration_state(state)) m.state = *s;
        else problem = "state '" + state.substr(0, 40) + "'";
        if (!requested_strategy.empty()) {
            if (auto s = parse_strategy(requested_strategy)) m.requested_strategy = *s;
            else problem = "requested strategy '" + requested_strategy.substr(0, 40) + "'";
        }
        if (!strategy.empty()) {
            auto s = parse_strategy(strategy);
            if (s && *s != Strategy::automatic) m.strategy = *s;
            else problem = "strategy '" + strategy.substr(0, 40) + "'";
        }
        if (!problem.empty()) {
            m.state = MigrationState::error;
            m.error = "the stored record has a " + problem + " this volmig does not know" + (error.empty() ? "" : "; " + error);
        }
        return m;
    }
};

const char* kColumns =
    "id, role, state, volume_id, destination_volume_id, source_host, destination, requested_strategy, strategy, plan, report, error,"
    " stream_token, source_backend, source_location, source_storage_id, created_at, updated_at, force_full, auto_complete,"
    " lock_volume, cleanup_pending, block_size, source_size, bytes_done, bytes_total, rate, eta, seq";

Error db_error(const std::string& what, const Poco::Exception& e) { return Error{"migration records: " + what + ": " + e.displayText()}; }

bool table_exists(Poco::Data::Session& session, const std::string& name) {
    int count = 0;
    std::string n = name;
    session << "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", use(n), into(count), now;
    return count > 0;
}

}  // namespace

MigrationStore::MigrationStore(VolumeStore& store) : store_(store) {}

Status MigrationStore::ensure_schema() {
    return store_.transaction([](VolumeStore::Tx& tx) -> Status {
        Poco::Data::Session& session = tx.session();
        try {
            session << "CREATE TABLE IF NOT EXISTS migration_records ("
                       " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, role TEXT NOT NULL, state TEXT NOT NULL,"
                       " volume_id TEXT NOT NULL, destination_volume_id TEXT NOT NULL, source_host TEXT NOT NULL,"
                       " destination TEXT NOT NULL, requested_strategy TEXT NOT NULL, strategy TEXT NOT NULL, plan TEXT NOT NULL,"
                       " report TEXT NOT NULL, error TEXT NOT NULL, stream_token TEXT NOT NULL, source_backend TEXT NOT NULL,"
                       " source_location TEXT NOT NULL, source_storage_id TEXT NOT NULL, created_at TEXT NOT NULL,"
                       " updated_at TEXT NOT NULL, force_full INTEGER NOT NULL, auto_complete INTEGER NOT NULL,"
                       " lock_volume INTEGER NOT NULL, cleanup_pending INTEGER NOT NULL, block_size INTEGER NOT NULL,"
                       " source_size INTEGER NOT NULL, bytes_done INTEGER NOT NULL, bytes_total INTEGER NOT NULL, rate REAL NOT NULL,"
                       " eta REAL NOT NULL)",
                now;
            session << "CREATE INDEX IF NOT EXISTS migration_records_by_volume ON migration_records (volume_id)", now;
            session << "CREATE INDEX IF NOT EXISTS migration_records_by_destination ON migration_records (destination_volume_id)", now;
            // volmig 0.1 kept migrations in `migrations`, where peer_volume_id meant the other
            // side's volume: the destination for a source record, the source for a target one.
            if (table_exists(session, "migrations")) {
                session << "INSERT INTO migration_records (id, role, state, volume_id, destination_volume_id, source_host, destination,"
                           " requested_strategy, strategy, plan, report, error, stream_token, source_backend, source_location,"
                           " source_storage_id, created_at, updated_at, force_full, auto_complete, lock_volume, cleanup_pending,"
                           " block_size, source_size, bytes_done, bytes_total, rate, eta)"
                           " SELECT id, role, state,"
                           "  CASE role WHEN 'target' THEN peer_volume_id ELSE volume_id END,"
                           "  CASE role WHEN 'target' THEN volume_id ELSE peer_volume_id END,"
                           "  source_host, destination, requested_strategy, '', plan, report, error, stream_token, source_backend,"
                           "  source_location, source_storage_id, created_at, updated_at, force_full, auto_complete, lock_volume,"
                           "  CASE WHEN report LIKE '%\"cleanup_pending\":true%' THEN 1 ELSE 0 END, 4096, source_size, bytes_done,"
                           "  bytes_total, rate, eta"
                           " FROM migrations ORDER BY created_at, id",
                    now;
                session << "DROP TABLE migrations", now;
            }
        } catch (const Poco::Exception& e) {
            return db_error("create table", e);
        }
        return success();
    });
}

Status MigrationStore::write(MigrationRecord& m, std::optional<MigrationState> expected, const Also& also) {
    Row r = Row::from(m);
    r.updated_at = utc_timestamp();
    if (r.created_at.empty()) r.created_at = r.updated_at;
    Poco::Int64 inserted_seq = 0;
    Status s = store_.transaction([&](VolumeStore::Tx& tx) -> Status {
        Poco::Data::Session& session = tx.session();
        try {
            if (!expected) {
                session << "INSERT INTO migration_records (id, role, state, volume_id, destination_volume_id, source_host, destination,"
                           " requested_strategy, strategy, plan, report, error, stream_token, source_backend, source_location,"
                           " source_storage_id, created_at, updated_at, force_full, auto_complete, lock_volume, cleanup_pending,"
                           " block_size, source_size, bytes_done, bytes_total, rate, eta)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    use(r.id), use(r.role), use(r.state), use(r.volume_id), use(r.destination_volume_id), use(r.source_host),
                    use(r.destination), use(r.requested_strategy), use(r.strategy), use(r.plan), use(r.report), use(r.error),
                    use(r.stream_token), use(r.source_backend), use(r.source_location), use(r.source_storage_id), use(r.created_at),
                    use(r.updated_at), use(r.force_full), use(r.auto_complete), use(r.lock_volume), use(r.cleanup_pending),
                    use(r.block_size), use(r.source_size), use(r.bytes_done), use(r.bytes_total), use(r.rate), use(r.eta), now;
                session << "SELECT last_insert_rowid()", into(inserted_seq), now;
            } else {
                std::string was = to_string(*expected);
                Poco::Data::Statement st(session);
                st << "UPDATE migration_records SET state = ?, destination_volume_id = ?, destination = ?, strategy = ?, plan = ?,"
                      " report = ?, error = ?, stream_token = ?, updated_at = ?, cleanup_pending = ?, block_size = ?, bytes_done = ?,"
                      " bytes_total = ?, rate = ?, eta = ? WHERE id = ? AND state = ?",
                    use(r.state), use(r.destination_volume_id), use(r.destination), use(r.strategy), use(r.plan), use(r.report),
                    use(r.error), use(r.stream_token), use(r.updated_at), use(r.cleanup_pending), use(r.block_size), use(r.bytes_done),
                    use(r.bytes_total), use(r.rate), use(r.eta), use(r.id), use(was);
                if (st.execute() == 0)
                    return Error{"migration " + m.id + " is no longer " + was + ": another step changed it meanwhile", ErrorKind::refused};
            }
        } catch (const Poco::Exception& e) {
            return db_error("save migration " + m.id, e);
        }
        return also ? also(tx) : success();
    });
    if (s.ok()) {
        m.updated_at = r.updated_at;
        m.created_at = r.created_at;
        if (!expected) m.sequence = inserted_seq;
    }
    return s;
}

Status MigrationStore::insert(MigrationRecord& m, const Also& also) { return write(m, std::nullopt, also); }

Status MigrationStore::transition(MigrationRecord& m, MigrationState to, const Also& also) {
    const MigrationState from = m.state;
    if (!transition_allowed(m.role, from, to))
        return Error{"migration " + m.id + " (" + to_string(m.role) + ") cannot go from " + to_string(from) + " to " + to_string(to),
                     ErrorKind::refused};
    m.state = to;
    Status s = write(m, from, also);
    if (!s.ok()) m.state = from;
    return s;
}

Status MigrationStore::save(MigrationRecord& m, const Also& also) { return write(m, m.state, also); }

Status MigrationStore::save_progress(const MigrationRecord& m) {
    return store_.with_session([&](Poco::Data::Session& session) -> Status {
        try {
            std::string id = m.id;
            Poco::UInt64 done = m.bytes_done, total = m.bytes_total;
            double rate = m.rate, eta = m.eta_seconds;
            session << "UPDATE migration_records SET bytes_done = ?, bytes_total = ?, rate = ?, eta = ? WHERE id = ?", use(done),
                use(total), use(rate), use(eta), use(id), now;
        } catch (const Poco::Exception& e) {
            return db_error("save the progress of migration " + m.id, e);
        }
        return success();
    });
}

Result<std::vector<MigrationRecord>> MigrationStore::query(const std::string& where, const std::vector<std::string>& args,
                                                           const std::string& order) {
    return store_.with_read_session([&](Poco::Data::Session& session) -> Result<std::vector<MigrationRecord>> {
        std::vector<MigrationRecord> out;
        try {
            Row r;
            std::vector<std::string> values = args;
            Poco::Data::Statement st(session);
            st << "SELECT " << kColumns << " FROM migration_records WHERE " << where << " ORDER BY " << order;
            for (auto& v : values) st, use(v);
            st, into(r.id), into(r.role), into(r.state), into(r.volume_id), into(r.destination_volume_id), into(r.source_host),
                into(r.destination), into(r.requested_strategy), into(r.strategy), into(r.plan), into(r.report), into(r.error),
                into(r.stream_token), into(r.source_backend), into(r.source_location), into(r.source_storage_id), into(r.created_at),
                into(r.updated_at), into(r.force_full), into(r.auto_complete), into(r.lock_volume), into(r.cleanup_pending),
                into(r.block_size), into(r.source_size), into(r.bytes_done), into(r.bytes_total), into(r.rate), into(r.eta),
                into(r.seq), range(0, 1);
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

namespace {

Result<std::optional<MigrationRecord>> first_of(Result<std::vector<MigrationRecord>> rows) {
    if (!rows) return rows.take_error();
    if (rows->empty()) return std::optional<MigrationRecord>();
    return std::optional<MigrationRecord>(rows->front());
}

}  // namespace

Result<std::optional<MigrationRecord>> MigrationStore::get(const std::string& id) { return first_of(query("id = ?", {id})); }

Result<std::optional<MigrationRecord>> MigrationStore::shown_for(const std::string& volume_id) {
    return first_of(query("(volume_id = ? AND (role = 'source' OR state = 'success'))"
                          " OR (role = 'target' AND destination_volume_id = ? AND state != 'success')",
                          {volume_id, volume_id}, "seq DESC LIMIT 1"));
}

Result<std::map<std::string, MigrationRecord>> MigrationStore::shown_for(const std::vector<std::string>& volume_ids) {
    // A few thousand ids a query: each appears twice, and SQLite binds at most 32766 variables.
    constexpr size_t kBatch = 4096;
    std::map<std::string, MigrationRecord> out;
    for (size_t first = 0; first < volume_ids.size(); first += kBatch) {
        const std::vector<std::string> ids(volume_ids.begin() + static_cast<long>(first),
                                           volume_ids.begin() + static_cast<long>(std::min(volume_ids.size(), first + kBatch)));
        std::string marks;
        for (size_t i = 0; i < ids.size(); ++i) marks += i ? ", ?" : "?";
        std::vector<std::string> args = ids;
        args.insert(args.end(), ids.begin(), ids.end());
        auto rows = query("(volume_id IN (" + marks + ") AND (role = 'source' OR state = 'success'))"
                          " OR (role = 'target' AND destination_volume_id IN (" + marks + ") AND state != 'success')",
                          args, "seq");
        if (!rows) return rows.take_error();
        for (auto& m : *rows) {  // oldest first: the newest of each volume stays
            const bool by_volume = m.role == MigrationRole::source || m.state == MigrationState::success;
            out[by_volume ? m.volume_id : m.destination_volume_id] = m;
        }
    }
    return out;
}

Result<std::optional<MigrationRecord>> MigrationStore::active_target(const std::string& destination_volume_id) {
    return first_of(query("role = 'target' AND destination_volume_id = ? AND state NOT IN ('success', 'error')", {destination_volume_id},
                          "seq DESC LIMIT 1"));
}

Result<std::optional<MigrationRecord>> MigrationStore::target_with_token(const std::string& destination_volume_id,
                                                                         const std::string& stream_token) {
    return first_of(query("role = 'target' AND destination_volume_id = ? AND stream_token = ?", {destination_volume_id, stream_token},
                          "seq DESC LIMIT 1"));
}

Result<std::vector<MigrationRecord>> MigrationStore::unfinished(MigrationRole role) {
    return query("role = ? AND state NOT IN ('success', 'error')", {to_string(role)});
}

Result<std::vector<MigrationRecord>> MigrationStore::cleanup_pending(const std::optional<std::string>& volume_id) {
    if (!volume_id) return query("role = 'source' AND state = 'error' AND cleanup_pending = 1", {});
    return query("volume_id = ? AND role = 'source' AND state = 'error' AND cleanup_pending = 1", {*volume_id});
}

}  // namespace volmig
