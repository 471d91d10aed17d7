// The source side of a migration: starting a job and running it step by step (see migration.hpp
// and DESIGN.md "Migration states").
#include <chrono>
#include <cmath>

#include <Poco/UUIDGenerator.h>

#include "api/byte_queue.hpp"
#include "api/failpoint.hpp"
#include "api/json_input.hpp"
#include "api/local_peer.hpp"
#include "api/migration.hpp"
#include "api/migration_report.hpp"
#include "copy/extent_stream.hpp"

namespace volmig {

namespace {

constexpr auto kDestinationReadyTimeout = std::chrono::seconds(120);
constexpr auto kCompletionRetryLongest = std::chrono::seconds(30);

std::string new_id() { return Poco::UUIDGenerator::defaultGenerator().createRandom().toString(); }

nlohmann::json parse_or_null(const std::string& text) {
    auto doc = parse_json_bounded(text);
    return doc ? *doc : nlohmann::json(nullptr);
}

// The volume-record half of a source step: the volume shows the migration's state (and why it
// failed), and a locked volume is released once the migration ends.
MigrationStore::Also volume_shows(const std::string& volume_id, MigrationState state, const std::string& error = "") {
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

}  // namespace

MigrationService::MigrationService(VolumeService& volumes, const Peers& peers, Metrics& metrics, std::function<void(const std::string&)> log)
    : volumes_(volumes), peers_(peers), metrics_(metrics), log_(std::move(log)), store_(volumes.store()), capabilities_(peers, log_) {
    volumes_.set_delete_guard([this](const VolumeRecord& v) { return delete_guard(v); });
}

MigrationService::~MigrationService() { stop(); }

Status MigrationService::initialize() { return store_.ensure_schema(); }

void MigrationService::refuse_new() {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
}

void MigrationService::stop() {
    std::map<std::string, std::unique_ptr<Running>> jobs;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
        for (auto& [id, job] : jobs_) job->cancel = true;
        jobs.swap(jobs_);
    }
    wake_.notify_all();
    for (auto& [id, job] : jobs)
        if (job->thread.joinable()) job->thread.join();
    if (sweeper_.joinable()) sweeper_.join();
    capabilities_.stop();
}

bool MigrationService::cancelled(const std::string& migration_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = jobs_.find(migration_id);
    return stopping_ || (it != jobs_.end() && it->second->cancel.load());
}

bool MigrationService::wait_or_cancelled(const std::string& migration_id, std::chrono::milliseconds how_long) {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait_for(lock, how_long, [&] {
        auto it = jobs_.find(migration_id);
        return stopping_ || (it != jobs_.end() && it->second->cancel.load());
    });
    auto it = jobs_.find(migration_id);
    return stopping_ || (it != jobs_.end() && it->second->cancel.load());
}

Result<std::unique_ptr<PeerClient>> MigrationService::destination_client(const std::string& host) {
    if (peers_.is_local(host)) return make_local_peer(volumes_);
    return peers_.client(host);
}

// ---------------------------------------------------------------------------- starting a job

Result<MigrationRecord> MigrationService::start(const MigrateRequest& req) {
    auto spec = parse_host_spec(req.destination);
    if (!spec) return spec.take_error();
    if (peers_.is_local(spec->host)) {
        auto local = volumes_.local_backend(spec->host + "@" + spec->backend + (spec->pool.empty() ? "" : "#" + spec->pool));
        if (!local) return local.error().with_kind(ErrorKind::invalid);
    } else if (auto base = peers_.base_url(spec->host); !base) {
        return base.error().with_kind(ErrorKind::invalid);
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return Error{"the daemon is stopping: retry the migration when it is back", ErrorKind::refused};
    }
    MigrationRecord m;
    m.id = new_id();
    m.role = MigrationRole::source;
    m.state = MigrationState::starting;
    m.volume_id = req.volume_id;
    m.destination = spec->host + "@" + spec->backend + (spec->pool.empty() ? "" : "#" + spec->pool);
    m.force_full = req.force_full;
    m.requested_strategy = req.strategy;
    m.lock_volume = req.lock_volume;
    m.auto_complete = req.auto_complete;
    // The checks and the claim are one transaction: two requests cannot both start a migration.
    Status claimed = volumes_.store().transaction([&](VolumeStore::Tx& tx) -> Status {
        Status checked = tx.modify(req.volume_id, [&](VolumeRecord& r) -> Status {
            if (r.is_forwarding())
                return Error{"volume " + r.id + " has moved to " + r.moved_to + ": migrate it from there", ErrorKind::invalid};
            if (r.migration_status == VolumeMigrationStatus::target)
                return Error{"volume " + r.id + " is the target of a migration and cannot migrate", ErrorKind::invalid};
            if (r.in_migration())
                return Error{"volume " + r.id + " is already migrating (" + r.migration_status_text() + ")", ErrorKind::invalid};
            if (r.status != VolumeStatus::available)
                return Error{"volume " + r.id + " is " + to_string(r.status) + ": only available volumes can be migrated", ErrorKind::invalid};
            if (!r.attached_path.empty())
                return Error{"volume " + r.id + " is attached for another copy: retry when it ends", ErrorKind::invalid};
            auto current = parse_host_spec(volumes_.host_of(r));
            if (current && current->host == spec->host && current->backend == spec->backend)
                return Error{"volume " + r.id + " is already on " + spec->host + "@" + spec->backend + ": choose a different destination",
                             ErrorKind::invalid};
            m.source_host = volumes_.host_of(r);
            m.source = SourceStorage{r.backend, r.location, r.storage_id(), r.size};
            r.migration_status = VolumeMigrationStatus::starting;
            r.error.clear();
            if (req.lock_volume) r.status = VolumeStatus::maintenance;
            return success();
        });
        if (!checked.ok()) return checked;
        return store_.insert(m);
    });
    if (!claimed.ok()) return claimed.error();
    if (log_) log_("migration " + m.id + ": volume " + m.volume_id + " from " + m.source_host + " to " + m.destination);
    launch(m.id);
    return m;
}

void MigrationService::launch(const std::string& migration_id, JobStart how) {
    std::lock_guard<std::mutex> lock(mutex_);
    // Threads of finished jobs are joined here, so that a long-running daemon does not keep them.
    for (auto it = jobs_.begin(); it != jobs_.end();) {
        if (it->second->done) {
            if (it->second->thread.joinable()) it->second->thread.join();
            it = jobs_.erase(it);
        } else {
            ++it;
        }
    }
    auto running = std::make_unique<Running>();
    Running* job = running.get();
    jobs_[migration_id] = std::move(running);
    job->thread = std::thread([this, migration_id, job, how] {
        run_job(migration_id, how);
        job->done = true;
    });
}

// ---------------------------------------------------------------------------- the job

void MigrationService::run_job(const std::string& migration_id, JobStart how) {
    metrics_.copy_started();
    struct Finished {
        Metrics& metrics;
        ~Finished() { metrics.copy_finished(); }
    } finished{metrics_};
    // The thread's boundary: whatever escapes a step becomes the migration's error.
    std::string failure;
    try {
        auto loaded = store_.get(migration_id);
        if (!loaded || !*loaded) {
            if (log_) log_("migration " + migration_id + ": cannot be read back: " + (loaded ? "no such record" : loaded.error().message));
            return;
        }
        MigrationRecord m = **loaded;
        run_steps(m, how);
        return;
    } catch (const std::exception& e) {
        failure = std::string("internal error: ") + e.what();
    } catch (...) {
        failure = "internal error of an unknown kind";
    }
    if (log_) log_("migration " + migration_id + ": " + failure);
    try {
        auto loaded = store_.get(migration_id);
        if (loaded && *loaded) {
            MigrationRecord m = **loaded;
            if (m.state == MigrationState::starting || m.state == MigrationState::migrating || m.state == MigrationState::awaiting_completion)
                roll_back(m, failure);
        }
    } catch (...) {
        if (log_) log_("migration " + migration_id + ": the rollback after an internal error failed too; a restart rolls it back");
    }
}

void MigrationService::run_steps(MigrationRecord& m, JobStart how) {
    if (m.state == MigrationState::completing || m.state == MigrationState::releasing) return complete_job(m);
    if (how == JobStart::abandon && m.state == MigrationState::awaiting_completion)
        return roll_back(m, "abandoned by os-migrate_volume_completion with error = true");
    if (how == JobStart::after_restart && (m.state == MigrationState::starting || m.state == MigrationState::migrating))
        return roll_back(m, "interrupted by a restart of the source daemon while " + to_string(m.state) +
                                ": rolled back, the source is untouched; retry");
    if (how != JobStart::fresh || m.state != MigrationState::starting) return;  // awaiting_completion waits

    delete_leftovers(m.volume_id);
    auto source = volumes_.get(m.volume_id);
    if (!source) return roll_back(m, source.error().message);
    auto spec = parse_host_spec(m.destination);
    if (!spec) return roll_back(m, spec.error().message);
    const bool same_daemon = peers_.is_local(spec->host);
    auto peer = destination_client(spec->host);
    if (!peer) return roll_back(m, peer.error().message);

    // starting: the destination's capabilities, fetched now, then the plan.
    const std::string host_backend = spec->host + "@" + spec->backend;
    FetchedDocument document;
    auto caps = (*peer)->capabilities(host_backend);
    if (caps) document.document = *caps;
    else document.problem = "capabilities of " + host_backend + " could not be fetched (" + caps.error().message + ")";
    if (!same_daemon) capabilities_.remember(host_backend, document);
    auto plan = plan_migration(volumes_, *source, *spec, same_daemon, document, m.force_full, m.requested_strategy);
    if (!plan) return roll_back(m, "planning failed: " + plan.error().message);
    m.plan = dump_json(migration_plan_to_json(*plan));
    m.strategy = plan->plan.strategy;
    m.block_size = plan->plan.block_size;
    if (!plan->plan.refused.empty()) return roll_back(m, "refused: " + plan->plan.refused);
    m.destination = plan->destination_pool;
    if (Status s = store_.save(m); !s.ok()) return roll_back(m, "the plan could not be recorded: " + s.error().message);
    if (log_) log_("migration " + m.id + ": plan " + to_string(plan->plan.strategy) + ": " + plan->plan.summary());
    if (cancelled(m.id)) return roll_back(m, "the daemon stopped during the migration");

    // The destination volume, tagged with this migration's id: should the answer be lost, a
    // rollback still finds it.
    CreateTargetRequest create;
    create.size_gib = (source->size + kGiB - 1) / kGiB;
    create.name = "migration target of " + source->id;
    create.volume_type = plan->volume_type;
    create.project_id = source->project_id;
    create.migration_id = m.id;
    auto created = (*peer)->create(create);
    if (!created) return roll_back(m, "creating the destination volume failed: " + created.error().message);
    m.destination_volume_id = created->id;
    if (Status s = store_.save(m); !s.ok()) return roll_back(m, "the destination volume could not be recorded: " + s.error().message);
    failpoint("source.after_destination_created");

    // Wait (bounded) until the destination volume is available.
    const auto deadline = std::chrono::steady_clock::now() + kDestinationReadyTimeout;
    PeerVolume target = *created;
    while (target.status != VolumeStatus::available) {
        if (target.status != VolumeStatus::creating)
            return roll_back(m, "the destination volume is " + to_string(target.status) + " on " + spec->host +
                                    (target.error.empty() ? "" : ": " + target.error));
        if (std::chrono::steady_clock::now() > deadline)
            return roll_back(m, "the destination volume did not become available within " +
                                    std::to_string(kDestinationReadyTimeout.count()) + " s");
        if (wait_or_cancelled(m.id, std::chrono::milliseconds(200))) return roll_back(m, "the daemon stopped during the migration");
        auto shown = (*peer)->show(m.destination_volume_id);
        if (!shown) return roll_back(m, "the destination volume could not be read back: " + shown.error().message);
        target = *shown;
    }

    PrepareRequest prepare{m.volume_id, m.source_host, plan->plan.strategy, plan->plan.block_size};
    auto prepared = (*peer)->prepare_receive(m.destination_volume_id, prepare);
    if (!prepared) return roll_back(m, "the destination refused to receive: " + prepared.error().message);
    m.stream_token = prepared->stream_token;
    if (prepared->strategy != plan->plan.strategy) {
        // The receiver chose a safer strategy; the plan and the report say what it applies.
        plan->plan.reasons.push_back("the destination applies " + to_string(prepared->strategy) +
                                     (prepared->reason.empty() ? "" : ": " + prepared->reason));
        plan->plan.strategy = prepared->strategy;
        m.strategy = prepared->strategy;
        m.plan = dump_json(migration_plan_to_json(*plan));
    }
    if (cancelled(m.id)) return roll_back(m, "the daemon stopped during the migration");

    // migrating: copy and verify.
    if (Status s = store_.transition(m, MigrationState::migrating, volume_shows(m.volume_id, MigrationState::migrating)); !s.ok())
        return roll_back(m, "the migration could not be recorded as migrating: " + s.error().message);
    nlohmann::json report;
    Status copied = same_daemon ? copy_locally(m, *plan, *source, report) : copy_to_peer(m, **peer, *plan, *source, report);
    if (!copied.ok()) return roll_back(m, cancelled(m.id) ? "the daemon stopped during the migration" : copied.error().message);
    m.report = dump_json(report);
    metrics_.add_copied_bytes(report.value("bytes_read", 0ull));
    if (!m.auto_complete) {
        if (Status s = store_.transition(m, MigrationState::awaiting_completion, volume_shows(m.volume_id, MigrationState::awaiting_completion));
            !s.ok())
            return roll_back(m, "the finished copy could not be recorded: " + s.error().message);
        if (log_) log_("migration " + m.id + ": copied and verified; waiting for os-migrate_volume_completion");
        return;
    }
    failpoint("source.after_verification");
    complete_job(m);
}

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
    options.rate_limit = volumes_.config().volume_copy_bps_limit;
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
            options.rate_limit = volumes_.config().volume_copy_bps_limit;
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

// ---------------------------------------------------------------------------- completion

void MigrationService::complete_job(MigrationRecord& m) {
    if (m.state == MigrationState::migrating || m.state == MigrationState::awaiting_completion) {
        if (Status s = store_.transition(m, MigrationState::completing, volume_shows(m.volume_id, MigrationState::completing)); !s.ok())
            return roll_back(m, "the completion could not be recorded: " + s.error().message);
    }
    if (m.state == MigrationState::completing) {
        auto spec = parse_host_spec(m.destination);
        if (!spec) return roll_back(m, spec.error().message);
        Status handed;
        if (peers_.is_local(spec->host)) {
            handed = take_over_locally(m);
        } else {
            auto peer = peers_.client(spec->host);
            handed = peer ? hand_over_to_peer(m, **peer) : Status(peer.error());
        }
        if (!handed.ok()) {
            if (handed.error().kind == ErrorKind::cancelled) return;  // stays completing; a restart drives it on
            return roll_back(m, handed.error().message);
        }
    }
    if (m.state == MigrationState::releasing) release_source(m);
}

Status MigrationService::take_over_locally(MigrationRecord& m) {
    // One transaction: the volume takes the new storage, the temporary record goes, the
    // migration moves on to releasing the old storage.
    return store_.transition(m, MigrationState::releasing, [&](VolumeStore::Tx& tx) -> Status {
        auto target = tx.get(m.destination_volume_id);
        if (!target) return target.error();
        if (!*target) return Error{"the destination volume " + m.destination_volume_id + " is gone: the copy cannot be completed"};
        const VolumeRecord t = **target;
        Status moved = tx.modify(m.volume_id, [&](VolumeRecord& r) {
            r.backend = t.backend;
            r.location = t.location;
            r.name_id = t.storage_id();
            r.size = t.size;
            r.migration_status = VolumeMigrationStatus::completing;
            r.error.clear();
            return success();
        });
        if (!moved.ok()) return moved;
        return tx.remove(t.id);
    });
}

Status MigrationService::hand_over_to_peer(MigrationRecord& m, PeerClient& peer) {
    auto backoff = std::chrono::milliseconds(500);
    while (true) {
        auto volume = volumes_.get(m.volume_id);
        if (!volume) return volume.error();
        AdoptRequest adopt;
        adopt.volume_id = volume->id;
        adopt.name = volume->name;
        adopt.description = volume->description;
        auto metadata = parse_json_bounded(volume->metadata);
        adopt.metadata = metadata && metadata->is_object() ? *metadata : nlohmann::json::object();
        adopt.created_at = volume->created_at;
        adopt.project_id = volume->project_id;
        adopt.stream_token = m.stream_token;
        adopt.plan = parse_or_null(m.plan);
        adopt.report = parse_or_null(m.report);
        Status adopted = peer.adopt(m.destination_volume_id, adopt);
        failpoint("source.during_adoption");
        std::string waiting;
        if (!adopted.ok()) {
            const ErrorKind kind = adopted.error().kind;
            if (kind == ErrorKind::refused || kind == ErrorKind::not_found || kind == ErrorKind::invalid) {
                // The peer said no, or answered nonsense. It may still have adopted the volume
                // before (an answer lost to a crash): it holds it under its own id then, on the
                // storage this migration filled.
                auto shown = peer.show(m.volume_id);
                if (shown && shown->name_id == m.destination_volume_id && shown->moved_to.empty()) {
                    adopted = success();
                } else if (!shown && shown.error().kind == ErrorKind::not_found) {
                    return Error{"the destination did not take the volume over: " + adopted.error().message};
                } else {
                    waiting = adopted.error().message + (shown ? "" : "; and " + shown.error().message);
                }
            } else {
                waiting = adopted.error().message;
            }
        }
        if (adopted.ok()) {
            return store_.transition(m, MigrationState::releasing, [&](VolumeStore::Tx& tx) {
                return tx.modify(m.volume_id, [&](VolumeRecord& r) {
                    r.moved_to = m.destination;
                    r.location.clear();
                    r.migration_status = VolumeMigrationStatus::completing;
                    r.error.clear();
                    return success();
                });
            });
        }
        // Not yet adopted: the source is still complete and authoritative. Wait and ask again.
        m.error = "completion is waiting for " + peer.host() + ": " + waiting;
        if (Status s = store_.save(m); !s.ok() && log_) log_("migration " + m.id + ": " + s.error().message);
        if (log_) log_("migration " + m.id + ": " + m.error);
        if (wait_or_cancelled(m.id, backoff)) return Error{"the daemon stopped while completing", ErrorKind::cancelled};
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, kCompletionRetryLongest);
    }
}

void MigrationService::release_source(MigrationRecord& m) {
    failpoint("source.before_source_delete");
    // The destination owns the volume now; only the source's old storage is left.
    std::string note;
    Backend* b = volumes_.backends().find(m.source.backend);
    if (b && !m.source.location.empty()) {
        Status removed = b->driver->remove(VolumeRef{m.source.storage_id, m.source.size, VolumeLocation{m.source.location}});
        if (!removed.ok()) note = "the source storage could not be deleted: " + removed.error().message;
    }
    m.error = note;
    if (!note.empty()) {
        auto report = parse_or_null(m.report);
        if (report.is_object()) report["cleanup"] = note;
        m.report = dump_json(report);
    }
    Status s = store_.transition(m, MigrationState::success, volume_shows(m.volume_id, MigrationState::success));
    if (!s.ok()) {
        if (log_) log_("migration " + m.id + ": the success could not be recorded (a restart finishes it): " + s.error().message);
        return;
    }
    if (log_) log_("migration " + m.id + ": success; volume " + m.volume_id + " is now on " + m.destination + (note.empty() ? "" : " (" + note + ")"));
}

// ---------------------------------------------------------------------------- rollback

Status MigrationService::delete_destination(MigrationRecord& m) {
    auto spec = parse_host_spec(m.destination);
    if (!spec) return spec.error();
    auto peer = destination_client(spec->host);
    if (!peer) return peer.error();
    std::vector<std::string> ids;
    if (!m.destination_volume_id.empty()) {
        ids.push_back(m.destination_volume_id);
    } else {
        // The create's answer never arrived (or made no sense): look for what it made.
        auto found = (*peer)->created_for(m.id);
        if (!found && found.error().kind != ErrorKind::not_found) return found.error();
        if (found)
            for (const auto& v : *found) ids.push_back(v.id);
    }
    for (const auto& id : ids) {
        Status s = (*peer)->remove(id);
        if (!s.ok()) return Error{"the destination volume " + id + " on " + spec->host + " could not be deleted (" + s.error().message + ")"};
    }
    return success();
}

void MigrationService::roll_back(MigrationRecord& m, const std::string& why) {
    if (m.finished() || m.state == MigrationState::releasing) {
        if (log_) log_("migration " + m.id + ": not rolled back (it is " + to_string(m.state) + "): " + why);
        return;
    }
    std::string message = why;
    Status removed = delete_destination(m);
    if (!removed.ok()) {
        m.cleanup_pending = true;
        message += "; " + removed.error().message + ": volmig retries every " +
                   std::to_string(volumes_.config().cleanup_retry_interval.count()) + " s";
    }
    m.error = message;
    Status s = store_.transition(m, MigrationState::error,
                                 volume_shows(m.volume_id, MigrationState::error, "migration to " + m.destination + " failed: " + message));
    if (!s.ok()) {
        if (log_) log_("migration " + m.id + ": the rollback could not be recorded (a restart rolls back again): " + s.error().message);
        return;
    }
    if (log_) log_("migration " + m.id + ": error, rolled back (source untouched): " + message);
}

void MigrationService::delete_leftovers(const std::string& volume_id) {
    auto earlier = store_.cleanup_pending(volume_id);
    if (!earlier) return;
    for (MigrationRecord m : *earlier) {
        Status s = delete_destination(m);
        if (log_)
            log_("migration " + m.id + ": leftover destination volume " + m.destination_volume_id + " on " + m.destination +
                 (s.ok() ? " deleted" : " still cannot be deleted: " + s.error().message));
        if (!s.ok()) continue;
        m.cleanup_pending = false;
        if (Status saved = store_.save(m); !saved.ok() && log_) log_("migration " + m.id + ": " + saved.error().message);
    }
}

Result<nlohmann::json> MigrationService::complete(const std::string& volume_id, const std::string& new_volume_id, bool error) {
    auto shown = store_.shown_for(volume_id);
    if (!shown) return shown.take_error();
    if (!*shown || (*shown)->role != MigrationRole::source || (*shown)->state != MigrationState::awaiting_completion)
        return Error{"volume " + volume_id + " has no migration waiting for completion", ErrorKind::invalid};
    MigrationRecord m = **shown;
    if (new_volume_id != m.destination_volume_id)
        return Error{"new_volume " + new_volume_id + " is not the destination of this migration (" + m.destination_volume_id + ")",
                     ErrorKind::invalid};
    // Completing adopts on the peer and abandoning deletes there: a job thread does either.
    if (!error) {
        if (Status s = store_.transition(m, MigrationState::completing, volume_shows(m.volume_id, MigrationState::completing)); !s.ok())
            return s.error();
    }
    launch(m.id, error ? JobStart::abandon : JobStart::fresh);
    return nlohmann::json{{"save_volume_id", volume_id}};
}

}  // namespace volmig
