// The queue of source-side migrations (migration.hpp "The queue"): at most
// max_concurrent_migrations jobs hold a slot; the others wait as queued records, FIFO by their
// store sequence, without a thread, until a slot frees.
#include "api/migration.hpp"
#include "api/migration_steps.hpp"

namespace volmig {

bool MigrationService::take_slot_locked() {
    const unsigned cap = volumes_.config().max_concurrent_migrations;
    // Older migrations waiting go first: a new one never overtakes the queue.
    if (!queued_.empty() || (cap != 0 && slots_taken_ >= cap)) return false;
    ++slots_taken_;
    return true;
}

void MigrationService::release_slot() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (slots_taken_ > 0) --slots_taken_;
    admit_queued_locked();
}

void MigrationService::admit_queued_locked() {
    const unsigned cap = volumes_.config().max_concurrent_migrations;
    while (!stopping_ && !queued_.empty() && (cap == 0 || slots_taken_ < cap)) {
        const std::string id = queued_.begin()->second;
        queued_.erase(queued_.begin());
        ++slots_taken_;
        launch_locked(id, JobStart::fresh, Slot::held);
    }
}

void MigrationService::enqueue(const MigrationRecord& m) {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_[m.sequence] = m.id;
    size_t position = 0;
    for (const auto& entry : queued_) {
        ++position;
        if (entry.second == m.id) break;
    }
    if (log_)
        log_("migration " + m.id + ": queued at position " + std::to_string(position) + " (the " +
             std::to_string(volumes_.config().max_concurrent_migrations) + " slots of max_concurrent_migrations are taken)");
    // A slot may have freed between the start's check and now.
    admit_queued_locked();
}

std::optional<size_t> MigrationService::queue_position(const std::string& migration_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t position = 0;
    for (const auto& entry : queued_) {
        ++position;
        if (entry.second == migration_id) return position;
    }
    return std::nullopt;
}

Result<nlohmann::json> MigrationService::abandon_queued(MigrationRecord& m) {
    int64_t key = 0;
    bool was_waiting = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto it = queued_.begin(); it != queued_.end(); ++it)
            if (it->second == m.id) {
                key = it->first;
                queued_.erase(it);
                was_waiting = true;
                break;
            }
    }
    const std::string why = "abandoned while queued by os-migrate_volume_completion with error = true: nothing was copied";
    m.error = why;
    Status s = store_.transition(m, MigrationState::error, volume_shows(m.volume_id, MigrationState::error, why));
    if (!s.ok()) {
        // It was admitted meanwhile (it is starting now), or the store failed: it stays as it is.
        auto now = store_.get(m.id);
        if (was_waiting && now && *now && (*now)->state == MigrationState::queued) {
            std::lock_guard<std::mutex> lock(mutex_);
            queued_[key] = m.id;
            admit_queued_locked();
        }
        return Error{"migration " + m.id + " could not be abandoned: " + s.error().message +
                         " (if it has just started, it can no longer be abandoned before its copy ends)",
                     ErrorKind::invalid};
    }
    if (log_) log_("migration " + m.id + ": " + why);
    return nlohmann::json{{"save_volume_id", m.volume_id}};
}

}  // namespace volmig
