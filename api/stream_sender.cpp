// The extent stream to a peer (DESIGN.md "The extent stream"): the volume cut into slices, one
// connection each; a slice cut part-way resumes from the receiver's verified ranges (checked
// against the sums this side computed when it sent them) within stream_resume_grace; then one
// verification of the whole volume (volmig-finish_receive).
#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

#include "api/byte_queue.hpp"
#include "api/failpoint.hpp"
#include "api/migration.hpp"
#include "api/migration_report.hpp"
#include "api/migration_steps.hpp"
#include "copy/stream_compression.hpp"
#include "copy/stream_slices.hpp"
#include "copy/unit_io.hpp"

namespace volmig {

void offer_stream_terms(const DaemonConfig& config, uint64_t data_bytes, std::chrono::microseconds round_trip, PrepareRequest& offer) {
    offer.streams = config.migration_streams;
    // Near peers get one stream: one connection's window is not the limit there, and each more
    // stream costs both daemons CPU (measured on 127.0.0.1: DESIGN.md "The extent stream").
    if (config.migration_streams_auto && round_trip.count() > 0 && round_trip < kOneStreamRoundTrip) offer.streams = 1;
    offer.compression.clear();
    if (config.migration_compression != MigrationCompression::none) offer.compression.push_back("zstd");
    offer.data_bytes = data_bytes;
}

Status check_stream_terms(const std::string& peer, const PrepareRequest& offer, const PreparedReceiver& a) {
    if (a.checkpoint_bytes == 0) return success();  // a receiver before stream v2: one v1 stream, not resumable
    if (a.streams == 0 || a.streams > offer.streams)
        return Error{"peer " + peer + " accepted " + std::to_string(a.streams) + " streams where 1 to " + std::to_string(offer.streams) +
                         " were offered",
                     ErrorKind::invalid};
    if (a.compression && offer.compression.empty())
        return Error{"peer " + peer + " chose zstd compression, which was not offered", ErrorKind::invalid};
    if (a.checkpoint_bytes % offer.block_size)
        return Error{"peer " + peer + " chose a checkpoint grid of " + std::to_string(a.checkpoint_bytes) +
                         " bytes, not a multiple of the block size " + std::to_string(offer.block_size),
                     ErrorKind::invalid};
    return success();
}

namespace {

uint64_t data_in(const ExtentMap& map, uint64_t a, uint64_t b) {
    uint64_t n = 0;
    for (const Extent& e : map.data()) {
        const uint64_t lo = std::max(a, e.offset), hi = std::min(b, e.offset + e.length);
        if (lo < hi) n += hi - lo;
    }
    return n;
}

// Worth another try: no answer, a 5xx, a reset connection, or the receiver still holding the
// slice's previous connection (409). Anything else is the peer's or the source's final word.
bool transient(const Error& e) { return e.kind == ErrorKind::failed || e.kind == ErrorKind::conflict; }

// What the slices of one migration's stream share.
struct StreamRun {
    PeerClient& peer;
    const VolumeInfo& info;
    const ExtentMap& map;
    std::string source_volume, destination_volume, token;
    uint64_t checkpoint = 0;
    SendOptions base;  // per slice: block size, workers, rate limit, compression (the slice fields are set per attempt)
    std::chrono::seconds grace{120};
    std::function<bool()> cancelled;
    std::function<void()> progress_changed;
    std::function<void(const std::string&)> log;

    std::mutex mutex;                            // sent, totals
    std::map<uint64_t, ContentChecksum> sent;    // this side's sum of each range it emitted
    SendStats sent_total;
    StreamReceipt received_total;
    StreamReceipt last;                          // the last slice receipt (a v1 stream's is the verification)
    std::vector<uint64_t> slice_done;            // data bytes done per slice (progress)
    std::atomic<uint64_t> wire{0}, pushed{0};
    std::atomic<unsigned> resumes{0};
    std::atomic<bool> abort{false};
    std::atomic<bool> handed_over{false};        // the receiver verified and adopted the volume: slices are done
    FirstError failure;
    // The slices whose body has been handed to its connection whole (the early handover waits for all).
    std::mutex body_mutex;
    std::condition_variable body_changed;
    std::vector<char> body_sent;
    bool threads_ended = false;
    void body_ended(size_t index) {
        {
            std::lock_guard<std::mutex> lock(body_mutex);
            body_sent[index] = 1;
        }
        body_changed.notify_all();
    }
    // Every body out (true), or the slice threads ended or stopped first (false).
    bool wait_bodies_sent() {
        std::unique_lock<std::mutex> lock(body_mutex);
        body_changed.wait(lock, [&] {
            return threads_ended || stopped() || std::all_of(body_sent.begin(), body_sent.end(), [](char c) { return c != 0; });
        });
        return !threads_ended && !stopped() && std::all_of(body_sent.begin(), body_sent.end(), [](char c) { return c != 0; });
    }
    void slice_threads_ended() {
        {
            std::lock_guard<std::mutex> lock(body_mutex);
            threads_ended = true;
        }
        body_changed.notify_all();
    }
    uint64_t half = 0;  // source.mid_stream fires when this much has been pushed over all slices

    void fail(const Error& e) {
        failure.set(e);
        abort = true;
    }
    bool stopped() const { return abort.load() || cancelled(); }
    // Sleeps `how_long` unless stopped first; false when stopped.
    bool pause(std::chrono::milliseconds how_long) {
        const auto until = std::chrono::steady_clock::now() + how_long;
        while (std::chrono::steady_clock::now() < until) {
            if (stopped()) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return !stopped();
    }
};

// One connection: the slice from s.from, with `confirmed` the sum of its ranges before it.
Result<StreamReceipt> upload(StreamRun& run, size_t index, const StreamSlice& s, const ContentChecksum& confirmed) {
    ByteQueue queue(8 << 20);
    std::atomic<bool> stop{false};
    Result<SendStats> sent = Error{"not sent"};
    const uint64_t before = data_in(run.map, s.start, s.from);
    std::thread producer([&] {
        try {
            SendOptions o = run.base;
            o.slice = s;
            o.checkpoint_bytes = run.checkpoint;
            o.confirmed = confirmed;
            o.cancel = &stop;
            o.on_range = [&](uint64_t k, const ContentChecksum& sum) {
                std::lock_guard<std::mutex> lock(run.mutex);
                run.sent[k] = sum;
                return success();
            };
            o.on_progress = [&](const Progress& p) {
                {
                    std::lock_guard<std::mutex> lock(run.mutex);
                    run.slice_done[index] = before + p.bytes_done;
                }
                run.progress_changed();
                if (run.stopped()) stop = true;
            };
            sent = send_extent_stream(run.info, run.map, o, [&](const char* d, size_t n) -> Status {
                if (run.stopped()) return Error{"the stream was stopped", ECANCELED, ErrorKind::cancelled};
                const uint64_t total = run.pushed.fetch_add(n) + n;
                if (total >= run.half && total - n < run.half) failpoint("source.mid_stream");
                return queue.push(d, n);
            });
        } catch (const std::exception& e) {
            sent = Error{std::string("reading the source failed: internal error: ") + e.what()};
        }
        queue.close(sent ? "" : sent.error().message);
    });
    auto received = run.peer.stream(run.destination_volume, run.token, data_in(run.map, s.from, s.end),
                                    [&](char* buf, size_t cap) {
                                        auto n = queue.pop(buf, cap);
                                        if (n) run.wire += *n;  // handed to the connection: the bytes on the wire
                                        if (n && *n == 0 && sent) run.body_ended(index);
                                        return n;
                                    });
    queue.close("the HTTP upload ended");
    stop = true;  // the upload is over: a producer still reading stops
    producer.join();
    // The receiver's account first: when the upload fails the sender fails too (its queue
    // closes), and the receiver's reason says more.
    if (!received) return received.take_error();
    if (!sent) return Error{"reading the source failed: " + sent.error().message, sent.error().code, ErrorKind::refused};
    if (!received->verified || received->destination_checksum != sent->checksum)
        return Error{"verification FAILED on slice [" + std::to_string(s.start) + ", " + std::to_string(s.end) + "): the source sent " +
                         sent->checksum + " but " + run.peer.host() + " holds " +
                         (received->destination_checksum.empty() ? std::string("nothing verified") : received->destination_checksum),
                     ErrorKind::mismatch};
    std::lock_guard<std::mutex> lock(run.mutex);
    SendStats& t = run.sent_total;
    t.bytes_read += sent->bytes_read;
    t.data_bytes += sent->data_bytes;
    t.zero_bytes += sent->zero_bytes;
    t.records += sent->records;
    t.compressed_records += sent->compressed_records;
    t.compressed_bytes += sent->compressed_bytes;
    run.last = *received;
    StreamReceipt& r = run.received_total;
    r.bytes_written += received->bytes_written;
    r.bytes_skipped += received->bytes_skipped;
    r.bytes_zeroed += received->bytes_zeroed;
    r.bytes_released += received->bytes_released;
    if (!received->zero_method.empty()) r.zero_method = received->zero_method;
    return received;
}

// Where a slice resumes: its first range whose receiver sum is not the one this side sent.
Result<StreamSlice> resume_from(StreamRun& run, const StreamSlice& s, ContentChecksum& confirmed) {
    auto rp = run.peer.resume_point(run.destination_volume, run.token);
    if (!rp) return rp.take_error();
    const std::string who = "peer " + run.peer.host() + "'s resume point";
    if (rp->source_volume != run.source_volume || rp->destination_volume != run.destination_volume)
        return Error{who + " names volume " + rp->source_volume.substr(0, 64) + " -> " + rp->destination_volume.substr(0, 64) + ", not " +
                         run.source_volume + " -> " + run.destination_volume + ": not trusted",
                     ErrorKind::invalid};
    if (rp->checkpoint_bytes != run.checkpoint || rp->volume_size < run.map.size())
        return Error{who + " has a grid of " + std::to_string(rp->checkpoint_bytes) + " bytes over " + std::to_string(rp->volume_size) +
                         ", this stream " + std::to_string(run.checkpoint) + " over " + std::to_string(run.map.size()) + ": not trusted",
                     ErrorKind::invalid};
    StreamSlice out = s;
    confirmed = ContentChecksum();
    std::lock_guard<std::mutex> lock(run.mutex);
    uint64_t k = s.start / run.checkpoint;
    for (; k * run.checkpoint < s.end; ++k) {
        auto theirs = rp->ranges.find(k);
        auto ours = run.sent.find(k);
        if (theirs == rp->ranges.end() || ours == run.sent.end() || theirs->second != ours->second.partial()) break;
        confirmed.merge(ours->second);
    }
    out.from = std::min(k * run.checkpoint, s.end);
    return out;
}

void run_slice(StreamRun& run, size_t index, StreamSlice s) {
    ContentChecksum confirmed;
    bool resuming = false;
    bool down = false;  // in a streak of failures since down_since
    auto down_since = std::chrono::steady_clock::now();
    std::chrono::milliseconds backoff{200};
    Error last;
    for (;;) {
        if (run.stopped() || run.handed_over) return;
        Status step;
        if (resuming) {
            auto r = resume_from(run, s, confirmed);
            if (r) {
                if (r->from > s.from) down = false;  // it made progress: a new grace period
                s = *r;
                run.resumes += 1;
                if (run.log)
                    run.log("stream to " + run.peer.host() + ": slice [" + std::to_string(s.start) + ", " + std::to_string(s.end) +
                            ") resumes at " + std::to_string(s.from) + " after: " + last.message);
                resuming = false;
            } else {
                step = r.error();
            }
        }
        if (step.ok()) {
            if (s.from == s.end) return;  // the receiver holds every range, verified
            auto sent = upload(run, index, s, confirmed);
            if (sent || run.handed_over) return;  // after the handover the receiver holds every range, verified
            step = sent.error();
        }
        if (run.stopped()) return;
        last = step.error();
        if (!transient(last) || run.grace.count() == 0) return run.fail(last);
        if (!down) {
            down = true;
            down_since = std::chrono::steady_clock::now();
        }
        if (std::chrono::steady_clock::now() - down_since > run.grace)
            return run.fail(Error{last.message + " (not resumed within stream_resume_grace = " + std::to_string(run.grace.count()) + " s)",
                                  last.code, ErrorKind::failed});
        if (!run.pause(backoff)) return;
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        resuming = true;
    }
}

}  // namespace

Status MigrationService::copy_to_peer(MigrationRecord& m, PeerClient& peer, const MigrationPlan& plan, const PreparedReceiver& receiver,
                                      const VolumeRecord& source, nlohmann::json& report, EarlyHandover* early) {
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

    const DaemonConfig& config = volumes_.config();
    const std::vector<StreamSlice> slices = plan_slices(map, receiver.streams, receiver.checkpoint_bytes);
    StreamRun run{peer, *info, map, m.volume_id, m.destination_volume_id, m.stream_token, receiver.checkpoint_bytes};
    run.base.block_size = plan.plan.block_size;
    // About 4 readers in all, whatever the number of slices (2 cores; the receiver does the same).
    run.base.workers = std::max<unsigned>(1, 4 / static_cast<unsigned>(slices.size()));
    // One share of the daemon-wide volume_copy_bps_limit for the migration, used by all its slices.
    RateLimiter limiter(0, &copy_rate_);
    run.base.limiter = &limiter;
    CompressionGate gate;
    run.base.compression = receiver.compression ? StreamCompression::zstd : StreamCompression::none;
    run.base.gate = config.migration_compression == MigrationCompression::automatic ? &gate : nullptr;
    // A receiver before stream v2 (no checkpoint grid) gets one v1 stream, verified whole, not resumable.
    const bool legacy = receiver.checkpoint_bytes == 0;
    run.grace = legacy ? std::chrono::seconds(0) : config.stream_resume_grace;
    run.half = map.data_bytes() / 2;
    run.slice_done.assign(slices.size(), 0);
    run.body_sent.assign(slices.size(), 0);
    if (legacy) early = nullptr;  // a v1 receiver verifies at the stream's end and knows no adopt with finish
    run.cancelled = [this, &m] { return cancelled(m.id); };
    run.log = log_;
    std::mutex progress_mutex;
    auto last_saved = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    run.progress_changed = [&] {
        std::lock_guard<std::mutex> lock(progress_mutex);
        const auto now = std::chrono::steady_clock::now();
        if (now - last_saved < std::chrono::milliseconds(250)) return;
        last_saved = now;
        uint64_t done = 0;
        {
            std::lock_guard<std::mutex> l(run.mutex);
            for (uint64_t d : run.slice_done) done += d;
        }
        const double seconds = std::chrono::duration<double>(now - started).count();
        m.bytes_done = done;
        m.bytes_total = map.data_bytes();
        m.rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
        m.eta_seconds = m.rate > 0 ? static_cast<double>(m.bytes_total - std::min(done, m.bytes_total)) / m.rate : -1;
        (void)store_.save_progress(m);  // progress only: a lost update is shown late, nothing more
    };

    // Each round streams the slices not yet complete; the finish verifies the whole volume. A
    // finish that finds ranges missing (the receiver lost a batch in a crash) resumes once more.
    auto total_checksum = [&] {
        ContentChecksum total;
        std::lock_guard<std::mutex> lock(run.mutex);
        for (const auto& [k, sum] : run.sent) total.merge(sum);
        return total.finish(map.size());
    };
    Result<StreamReceipt> finished = Error{"not finished"};
    for (int round = 0; round < 3; ++round) {
        std::vector<std::thread> threads;
        for (size_t i = 0; i < slices.size(); ++i)
            threads.emplace_back([&, i] {
                try {
                    StreamSlice s = slices[i];
                    if (round > 0) s.from = s.start;
                    run_slice(run, i, s);
                } catch (const std::exception& e) {
                    run.fail(Error{std::string("streaming a slice failed: internal error: ") + e.what()});
                }
            });
        std::thread completer;
        if (round == 0 && early)
            completer = std::thread([&] {
                try {
                    if (!run.wait_bodies_sent()) return;
                    const std::string checksum = total_checksum();  // every range was emitted: the bodies are out
                    std::lock_guard<std::mutex> lock(progress_mutex);  // m is the progress updates' too
                    hand_over_early(m, peer, checksum, map.size(), *early);
                    if (early->adopted) run.handed_over = true;
                } catch (const std::exception& e) {
                    if (early->problem.empty()) early->problem = std::string("handing over failed: internal error: ") + e.what();
                }
            });
        for (auto& t : threads) t.join();
        run.slice_threads_ended();
        if (completer.joinable()) completer.join();
        if (early && early->adopted) {
            // The receiver verified every range against the source's checksum, then adopted.
            run.sent_total.checksum = total_checksum();
            StreamReceipt verified;
            verified.volume_size = map.size();
            verified.strategy = receiver.strategy;
            verified.verified = true;
            verified.source_checksum = verified.destination_checksum = run.sent_total.checksum;
            finished = early->receipt ? *early->receipt : verified;
            break;
        }
        if (early && early->begun && log_) log_("migration " + m.id + ": the early handover did not adopt (" + early->problem + ")");
        if (run.failure.failed() || cancelled(m.id)) break;
        if (legacy) {
            finished = run.last;
            run.sent_total.checksum = run.last.destination_checksum;  // upload() checked it is what was sent
            break;
        }

        run.sent_total.checksum = total_checksum();
        const auto finish_started = std::chrono::steady_clock::now();
        std::chrono::milliseconds backoff{200};
        for (;;) {
            finished = peer.finish_receive(m.destination_volume_id, m.stream_token, run.sent_total.checksum, map.size());
            if (finished || finished.error().kind != ErrorKind::failed) break;
            if (std::chrono::steady_clock::now() - finish_started > config.stream_resume_grace || !run.pause(backoff)) break;
            backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        }
        if (finished || finished.error().kind != ErrorKind::conflict) break;
        if (log_) log_("migration " + m.id + ": " + finished.error().message + "; resuming the slices");
    }
    const bool handed_over = early && early->adopted;
    if (!handed_over && (run.failure.failed() || !finished)) {
        Error e = run.failure.failed() ? run.failure.take() : finished.error();
        if (cancelled(m.id)) return Error{"the migration was cancelled", ECANCELED, ErrorKind::cancelled};
        if (e.message.rfind("reading the source failed", 0) == 0) return e;
        std::string failure = e.message;
        auto shown = peer.show(m.destination_volume_id);
        if (shown && !shown->error.empty()) failure += " (destination: " + shown->error + ")";
        return Error{"streaming to " + peer.host() + " failed: " + failure, e.code, e.kind == ErrorKind::mismatch ? e.kind : ErrorKind::io};
    }
    if (finished->destination_checksum != run.sent_total.checksum || !finished->verified)
        return Error{"verification FAILED: the source sent " + run.sent_total.checksum + " but " + peer.host() + " holds " +
                         (finished->destination_checksum.empty() ? std::string("nothing verified") : finished->destination_checksum),
                     ErrorKind::mismatch};
    if (finished->volume_size != source.size)
        return Error{"the destination applied a stream of " + std::to_string(finished->volume_size) + " bytes, the volume has " +
                         std::to_string(source.size),
                     ErrorKind::mismatch};

    {  // the last progress update may have been throttled: the copy is whole now
        std::lock_guard<std::mutex> lock(progress_mutex);
        m.bytes_done = m.bytes_total = map.data_bytes();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        m.rate = seconds > 0 ? static_cast<double>(m.bytes_done) / seconds : 0;
        m.eta_seconds = 0;
        (void)store_.save_progress(m);  // progress only
    }
    MigrationCopy result;
    StreamReceipt received = run.received_total;
    received.volume_size = finished->volume_size;
    received.strategy = finished->strategy;
    received.verified = finished->verified;
    received.destination_checksum = finished->destination_checksum;
    result.copy = copy_report_of_stream(run.sent_total, received);
    result.copy.source = attached->path();
    result.copy.destination = m.destination + " volume " + m.destination_volume_id;
    result.copy.reason = plan.plan.summary();
    result.copy.extent_method = extent_method;
    result.copy.source_data_bytes = map.data_bytes();
    result.copy.source_extent_count = map.data().size();
    result.copy.source_before.size = result.copy.source_after.size = source.size;
    if (usage_before) result.copy.source_before.allocated = result.copy.source_after.allocated = usage_before->allocated;
    result.copy.destination_after.size = source.size;
    if (finished->allocated_bytes) result.copy.destination_after.allocated = finished->allocated_bytes;
    else if (auto after = peer.show(m.destination_volume_id)) result.copy.destination_after.allocated = after->allocated_bytes;  // a peer that does not say
    result.transport = "extent stream to " + peer.host();
    result.wire_bytes = run.wire.load();
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    report = migration_report_to_json(result);
    report["streams"] = slices.size();
    if (const auto rtt = peer.round_trip(); rtt.count() > 0) report["round_trip_ms"] = static_cast<double>(rtt.count()) / 1000.0;
    report["compression"] = receiver.compression ? "zstd" : "none";
    report["compressed_records"] = run.sent_total.compressed_records;
    report["checkpoint_bytes"] = receiver.checkpoint_bytes;
    report["resumes"] = run.resumes.load();
    return success();
}

}  // namespace volmig
