#include "api/connection_store.hpp"

#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>

namespace volmig {

using namespace Poco::Data::Keywords;

namespace {

Error db_error(const std::string& what, const Poco::Exception& e) { return Error{"volume connections: " + what + ": " + e.displayText()}; }

// Poco binds by reference: one lvalue per column, in the order of the statements below.
struct Row {
    std::string id, volume_id, connector_key, host, connector, device_path, state, created_at;
    int created_loop = 0;

    static Row from(const ConnectionRecord& c) {
        return Row{c.id, c.volume_id, c.connector_key, c.host, c.connector, c.device_path, to_string(c.state), c.created_at,
                   c.created_loop ? 1 : 0};
    }
    // A stored row is input. A state this volmig does not know reads as connected: the device
    // is kept, since releasing someone's disk is the worse mistake.
    ConnectionRecord to_record() const {
        ConnectionRecord c{id, volume_id, connector_key, host, connector, device_path, created_loop != 0, ConnectionState::connected,
                           created_at};
        if (state == "connecting") c.state = ConnectionState::connecting;
        if (state == "terminating") c.state = ConnectionState::terminating;
        return c;
    }
};

}  // namespace

std::string to_string(ConnectionState state) {
    switch (state) {
        case ConnectionState::connecting: return "connecting";
        case ConnectionState::connected: return "connected";
        case ConnectionState::terminating: return "terminating";
    }
    return "connected";
}

Status ConnectionStore::ensure_schema() {
    return store_.with_session([](Poco::Data::Session& session) -> Status {
        try {
            session << "CREATE TABLE IF NOT EXISTS volume_connections (id TEXT PRIMARY KEY, volume_id TEXT NOT NULL,"
                       " connector_key TEXT NOT NULL, host TEXT NOT NULL, connector TEXT NOT NULL, device_path TEXT NOT NULL,"
                       " state TEXT NOT NULL, created_at TEXT NOT NULL, created_loop INTEGER NOT NULL)",
                now;
            session << "CREATE INDEX IF NOT EXISTS volume_connections_by_volume ON volume_connections (volume_id)", now;
        } catch (const Poco::Exception& e) {
            return db_error("create table", e);
        }
        return success();
    });
}

Status ConnectionStore::insert(const ConnectionRecord& record) {
    return store_.with_session([&](Poco::Data::Session& session) -> Status {
        Row r = Row::from(record);
        try {
            session << "INSERT INTO volume_connections (id, volume_id, connector_key, host, connector, device_path, state, created_at,"
                       " created_loop) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                use(r.id), use(r.volume_id), use(r.connector_key), use(r.host), use(r.connector), use(r.device_path), use(r.state),
                use(r.created_at), use(r.created_loop), now;
        } catch (const Poco::Exception& e) {
            return db_error("record the connection of volume " + record.volume_id, e);
        }
        return success();
    });
}

Status ConnectionStore::update(const ConnectionRecord& record) {
    return store_.with_session([&](Poco::Data::Session& session) -> Status {
        Row r = Row::from(record);
        size_t changed = 0;
        try {
            Poco::Data::Statement st(session);
            st << "UPDATE volume_connections SET device_path = ?, state = ?, created_loop = ? WHERE id = ?", use(r.device_path),
                use(r.state), use(r.created_loop), use(r.id);
            changed = st.execute();
        } catch (const Poco::Exception& e) {
            return db_error("update the connection of volume " + record.volume_id, e);
        }
        if (changed == 0) return Error{"connection " + record.id + " of volume " + record.volume_id + " is not recorded", ErrorKind::not_found};
        return success();
    });
}

Status ConnectionStore::remove(const std::string& id) {
    return store_.with_session([&](Poco::Data::Session& session) -> Status {
        std::string key = id;
        try {
            session << "DELETE FROM volume_connections WHERE id = ?", use(key), now;
        } catch (const Poco::Exception& e) {
            return db_error("remove connection " + id, e);
        }
        return success();
    });
}

Result<std::vector<ConnectionRecord>> ConnectionStore::of_volume(const std::string& volume_id) {
    return query("WHERE volume_id = ?", {volume_id});
}

Result<std::vector<ConnectionRecord>> ConnectionStore::all() { return query("", {}); }

Result<std::vector<ConnectionRecord>> ConnectionStore::query(const std::string& where, const std::vector<std::string>& args) {
    return store_.with_read_session([&](Poco::Data::Session& session) -> Result<std::vector<ConnectionRecord>> {
        std::vector<ConnectionRecord> out;
        try {
            Row r;
            std::vector<std::string> values = args;
            Poco::Data::Statement st(session);
            st << "SELECT id, volume_id, connector_key, host, connector, device_path, state, created_at, created_loop"
                  " FROM volume_connections " << where << " ORDER BY created_at, id";
            for (auto& v : values) st, use(v);
            st, into(r.id), into(r.volume_id), into(r.connector_key), into(r.host), into(r.connector), into(r.device_path), into(r.state),
                into(r.created_at), into(r.created_loop), range(0, 1);
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

}  // namespace volmig
