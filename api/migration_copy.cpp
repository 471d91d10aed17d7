// A migration's copy: with the copy engine between two backends of this daemon, or as an extent
// stream to the peer; either way verified, and reported in one shape (migration_report.hpp).
#include <chrono>

#include "api/byte_queue.hpp"
#include "api/failpoint.hpp"
#include "api/migration.hpp"
#include "api/migration_report.hpp"
#include "copy/extent_stream.hpp"

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

Status MigrationService::copy_to_peer(MigrationRecord& m, PeerClient& peer, const MigrationPlan& plan, const VolumeRecord& source,
                                      nlohmann::json& report) {
    Backend* src_backend = volumes_.backends().find(source.backend);
    if (!src_backend) return Error{"backend " + source.backend + " is not enabled"};
    const auto started = std::chrono::steady_clock::now();
    auto usage_before = src_backend->driver->volume_usage(volumes_.ref_of(source));
    auto attached = volumes_.attach_for_copy(source);
    if (!attached) return attached.error();
    auto info = inspect_volume(attached->path());
    if (!info) return info.error();
    ExtentMap map;
    std::string extent_method = "extent map from the " + src_backend->driver->driver_name() + " driver";
    if (plan.source_extents) {
        map = *plan.source_extents;
    } else {
        auto found = discover_extents(*info);
        if (!found) return found.error();
        map = ExtentMap(source.size, found->map.data());
        extent_method = found->method;
    }

    // The producer thread reads the source into the queue; libcurl uploads from it.
    ByteQueue queue(16 << 20);
    std::atomic<bool> cancel{false};
    Result<SendStats> sent = Error{"not sent"};
    const uint64_t half = map.data_bytes() / 2;
    std::thread producer([&] {
        try {
            SendOptions options;
            options.block_size = plan.plan.block_size;
            options.workers = 4;
            options.shared_rate = &copy_rate_;  // the daemon-wide volume_copy_bps_limit, split between running copies
            options.cancel = &cancel;
            options.on_progress = [&](const Progress& p) {
                m.bytes_done = p.bytes_done;
                m.bytes_total = p.bytes_total;
                m.rate = p.rate;
                m.eta_seconds = p.eta_seconds;
                (void)store_.save_progress(m);  // progress only
                if (cancelled(m.id)) cancel = true;
            };
            uint64_t pushed = 0;
            sent = send_extent_stream(*info, map, options, [&](const char* d, size_t n) {
                pushed += n;
                if (pushed >= half && pushed - n < half) failpoint("source.mid_stream");
                return queue.push(d, n);
            });
        } catch (const std::exception& e) {
            sent = Error{std::string("reading the source failed: internal error: ") + e.what()};
        }
        queue.close(sent ? "" : sent.error().message);
    });
    auto received =
        peer.stream(m.destination_volume_id, m.stream_token, map.data_bytes(), [&](char* buf, size_t cap) { return queue.pop(buf, cap); });
    queue.close("the HTTP upload ended");
    cancel = true;  // the upload is over: a producer still reading stops
    producer.join();

    // The receiver's account first: when the upload fails the sender fails too (its queue
    // closes), and the receiver's reason ("No space left", its validation error) says more.
    if (!received) {
        std::string failure = received.error().message;
        auto shown = peer.show(m.destination_volume_id);
        if (shown && !shown->error.empty()) failure += " (destination: " + shown->error + ")";
        return Error{"streaming to " + peer.host() + " failed: " + failure, ErrorKind::io};
    }
    if (!sent) return Error{"reading the source failed: " + sent.error().message, sent.error().code, sent.error().kind};
    if (received->destination_checksum != sent->checksum || !received->verified)
        return Error{"verification FAILED: the source sent " + sent->checksum + " but " + peer.host() + " holds " +
                         (received->destination_checksum.empty() ? std::string("nothing verified") : received->destination_checksum),
                     ErrorKind::mismatch};
    if (received->volume_size != source.size)
        return Error{"the destination applied a stream of " + std::to_string(received->volume_size) + " bytes, the volume has " +
                         std::to_string(source.size),
                     ErrorKind::mismatch};

    MigrationCopy result;
    result.copy = copy_report_of_stream(*sent, *received);
    result.copy.source = attached->path();
    result.copy.destination = m.destination + " volume " + m.destination_volume_id;
    result.copy.reason = plan.plan.summary();
    result.copy.extent_method = extent_method;
    result.copy.source_data_bytes = map.data_bytes();
    result.copy.source_extent_count = map.data().size();
    result.copy.source_before.size = result.copy.source_after.size = source.size;
    if (usage_before) result.copy.source_before.allocated = result.copy.source_after.allocated = usage_before->allocated;
    result.copy.destination_after.size = source.size;
    if (auto after = peer.show(m.destination_volume_id)) result.copy.destination_after.allocated = after->allocated_bytes;
    result.transport = "extent stream to " + peer.host();
    result.wire_bytes = sent->wire_bytes;
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    report = migration_report_to_json(result);
    return success();
}

}  // namespace volmig
