// The source side of a migration: starting a job and running its steps up to the copy (see
// migration.hpp and DESIGN.md "Migration states"); the copy is in migration_copy.cpp, completion
// and rollback in migration_completion.cpp.
#include <chrono>
#include <cmath>

#include <Poco/UUIDGenerator.h>

#include "api/failpoint.hpp"
#include "api/json_input.hpp"
#include "api/local_peer.hpp"
#include "api/migration.hpp"
#include "api/migration_steps.hpp"

namespace volmig {

namespace {

constexpr auto kDestinationReadyTimeout = std::chrono::seconds(120);

std::string new_id() { return Poco::UUIDGenerator::defaultGenerator().createRandom().toString(); }

}  // namespace

MigrationService::MigrationService(VolumeService& volumes, const Peers& peers, Metrics& metrics, std::function<void(const std::string&)> log)
    : volumes_(volumes),
      peers_(peers),
      metrics_(metrics),
      log_(std::move(log)),
      store_(volumes.store()),
      capabilities_(peers, log_),
      copy_rate_(volumes.config().volume_copy_bps_limit),
      checkpoints_(volumes.store()) {
    volumes_.set_delete_guard([this](const VolumeRecord& v) { return delete_guard(v); });
}

MigrationService::~MigrationService() { stop(); }

Status MigrationService::initialize() {
    if (Status s = store_.ensure_schema(); !s.ok()) return s;
    return checkpoints_.ensure_schema();
}

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
        if (Status admitted = volumes_.admits(**local); !admitted.ok()) return admitted.error().with_kind(ErrorKind::invalid);
    } else if (auto base = peers_.base_url(spec->host); !base) {
        return base.error().with_kind(ErrorKind::invalid);
    }
    bool slot = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return Error{"the daemon is stopping: retry the migration when it is back", ErrorKind::refused};
        slot = take_slot_locked();
    }
    MigrationRecord m;
    m.id = new_id();
    m.role = MigrationRole::source;
    m.state = slot ? MigrationState::starting : MigrationState::queued;
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
            auto busy = volumes_.in_use(r);
            if (!busy) return busy.error();
            if (*busy)
                return Error{"volume " + r.id + " " + **busy + ": volmig migrates only volumes not in use (a later version moves in-use "
                             "volumes): detach it first",
                             ErrorKind::invalid};
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
        if (!req.also_on_start) return store_.insert(m);
        return store_.insert(m, [&](VolumeStore::Tx& inner) { return req.also_on_start(inner, m); });
    });
    if (!claimed.ok()) {
        if (slot) release_slot();
        return claimed.error();
    }
    if (log_) log_("migration " + m.id + ": volume " + m.volume_id + " from " + m.source_host + " to " + m.destination);
    if (slot) launch(m.id, JobStart::fresh, Slot::held);
    else enqueue(m);
    return m;
}

void MigrationService::launch(const std::string& migration_id, JobStart how, Slot slot) {
    std::lock_guard<std::mutex> lock(mutex_);
    launch_locked(migration_id, how, slot);
}

void MigrationService::launch_locked(const std::string& migration_id, JobStart how, Slot slot) {
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
    job->thread = std::thread([this, migration_id, job, how, slot] {
        run_job(migration_id, how);
        // Before `done`: a thread marked done may be joined by the launch this release makes.
        if (slot == Slot::held) release_slot();
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
            if (m.state == MigrationState::queued || m.state == MigrationState::starting || m.state == MigrationState::migrating ||
                m.state == MigrationState::awaiting_completion)
                roll_back(m, failure);
        }
    } catch (...) {
        if (log_) log_("migration " + migration_id + ": the rollback after an internal error failed too; a restart rolls it back");
    }
}

void MigrationService::run_steps(MigrationRecord& m, JobStart how) {
    if (m.state == MigrationState::queued) {
        if (how != JobStart::fresh) return;  // it stays queued (a restart re-queues it)
        // Its slot came: from here on it is a started migration.
        if (Status s = store_.transition(m, MigrationState::starting, volume_shows(m.volume_id, MigrationState::starting)); !s.ok()) {
            if (log_) log_("migration " + m.id + ": not started (abandoned while queued?): " + s.error().message);
            return;
        }
        if (log_) log_("migration " + m.id + ": its turn came: starting");
    }
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

    // starting: the destination's capabilities (fetched now, or by a migration moments ago),
    // then the plan.
    const std::string host_backend = spec->host + "@" + spec->backend;
    auto fetch_document = [&] {
        FetchedDocument document;
        auto caps = (*peer)->capabilities(host_backend);
        if (caps) document.document = *caps;
        else document.problem = "capabilities of " + host_backend + " could not be fetched (" + caps.error().message + ")";
        if (!same_daemon) capabilities_.remember(host_backend, document);
        return document;
    };
    std::optional<FetchedDocument> recent;
    if (!same_daemon) recent = capabilities_.recent(host_backend, volumes_.config().peer_capabilities_max_age);
    Result<MigrationPlan> plan = Error{"not planned"};
    auto make_plan = [&](const FetchedDocument& document) -> Status {
        plan = plan_migration(volumes_, *source, *spec, same_daemon, document, m.force_full, m.requested_strategy);
        if (!plan) return Error{"planning failed: " + plan.error().message};
        m.plan = dump_json(migration_plan_to_json(*plan));
        m.strategy = plan->plan.strategy;
        m.block_size = plan->plan.block_size;
        if (!plan->plan.refused.empty()) return Error{"refused: " + plan->plan.refused};
        m.destination = plan->destination_pool;
        if (Status s = store_.save(m); !s.ok()) return Error{"the plan could not be recorded: " + s.error().message};
        if (log_) log_("migration " + m.id + ": plan " + to_string(plan->plan.strategy) + ": " + plan->plan.summary());
        return success();
    };
    if (Status planned = make_plan(recent ? *recent : fetch_document()); !planned.ok()) return roll_back(m, planned.error().message);
    if (cancelled(m.id)) return roll_back(m, "the daemon stopped during the migration");

    // The destination volume, tagged with this migration's id: should the answer be lost, a
    // rollback still finds it.
    CreateTargetRequest create;
    create.size_gib = (source->size + kGiB - 1) / kGiB;
    create.name = "migration target of " + source->id;
    create.volume_type = plan->volume_type;
    create.project_id = source->project_id;
    create.migration_id = m.id;
    PrepareRequest prepare{m.volume_id, m.source_host, plan->plan.strategy, plan->plan.block_size};
    offer_stream_terms(volumes_.config(), plan->source_extents ? plan->source_extents->data_bytes() : source->size, (*peer)->round_trip(),
                       prepare);
    // One call where the peer can: the destination volume, and its receive prepared.
    auto made = (*peer)->create_prepared(create, prepare);
    if (!made) return roll_back(m, "creating the destination volume failed: " + made.error().message);
    m.destination_volume_id = made->volume.id;
    if (Status s = store_.save(m); !s.ok()) return roll_back(m, "the destination volume could not be recorded: " + s.error().message);
    failpoint("source.after_destination_created");

    // Wait (bounded) until the destination volume is available.
    const auto deadline = std::chrono::steady_clock::now() + kDestinationReadyTimeout;
    PeerVolume target = made->volume;
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

    auto prepared = made->prepared ? Result<PreparedReceiver>(*made->prepared) : (*peer)->prepare_receive(m.destination_volume_id, prepare);
    if (!prepared && recent && prepared.error().kind == ErrorKind::refused) {
        // Planned with an earlier migration's document, which the receiver contradicts (its
        // backend changed since): the document afresh, and the plan again, onto the same volume.
        if (log_) log_("migration " + m.id + ": " + host_backend + " refused the plan made with capabilities " + recent->age + " (" +
                       prepared.error().message + "): fetching them afresh");
        capabilities_.forget(host_backend);
        const std::string pool = m.destination;
        if (Status planned = make_plan(fetch_document()); !planned.ok()) return roll_back(m, planned.error().message);
        if (m.destination != pool)
            return roll_back(m, "the capabilities of " + host_backend + " changed during the migration (pool " + pool + " is now " +
                                    m.destination + "): retry the migration");
        prepare.strategy = plan->plan.strategy;
        prepare.block_size = plan->plan.block_size;
        prepared = (*peer)->prepare_receive(m.destination_volume_id, prepare);
    }
    if (!prepared) return roll_back(m, "the destination refused to receive: " + prepared.error().message);
    if (!same_daemon)  // a local copy is the copy engine's: no stream
        if (Status s = check_stream_terms(spec->host, prepare, *prepared); !s.ok()) return roll_back(m, s.error().message);
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
    // A migration that completes on its own hands over as its last bytes leave, where the peer can.
    EarlyHandover early;
    const bool hand_over_early = m.auto_complete && !same_daemon && document_lists_call(plan->destination_document, kCallAdoptWithFinish);
    Status copied = same_daemon ? copy_locally(m, *plan, *source, report)
                                : copy_to_peer(m, **peer, *plan, *prepared, *source, report, hand_over_early ? &early : nullptr);
    if (early.begun) return after_early_handover(m, early, copied, report);
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

void MigrationService::after_early_handover(MigrationRecord& m, const EarlyHandover& early, const Status& copied, const nlohmann::json& report) {
    // completing since the handover began.
    if (!copied.ok() && !early.adopted) {
        // The receiver said no: it does not hold the volume, which is still the source's.
        if (early.refused || copied.error().kind == ErrorKind::cancelled) {
            if (copied.error().kind == ErrorKind::cancelled) return;  // stays completing; a restart asks the peer again
            return roll_back(m, copied.error().message);
        }
        // Whether it adopted is not known: the completion asks it again (with the finish).
        if (log_) log_("migration " + m.id + ": " + copied.error().message + "; asking " + m.destination + " whether it took the volume over");
        return complete_job(m);
    }
    if (!copied.ok() && log_)  // adopted: the receiver verified what it holds; its receipt said otherwise
        log_("migration " + m.id + ": adopted by " + m.destination + ", but: " + copied.error().message);
    if (report.is_object() && !report.empty()) m.report = dump_json(report);
    metrics_.add_copied_bytes(report.value("bytes_read", 0ull));
    if (!early.adopted) {
        // Every slice verified, the handover not done: the finish and adoption as usual.
        if (Status s = store_.save(m); !s.ok() && log_) log_("migration " + m.id + ": " + s.error().message);
        return complete_job(m);
    }
    if (Status s = record_handed_over(m); !s.ok()) {
        if (log_) log_("migration " + m.id + ": the adoption could not be recorded (a restart asks the peer again): " + s.error().message);
        return;
    }
    release_source(m);
}

}  // namespace volmig
