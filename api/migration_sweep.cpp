// What a migration leaves to be done later, and what a restart finds: resuming or rolling back
// unfinished migrations, retrying the deletion of destination volumes whose host was down, and
// dropping records of volumes that moved away once their new host no longer has them.
#include <set>

#include "api/migration.hpp"

namespace volmig {

void MigrationService::resume_after_restart() {
    auto sources = store_.unfinished(MigrationRole::source);
    if (!sources && log_) log_("resume: " + sources.error().message);
    if (sources) {
        for (const MigrationRecord& m : *sources) {
            if (m.state == MigrationState::awaiting_completion) continue;  // waits for os-migrate_volume_completion
            if (m.state == MigrationState::queued) {
                enqueue(m);  // it did nothing yet: it waits on, in its place (its sequence)
                continue;
            }
            if (log_) log_("migration " + m.id + ": found " + to_string(m.state) + " after a restart: " +
                           (m.state == MigrationState::starting || m.state == MigrationState::migrating ? "rolling back" : "finishing"));
            launch(m.id, JobStart::after_restart);
        }
    }
    resume_targets();
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_ && !sweeper_.joinable()) sweeper_ = std::thread([this] { sweep_loop(); });
}

void MigrationService::sweep_loop() {
    using clock = std::chrono::steady_clock;
    const DaemonConfig& config = volumes_.config();
    auto next_forwarding = clock::now() + config.forwarding_check_interval;
    auto next_cleanup = clock::now() + config.cleanup_retry_interval;
    while (true) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait_until(lock, std::min(next_forwarding, next_cleanup), [&] { return stopping_; });
            if (stopping_) return;
        }
        // The thread's boundary: a sweep that throws is logged, and the next one runs.
        try {
            if (clock::now() >= next_forwarding) {
                check_forwarding_records();
                next_forwarding = clock::now() + config.forwarding_check_interval;
            }
            if (clock::now() >= next_cleanup) {
                retry_pending_cleanups();
                next_cleanup = clock::now() + config.cleanup_retry_interval;
            }
        } catch (const std::exception& e) {
            if (log_) log_(std::string("sweep: internal error: ") + e.what());
        }
    }
}

void MigrationService::check_forwarding_records() {
    auto records = volumes_.store().list();
    if (!records) {
        if (log_) log_("sweep: " + records.error().message);
        return;
    }
    std::set<std::string> unreachable;  // one failed call per host and sweep is enough
    for (const VolumeRecord& r : *records) {
        if (!r.is_forwarding()) continue;
        auto spec = parse_host_spec(r.moved_to);
        if (!spec || peers_.is_local(spec->host) || unreachable.count(spec->host)) continue;
        auto peer = peers_.client(spec->host);
        if (!peer) continue;  // no longer a configured peer: keep the record, it still says where the volume went
        auto shown = (*peer)->show(r.id);
        if (shown || shown.error().kind != ErrorKind::not_found) {
            if (!shown && shown.error().kind == ErrorKind::failed) unreachable.insert(spec->host);
            continue;
        }
        Status dropped = volumes_.store().transaction([&](VolumeStore::Tx& tx) -> Status {
            auto now = tx.get(r.id);
            if (!now) return now.error();
            if (!*now || !(*now)->is_forwarding()) return success();  // it came back meanwhile
            return tx.remove(r.id);
        });
        if (log_)
            log_("volume " + r.id + " no longer exists on " + spec->host +
                 (dropped.ok() ? ": its forwarding record here is dropped" : ": dropping its forwarding record failed: " + dropped.error().message));
    }
}

void MigrationService::retry_pending_cleanups() {
    auto pending = store_.cleanup_pending(std::nullopt);
    if (!pending) {
        if (log_) log_("sweep: " + pending.error().message);
        return;
    }
    std::set<std::string> volumes;
    for (const MigrationRecord& m : *pending) volumes.insert(m.volume_id);
    for (const std::string& v : volumes) delete_leftovers(v);
}

}  // namespace volmig
