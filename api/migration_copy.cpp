// A migration's copy with the copy engine between two backends of this daemon (the extent
// stream to a peer is stream_sender.cpp); verified, and reported in one shape (migration_report.hpp).
#include <chrono>

#include "api/migration.hpp"
#include "api/migration_report.hpp"

namespace volmig {

Status MigrationService::copy_locally(MigrationRecord& m, const MigrationPlan& plan, const VolumeRecord& source, nlohmann::json& report) {
    auto target = volumes_.get(m.destination_volume_id);
    if (!target) return target.error();
    auto a = volumes_.attach_for_copy(source);
    if (!a) return a.error();
    auto b = volumes_.attach_for_copy(*target);
    if (!b) return b.error();

    CopyOptions options;
    options.decided = StrategyChoice{plan.plan.strategy, plan.plan.summary()};
    options.block_size = plan.plan.block_size;
    options.verify = plan.plan.verify;
    options.source_extents = plan.source_extents;
    std::atomic<bool> cancel{false};
    options.cancel = &cancel;
    options.progress_interval = std::chrono::milliseconds(500);
    options.on_progress = [&](const Progress& p) {
        m.bytes_done = p.bytes_done;
        m.bytes_total = p.bytes_total;
        m.rate = p.rate;
        m.eta_seconds = p.eta_seconds;
        (void)store_.save_progress(m);  // progress only: a lost update is shown late, nothing more
        if (cancelled(m.id)) cancel = true;
    };
    options.log = log_;
    options.shared_rate = &copy_rate_;  // the daemon-wide volume_copy_bps_limit, split between running copies
    const auto started = std::chrono::steady_clock::now();
    auto copied = copy_volume(a->path(), b->path(), options);
    if (!copied) return copied.error();
    MigrationCopy result;
    result.copy = *copied;
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    report = migration_report_to_json(result);
    return success();
}

}  // namespace volmig
