#include "api/migration_steps.hpp"

#include "api/json_input.hpp"

namespace volmig {

MigrationStore::Also volume_shows(const std::string& volume_id, MigrationState state, const std::string& error) {
    return [volume_id, state, error](VolumeStore::Tx& tx) {
        return tx.modify(volume_id, [&](VolumeRecord& r) {
            r.migration_status = volume_migration_status_of(state);
            r.migration_source.clear();
            if (!error.empty()) r.error = error;
            else if (state != MigrationState::error) r.error.clear();
            if (is_final(state) && r.status == VolumeStatus::maintenance) r.status = VolumeStatus::available;
            return success();
        });
    };
}

nlohmann::json json_or_null(const std::string& text) {
    auto doc = parse_json_bounded(text);
    return doc ? *doc : nlohmann::json(nullptr);
}

}  // namespace volmig
