#include "api/stream_checkpoints.hpp"

#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>

namespace volmig {

using namespace Poco::Data::Keywords;

namespace {

Error db_error(const std::string& what, const Poco::Exception& e) { return Error{"stream checkpoints: " + what + ": " + e.displayText()}; }

}  // namespace

Status StreamCheckpoints::ensure_schema() {
    return store_.transaction([](VolumeStore::Tx& tx) -> Status {
        try {
            tx.session() << "CREATE TABLE IF NOT EXISTS stream_targets (migration_id TEXT PRIMARY KEY, checkpoint_bytes INTEGER NOT NULL,"
                            " compression INTEGER NOT NULL, streams INTEGER NOT NULL)",
                now;
            tx.session() << "CREATE TABLE IF NOT EXISTS stream_checkpoints (migration_id TEXT NOT NULL, range_index INTEGER NOT NULL,"
                            " checksum TEXT NOT NULL, PRIMARY KEY (migration_id, range_index))",
                now;
        } catch (const Poco::Exception& e) {
            return db_error("create tables", e);
        }
        return success();
    });
}

Status StreamCheckpoints::save_terms(VolumeStore::Tx& tx, const std::string& migration_id, const StreamTerms& terms) {
    try {
        std::string id = migration_id;
        Poco::UInt64 c = terms.checkpoint_bytes;
        int compression = terms.compression ? 1 : 0, streams = static_cast<int>(terms.streams);
        tx.session() << "INSERT OR REPLACE INTO stream_targets (migration_id, checkpoint_bytes, compression, streams) VALUES (?, ?, ?, ?)",
            use(id), use(c), use(compression), use(streams), now;
    } catch (const Poco::Exception& e) {
        return db_error("save the terms of migration " + migration_id, e);
    }
    return success();
}

Result<std::optional<StreamTerms>> StreamCheckpoints::terms(const std::string& migration_id) {
    return store_.with_read_session([&](Poco::Data::Session& session) -> Result<std::optional<StreamTerms>> {
        try {
            std::string id = migration_id;
            std::vector<Poco::UInt64> c;
            std::vector<int> compression, streams;
            session << "SELECT checkpoint_bytes, compression, streams FROM stream_targets WHERE migration_id = ?", use(id), into(c),
                into(compression), into(streams), now;
            if (c.empty()) return std::optional<StreamTerms>();
            return std::optional<StreamTerms>(StreamTerms{c[0], compression[0] != 0, static_cast<unsigned>(std::max(1, streams[0]))});
        } catch (const Poco::Exception& e) {
            return db_error("read the terms of migration " + migration_id, e);
        }
    });
}

Status StreamCheckpoints::record(const std::string& migration_id, const std::vector<std::pair<uint64_t, ContentChecksum>>& ranges) {
    if (ranges.empty()) return success();
    return store_.transaction([&](VolumeStore::Tx& tx) -> Status {
        try {
            for (const auto& [index, sum] : ranges) {
                std::string id = migration_id, text = sum.partial();
                Poco::UInt64 k = index;
                tx.session() << "INSERT OR REPLACE INTO stream_checkpoints (migration_id, range_index, checksum) VALUES (?, ?, ?)", use(id),
                    use(k), use(text), now;
            }
        } catch (const Poco::Exception& e) {
            return db_error("record verified ranges of migration " + migration_id, e);
        }
        return success();
    });
}

Result<std::map<uint64_t, ContentChecksum>> StreamCheckpoints::ranges(const std::string& migration_id) {
    return store_.with_read_session([&](Poco::Data::Session& session) -> Result<std::map<uint64_t, ContentChecksum>> {
        std::map<uint64_t, ContentChecksum> out;
        try {
            std::string id = migration_id;
            std::vector<Poco::UInt64> index;
            std::vector<std::string> text;
            session << "SELECT range_index, checksum FROM stream_checkpoints WHERE migration_id = ? ORDER BY range_index", use(id),
                into(index), into(text), now;
            for (size_t i = 0; i < index.size(); ++i) {
                auto sum = ContentChecksum::parse_partial(text[i]);
                if (!sum) return Error{"stream checkpoints: migration " + migration_id + " holds a malformed checksum for range " + std::to_string(index[i])};
                out.emplace(index[i], *sum);
            }
        } catch (const Poco::Exception& e) {
            return db_error("read verified ranges of migration " + migration_id, e);
        }
        return out;
    });
}

Status StreamCheckpoints::forget(const std::string& migration_id, uint64_t first, uint64_t last) {
    return store_.with_session([&](Poco::Data::Session& session) -> Status {
        try {
            std::string id = migration_id;
            Poco::UInt64 a = first, b = last;
            session << "DELETE FROM stream_checkpoints WHERE migration_id = ? AND range_index >= ? AND range_index < ?", use(id), use(a),
                use(b), now;
        } catch (const Poco::Exception& e) {
            return db_error("forget ranges of migration " + migration_id, e);
        }
        return success();
    });
}

Status StreamCheckpoints::forget_all(const std::string& migration_id) {
    return store_.with_session([&](Poco::Data::Session& session) -> Status {
        try {
            std::string id = migration_id;
            session << "DELETE FROM stream_checkpoints WHERE migration_id = ?", use(id), now;
            session << "DELETE FROM stream_targets WHERE migration_id = ?", use(id), now;
        } catch (const Poco::Exception& e) {
            return db_error("forget the checkpoints of migration " + migration_id, e);
        }
        return success();
    });
}

}  // namespace volmig
