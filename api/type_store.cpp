#include "api/type_store.hpp"

#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>

namespace volmig {

using namespace Poco::Data::Keywords;

namespace {

Error db_error(const std::string& what, const Poco::Exception& e) { return Error{"volume types: " + what + ": " + e.displayText()}; }

}  // namespace

Status TypeStore::initialize() {
    return store_.transaction([](VolumeStore::Tx& tx) -> Status {
        try {
            Poco::Data::Session& session = tx.session();
            session << "CREATE TABLE IF NOT EXISTS volume_types (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
                       " name TEXT NOT NULL UNIQUE, description TEXT NOT NULL, is_public INTEGER NOT NULL, created_at TEXT NOT NULL,"
                       " updated_at TEXT NOT NULL)",
                now;
            session << "CREATE TABLE IF NOT EXISTS volume_type_extra_specs (type_id TEXT NOT NULL, key TEXT NOT NULL,"
                       " value TEXT NOT NULL, PRIMARY KEY (type_id, key))",
                now;
            session << "CREATE TABLE IF NOT EXISTS volume_retypes (migration_id TEXT PRIMARY KEY, volume_id TEXT NOT NULL,"
                       " type_id TEXT NOT NULL)",
                now;
        } catch (const Poco::Exception& e) {
            return db_error("create tables", e);
        }
        return success();
    });
}

Result<std::vector<VolumeType>> TypeStore::query(const std::string& where, const std::string& arg) {
    return store_.with_read_session([&](Poco::Data::Session& session) -> Result<std::vector<VolumeType>> {
        std::vector<VolumeType> out;
        try {
            VolumeType t;
            int is_public = 1;
            std::string value = arg;
            Poco::Data::Statement st(session);
            st << "SELECT id, name, description, is_public, created_at, updated_at FROM volume_types" << where << " ORDER BY seq";
            if (!where.empty()) st, use(value);
            st, into(t.id), into(t.name), into(t.description), into(is_public), into(t.created_at), into(t.updated_at), range(0, 1);
            while (!st.done()) {
                if (st.execute() == 0) break;
                t.is_public = is_public != 0;
                out.push_back(t);
            }
            // The extra specs of all of them in one query.
            std::map<std::string, VolumeType*> by_id;
            for (auto& type : out) by_id[type.id] = &type;
            std::string type_id, key, spec;
            Poco::Data::Statement specs(session);
            specs << "SELECT type_id, key, value FROM volume_type_extra_specs WHERE type_id IN (SELECT id FROM volume_types" << where << ")";
            if (!where.empty()) specs, use(value);
            specs, into(type_id), into(key), into(spec), range(0, 1);
            while (!specs.done()) {
                if (specs.execute() == 0) break;
                if (auto it = by_id.find(type_id); it != by_id.end()) it->second->extra_specs[key] = spec;
            }
        } catch (const Poco::Exception& e) {
            return db_error("query", e);
        }
        return out;
    });
}

Result<std::vector<VolumeType>> TypeStore::list() { return query("", ""); }

namespace {

Result<std::optional<VolumeType>> first_of(Result<std::vector<VolumeType>> rows) {
    if (!rows) return rows.take_error();
    if (rows->empty()) return std::optional<VolumeType>();
    return std::optional<VolumeType>(rows->front());
}

}  // namespace

Result<std::optional<VolumeType>> TypeStore::get(const std::string& id) { return first_of(query(" WHERE id = ?", id)); }
Result<std::optional<VolumeType>> TypeStore::by_name(const std::string& name) { return first_of(query(" WHERE name = ?", name)); }

Status TypeStore::insert(VolumeStore::Tx& tx, const VolumeType& type) {
    try {
        std::string id = type.id, name = type.name, description = type.description, at = utc_timestamp();
        int is_public = type.is_public;
        tx.session() << "INSERT INTO volume_types (id, name, description, is_public, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            use(id), use(name), use(description), use(is_public), use(at), use(at), now;
    } catch (const Poco::Exception& e) {
        return db_error("insert type " + type.name, e);
    }
    for (const auto& [key, value] : type.extra_specs)
        if (Status s = set_spec(tx, type.id, key, value); !s.ok()) return s;
    return success();
}

Status TypeStore::update(VolumeStore::Tx& tx, const VolumeType& type) {
    try {
        std::string id = type.id, name = type.name, description = type.description, at = utc_timestamp();
        int is_public = type.is_public;
        Poco::Data::Statement st(tx.session());
        st << "UPDATE volume_types SET name = ?, description = ?, is_public = ?, updated_at = ? WHERE id = ?", use(name),
            use(description), use(is_public), use(at), use(id);
        if (st.execute() == 0) return Error{"volume type " + type.id + " could not be found", ErrorKind::not_found};
    } catch (const Poco::Exception& e) {
        return db_error("update type " + type.id, e);
    }
    return success();
}

Status TypeStore::remove(VolumeStore::Tx& tx, const std::string& id) {
    try {
        std::string key = id;
        tx.session() << "DELETE FROM volume_type_extra_specs WHERE type_id = ?", use(key), now;
        tx.session() << "DELETE FROM volume_types WHERE id = ?", use(key), now;
    } catch (const Poco::Exception& e) {
        return db_error("delete type " + id, e);
    }
    return success();
}

Status TypeStore::set_spec(VolumeStore::Tx& tx, const std::string& id, const std::string& key, const std::string& value) {
    try {
        std::string type_id = id, k = key, v = value;
        tx.session() << "INSERT OR REPLACE INTO volume_type_extra_specs (type_id, key, value) VALUES (?, ?, ?)", use(type_id), use(k), use(v),
            now;
    } catch (const Poco::Exception& e) {
        return db_error("set extra spec " + key + " of type " + id, e);
    }
    return success();
}

Status TypeStore::remove_spec(VolumeStore::Tx& tx, const std::string& id, const std::string& key) {
    try {
        std::string type_id = id, k = key;
        tx.session() << "DELETE FROM volume_type_extra_specs WHERE type_id = ? AND key = ?", use(type_id), use(k), now;
    } catch (const Poco::Exception& e) {
        return db_error("remove extra spec " + key + " of type " + id, e);
    }
    return success();
}

Status TypeStore::record_retype(VolumeStore::Tx& tx, const std::string& migration_id, const std::string& volume_id,
                                const std::string& type_id) {
    try {
        std::string m = migration_id, v = volume_id, t = type_id;
        tx.session() << "INSERT INTO volume_retypes (migration_id, volume_id, type_id) VALUES (?, ?, ?)", use(m), use(v), use(t), now;
    } catch (const Poco::Exception& e) {
        return db_error("record the retype of volume " + volume_id, e);
    }
    return success();
}

Result<std::optional<std::string>> TypeStore::retype_of(const std::string& migration_id) {
    return store_.with_read_session([&](Poco::Data::Session& session) -> Result<std::optional<std::string>> {
        try {
            std::string m = migration_id;
            std::vector<std::string> types;
            session << "SELECT type_id FROM volume_retypes WHERE migration_id = ?", use(m), into(types), now;
            if (types.empty()) return std::optional<std::string>();
            return std::optional<std::string>(types.front());
        } catch (const Poco::Exception& e) {
            return db_error("read the retype of migration " + migration_id, e);
        }
    });
}

Status TypeStore::forget_retype(VolumeStore::Tx& tx, const std::string& migration_id) {
    try {
        std::string m = migration_id;
        tx.session() << "DELETE FROM volume_retypes WHERE migration_id = ?", use(m), now;
    } catch (const Poco::Exception& e) {
        return db_error("forget the retype of migration " + migration_id, e);
    }
    return success();
}

Result<std::vector<std::string>> TypeStore::retyped_to(const std::string& type_id) {
    return store_.with_read_session([&](Poco::Data::Session& session) -> Result<std::vector<std::string>> {
        try {
            std::string t = type_id;
            std::vector<std::string> volumes;
            session << "SELECT volume_id FROM volume_retypes WHERE type_id = ?", use(t), into(volumes), now;
            return volumes;
        } catch (const Poco::Exception& e) {
            return db_error("read the retypes to type " + type_id, e);
        }
    });
}

}  // namespace volmig
