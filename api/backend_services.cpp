#include "api/backend_services.hpp"

#include <vector>

#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>

namespace volmig {

using namespace Poco::Data::Keywords;

namespace {

Error db_error(const std::string& what, const Poco::Exception& e) { return Error{"backend services: " + what + ": " + e.displayText()}; }

}  // namespace

Status BackendServices::initialize() {
    Status created = volumes_.store().with_session([](Poco::Data::Session& session) -> Status {
        try {
            session << "CREATE TABLE IF NOT EXISTS backend_services (backend TEXT PRIMARY KEY, disabled INTEGER NOT NULL,"
                       " disabled_reason TEXT NOT NULL, updated_at TEXT NOT NULL)",
                now;
        } catch (const Poco::Exception& e) {
            return db_error("create table", e);
        }
        return success();
    });
    if (!created.ok()) return created;
    volumes_.set_admission([this](const Backend& backend) { return admits(backend); });
    return success();
}

Result<ServiceState> BackendServices::state(const std::string& backend) {
    return volumes_.store().with_read_session([&](Poco::Data::Session& session) -> Result<ServiceState> {
        std::vector<int> disabled;
        std::vector<std::string> reason, updated_at;
        std::string name = backend;
        try {
            session << "SELECT disabled, disabled_reason, updated_at FROM backend_services WHERE backend = ?", use(name), into(disabled),
                into(reason), into(updated_at), now;
        } catch (const Poco::Exception& e) {
            return db_error("read " + backend, e);
        }
        ServiceState s;
        if (!disabled.empty()) {
            s.disabled = disabled[0] != 0;
            s.disabled_reason = reason[0];
            s.updated_at = updated_at[0];
        }
        return s;
    });
}

Status BackendServices::set(const std::string& backend, bool disabled, const std::optional<std::string>& reason) {
    return volumes_.store().transaction([&](VolumeStore::Tx& tx) -> Status {
        Poco::Data::Session& session = tx.session();
        std::string name = backend, text = reason.value_or(""), updated_at = utc_timestamp();
        int flag = disabled ? 1 : 0, keep_reason = disabled && !reason ? 1 : 0;
        try {
            session << "INSERT INTO backend_services (backend, disabled, disabled_reason, updated_at) VALUES (?, ?, ?, ?)"
                       " ON CONFLICT (backend) DO UPDATE SET disabled = excluded.disabled, updated_at = excluded.updated_at,"
                       " disabled_reason = CASE WHEN ? = 1 THEN disabled_reason ELSE excluded.disabled_reason END",
                use(name), use(flag), use(text), use(updated_at), use(keep_reason), now;
        } catch (const Poco::Exception& e) {
            return db_error("record " + backend, e);
        }
        return success();
    });
}

Status BackendServices::admits(const Backend& backend) {
    auto s = state(backend.name);
    if (!s) return s.error();
    if (!s->disabled) return success();
    return Error{"backend " + volumes_.config().host + "@" + backend.name + " is disabled" +
                     (s->disabled_reason.empty() ? std::string(" (no reason given)") : ": " + s->disabled_reason) +
                     "; it takes no new volumes until it is enabled (os-services/enable)",
                 ErrorKind::refused};
}

}  // namespace volmig
