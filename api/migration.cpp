#include "api/migration.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>

#include <Poco/UUIDGenerator.h>

#include "copy/copy.hpp"
#include "copy/extent_stream.hpp"
#include "copy/report.hpp"

namespace volmig {

namespace {

constexpr auto kDestinationReadyTimeout = std::chrono::seconds(120);

std::string new_id() { return Poco::UUIDGenerator::defaultGenerator().createRandom().toString(); }

bool migration_in_progress(const VolumeRecord& r) {
    return r.migration_status == "starting" || r.migration_status == "migrating" || r.migration_status == "completing";
}

// Bytes handed from the stream producer to libcurl's read callback, bounded in memory.
class ByteQueue {
public:
    explicit ByteQueue(size_t capacity) : capacity_(capacity) {}

    Status push(const char* data, size_t n) {
        std::unique_lock<std::mutex> lock(mutex_);
        space_.wait(lock, [&] { return queued_ < capacity_ || closed_; });
        if (closed_) return Error{"the upload stopped: " + (reason_.empty() ? std::string("the peer closed the connection") : reason_)};
        chunks_.emplace_back(data, n);
        queued_ += n;
        data_.notify_one();
        return success();
    }
    // End of stream (error empty) or abort (error set): wakes both sides.
    void close(const std::string& error = "") {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) return;
        closed_ = true;
        reason_ = error;
        producer_failed_ = !error.empty();
        data_.notify_all();
        space_.notify_all();
    }
    Result<size_t> pop(char* buf, size_t capacity) {
        std::unique_lock<std::mutex> lock(mutex_);
        data_.wait(lock, [&] { return !chunks_.empty() || closed_; });
        if (chunks_.empty()) {
            if (producer_failed_) return Error{reason_};
            return size_t{0};
        }
        size_t n = 0;
        while (n < capacity && !chunks_.empty()) {
            std::string& front = chunks_.front();
            const size_t take = std::min(capacity - n, front.size() - offset_);
            std::memcpy(buf + n, front.data() + offset_, take);
            n += take;
            offset_ += take;
            if (offset_ == front.size()) {
                queued_ -= front.size();
                chunks_.pop_front();
                offset_ = 0;
            }
        }
        space_.notify_one();
        return n;
    }

private:
    size_t capacity_;
    std::mutex mutex_;
    std::condition_variable data_, space_;
    std::deque<std::string> chunks_;
    size_t queued_ = 0, offset_ = 0;
    bool closed_ = false, producer_failed_ = false;
    std::string reason_;
};

// Detaches an attachment when it leaves scope.
class AttachmentGuard {
public:
    AttachmentGuard(VolumeDriver* driver, Attachment a) : driver_(driver), attachment_(std::move(a)) {}
    ~AttachmentGuard() {
        if (driver_) (void)driver_->detach(attachment_);
    }
    AttachmentGuard(const AttachmentGuard&) = delete;
    AttachmentGuard& operator=(const AttachmentGuard&) = delete;
    const Attachment& get() const { return attachment_; }

private:
    VolumeDriver* driver_;
    Attachment attachment_;
};

nlohmann::json parse_or_null(const std::string& text) {
    if (text.empty()) return nullptr;
    auto j = nlohmann::json::parse(text, nullptr, false);
    return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

int status_for(const Error& e) {
    switch (e.kind) {
        case ErrorKind::invalid:
        case ErrorKind::refused: return 400;
        case ErrorKind::not_found: return 404;
        case ErrorKind::io: return e.code == ENOSPC ? 507 : 500;
        default: return 500;
    }
}

}  // namespace

MigrationService::MigrationService(VolumeService& volumes, const Peers& peers, Metrics& metrics, std::function<void(const std::string&)> log)
    : volumes_(volumes), peers_(peers), metrics_(metrics), log_(std::move(log)), store_(volumes.store()) {}

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
    for (auto& [id, job] : jobs)
        if (job->thread.joinable()) job->thread.join();
}

bool MigrationService::cancelled(const std::string& migration_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = jobs_.find(migration_id);
    return stopping_ || (it != jobs_.end() && it->second->cancel.load());
}

void MigrationService::set_volume_migration_status(const std::string& volume_id, const std::string& migration_status, const std::string& error) {
    std::lock_guard<std::mutex> lock(volumes_.state_mutex());
    auto r = volumes_.get(volume_id);
    if (!r) return;
    r->migration_status = migration_status;
    if (!error.empty()) r->error = error;
    if (migration_status == "success" || migration_status == "error") {
        if (r->status == "maintenance") r->status = "available";
    }
    (void)volumes_.store().update(*r);
}

void MigrationService::save_progress(MigrationRecord& m, const Progress& p) {
    m.bytes_done = p.bytes_done;
    m.bytes_total = p.bytes_total;
    m.rate = p.rate;
    m.eta_seconds = p.eta_seconds;
    (void)store_.save(m);
}

Result<Attachment> MigrationService::attach(const VolumeRecord& record, AttachMode mode) {
    Backend* b = volumes_.backends().find(record.backend);
    if (!b) return Error{"backend " + record.backend + " is not enabled"};
    return b->driver->attach(volumes_.ref_of(record), mode);
}

// ---------------------------------------------------------------------------- starting a job

Result<MigrationRecord> MigrationService::start(const MigrateRequest& req) {
    auto spec = parse_host_spec(req.destination);
    if (!spec) return spec.take_error();
    MigrationRecord m;
    {
        std::lock_guard<std::mutex> state(volumes_.state_mutex());
        auto volume = volumes_.get(req.volume_id);
        if (!volume) return volume.take_error();
        VolumeRecord r = *volume;
        if (!r.moved_to.empty())
            return Error{"volume " + r.id + " has moved to " + r.moved_to + ": migrate it from there", ErrorKind::invalid};
        if (migration_in_progress(r)) return Error{"volume " + r.id + " is already migrating (" + r.migration_status + ")", ErrorKind::invalid};
        if (r.migration_status.rfind("target:", 0) == 0)
            return Error{"volume " + r.id + " is the target of a migration and cannot migrate", ErrorKind::invalid};
        if (r.status != "available")
            return Error{"volume " + r.id + " is " + r.status + ": only available volumes can be migrated", ErrorKind::invalid};
        auto current = parse_host_spec(volumes_.host_of(r));
        if (current && current->host == spec->host && current->backend == spec->backend)
            return Error{"volume " + r.id + " is already on " + spec->host + "@" + spec->backend + ": choose a different destination",
                         ErrorKind::invalid};
        if (peers_.is_local(spec->host)) {
            auto local = volumes_.local_backend(spec->host + "@" + spec->backend + (spec->pool.empty() ? "" : "#" + spec->pool));
            if (!local) return local.error().with_kind(ErrorKind::invalid);
        } else if (auto base = peers_.base_url(spec->host); !base) {
            return base.error().with_kind(ErrorKind::invalid);
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stopping_) return Error{"the daemon is stopping", ErrorKind::refused};
        }
        m.id = new_id();
        m.volume_id = r.id;
        m.destination = spec->host + "@" + spec->backend + (spec->pool.empty() ? "" : "#" + spec->pool);
        m.source_host = volumes_.host_of(r);
        m.state = "starting";
        m.force_full = req.force_full;
        m.requested_strategy = req.strategy == Strategy::automatic ? "" : to_string(req.strategy);
        m.lock_volume = req.lock_volume;
        m.auto_complete = req.auto_complete;
        m.source_backend = r.backend;
        m.source_location = r.location;
        m.source_storage_id = r.storage_id();
        m.source_size = r.size;
        Status saved = store_.save(m);
        if (!saved.ok()) return saved.error();
        r.migration_status = "starting";
        r.error.clear();
        if (req.lock_volume) r.status = "maintenance";
        Status updated = volumes_.store().update(r);
        if (!updated.ok()) return updated.error();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {  // the daemon began stopping meanwhile: undo, never start a job it will not wait for
        m.state = "error";
        m.error = "the daemon is stopping";
        (void)store_.save(m);
        set_volume_migration_status(m.volume_id, "error", "migration not started: the daemon is stopping");
        return Error{"the daemon is stopping: retry the migration when it is back", ErrorKind::refused};
    }
    if (log_) log_("migration " + m.id + ": volume " + m.volume_id + " from " + m.source_host + " to " + m.destination);
    auto running = std::make_unique<Running>();
    Running* job = running.get();
    jobs_[m.id] = std::move(running);
    job->thread = std::thread(&MigrationService::run_job, this, m.id);
    return m;
}

// ---------------------------------------------------------------------------- the job

void MigrationService::run_job(std::string migration_id) {
    auto loaded = store_.get(migration_id);
    if (!loaded || !*loaded) return;
    MigrationRecord m = **loaded;
    metrics_.copy_started();
    struct Finished {
        Metrics& metrics;
        ~Finished() { metrics.copy_finished(); }
    } finished{metrics_};

    if (m.state == "completing") {  // resumed after a restart
        Status s = finish(m);
        if (!s.ok() && log_) log_("migration " + m.id + ": completion failed: " + s.error().message);
        return;
    }
    auto source = volumes_.get(m.volume_id);
    if (!source) return roll_back(m, source.error().message);

    delete_leftovers(m.volume_id);
    // starting: plan, then make the destination volume and get it ready to receive.
    const Strategy requested = m.requested_strategy.empty() ? Strategy::automatic : *parse_strategy(m.requested_strategy);
    auto plan = plan_migration(volumes_, peers_, m.volume_id, m.destination, m.force_full, requested);
    if (!plan) return roll_back(m, "planning failed: " + plan.error().message);
    if (!plan->plan.refused.empty()) {
        m.plan = migration_plan_to_json(*plan).dump();
        return roll_back(m, "refused: " + plan->plan.refused);
    }
    m.plan = migration_plan_to_json(*plan).dump();
    (void)store_.save(m);
    if (log_) log_("migration " + m.id + ": plan " + to_string(plan->plan.strategy) + ": " + plan->plan.summary());

    const uint64_t size_gib = (source->size + kGiB - 1) / kGiB;
    const nlohmann::json& doc = plan->destination_document;
    const std::string backend_name = doc.is_object() && doc.contains("volume_backend_name") && doc["volume_backend_name"].is_string()
                                         ? doc["volume_backend_name"].get<std::string>()
                                         : plan->destination.backend;
    // host@backend#pool as the destination names its pool, for the volume's new host.
    const std::string pool = doc.is_object() && doc.contains("pool_name") && doc["pool_name"].is_string()
                                 ? doc["pool_name"].get<std::string>()
                                 : (plan->destination.pool.empty() ? plan->destination.backend : plan->destination.pool);
    m.destination = plan->destination.host + "@" + plan->destination.backend + "#" + pool;
    if (plan->same_daemon) {
        CreateRequest req;
        req.project_id = source->project_id;
        req.name = "migration target of " + source->id;
        req.size_gib = size_gib;
        req.volume_type = backend_name;
        auto created = volumes_.create(req);
        if (!created) return roll_back(m, "creating the destination volume failed: " + created.error().message);
        m.peer_volume_id = created->id;
        (void)store_.save(m);
        if (created->status != "available") return roll_back(m, "creating the destination volume failed: " + created->error);
        set_volume_migration_status(created->id, "target:" + m.volume_id);
    } else {
        auto created = peers_.call(plan->destination.host, "POST", "/v3/volumes",
                                   {{"volume", {{"size", size_gib}, {"name", "migration target of " + source->id}, {"volume_type", backend_name}}}},
                                   std::chrono::seconds(60));
        if (!created) return roll_back(m, "creating the destination volume failed: " + created.error().message);
        m.peer_volume_id = (*created)["volume"].value("id", "");
        (void)store_.save(m);
        // Wait (bounded) until the peer reports the volume available.
        const auto deadline = std::chrono::steady_clock::now() + kDestinationReadyTimeout;
        std::string status = (*created)["volume"].value("status", "");
        while (status != "available") {
            if (status == "error") return roll_back(m, "the destination volume went to error on " + plan->destination.host);
            if (std::chrono::steady_clock::now() > deadline)
                return roll_back(m, "the destination volume did not become available within " +
                                        std::to_string(kDestinationReadyTimeout.count()) + " s");
            if (cancelled(m.id)) return roll_back(m, "the daemon stopped during the migration");
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            auto shown = peers_.call(plan->destination.host, "GET", "/v3/volumes/" + m.peer_volume_id);
            if (!shown) return roll_back(m, "the destination volume could not be read back: " + shown.error().message);
            status = (*shown)["volume"].value("status", "");
        }
        auto prepared = peers_.call(plan->destination.host, "POST", "/v3/volumes/" + m.peer_volume_id + "/action",
                                    {{"volmig-prepare_receive",
                                      {{"source_volume", m.volume_id},
                                       {"source_host", m.source_host},
                                       {"strategy", to_string(plan->plan.strategy)},
                                       {"block_size", plan->plan.block_size}}}});
        if (!prepared) return roll_back(m, "the destination refused to receive: " + prepared.error().message);
        m.stream_token = (*prepared).value("stream_token", "");
        (void)store_.save(m);
    }
    if (cancelled(m.id)) return roll_back(m, "the daemon stopped during the migration");

    // migrating: copy and verify.
    m.state = "migrating";
    (void)store_.save(m);
    set_volume_migration_status(m.volume_id, "migrating");
    nlohmann::json report = nlohmann::json::object();
    const auto started = std::chrono::steady_clock::now();
    Status copied = plan->same_daemon ? copy_locally(m, *plan, *source, report) : copy_to_peer(m, *plan, *source, report);
    if (!copied.ok()) {
        const bool stop = cancelled(m.id);
        return roll_back(m, stop ? "the daemon stopped during the migration" : copied.error().message);
    }
    // One definition for every migration: logical size over the time to copy and verify.
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    report["seconds"] = seconds;
    report["throughput_bytes_per_second"] = seconds > 0 ? static_cast<double>(source->size) / seconds : 0.0;
    m.report = report.dump();
    metrics_.add_copied_bytes(report.value("bytes_read", 0ull));
    if (!m.auto_complete) {
        m.state = "awaiting_completion";
        (void)store_.save(m);
        if (log_) log_("migration " + m.id + ": copied and verified; waiting for os-migrate_volume_completion");
        return;
    }
    Status done = finish(m);
    if (!done.ok() && log_) log_("migration " + m.id + ": completion failed: " + done.error().message);
}

Status MigrationService::copy_locally(MigrationRecord& m, const MigrationPlan& plan, const VolumeRecord& source, nlohmann::json& report) {
    auto target = volumes_.get(m.peer_volume_id);
    if (!target) return target.error();
    Backend* src_backend = volumes_.backends().find(source.backend);
    Backend* dst_backend = volumes_.backends().find(target->backend);
    if (!src_backend || !dst_backend) return Error{"a backend of the migration is not enabled"};
    auto a = src_backend->driver->attach(volumes_.ref_of(source), AttachMode::file_or_block);
    if (!a) return a.error();
    AttachmentGuard src_guard(src_backend->driver.get(), *a);
    auto b = dst_backend->driver->attach(volumes_.ref_of(*target), AttachMode::file_or_block);
    if (!b) return b.error();
    AttachmentGuard dst_guard(dst_backend->driver.get(), *b);

    CopyOptions options;
    options.strategy = plan.plan.strategy;
    options.block_size = plan.plan.block_size;
    options.verify = plan.plan.verify;
    options.destination_facts.zero_initialized = plan.plan.strategy == Strategy::sparse;
    options.destination_facts.zero_initialized_source = "destination capability document";
    options.destination_facts.can_release = plan.plan.strategy == Strategy::full_then_discard;
    auto map = src_backend->driver->extent_map(volumes_.ref_of(source));
    if (map && *map && (*map)->size() == source.size) options.source_extents = **map;
    std::atomic<bool> cancel{false};
    options.cancel = &cancel;
    options.progress_interval = std::chrono::milliseconds(500);
    options.on_progress = [&](const Progress& p) {
        save_progress(m, p);
        if (cancelled(m.id)) cancel = true;
    };
    options.log = log_;
    options.rate_limit = volumes_.config().volume_copy_bps_limit;
    auto copied = copy_volume(src_guard.get().path, dst_guard.get().path, options);
    if (!copied) return copied.error();
    report.update(report_to_json(*copied));
    report["bytes"]["sent"] = 0;  // nothing crossed a network
    report["bytes_read"] = copied->bytes_read;
    report["transport"] = "local";
    return success();
}

Status MigrationService::copy_to_peer(MigrationRecord& m, const MigrationPlan& plan, const VolumeRecord& source, nlohmann::json& report) {
    Backend* src_backend = volumes_.backends().find(source.backend);
    if (!src_backend) return Error{"backend " + source.backend + " is not enabled"};
    auto usage_before = src_backend->driver->volume_usage(volumes_.ref_of(source));
    auto a = src_backend->driver->attach(volumes_.ref_of(source), AttachMode::file_or_block);
    if (!a) return a.error();
    AttachmentGuard guard(src_backend->driver.get(), *a);
    auto info = inspect_volume(guard.get().path);
    if (!info) return info.error();
    ExtentMap map;
    std::string extent_method = "extent map from the " + src_backend->driver->driver_name() + " driver";
    auto known = src_backend->driver->extent_map(volumes_.ref_of(source));
    if (known && *known && (*known)->size() == source.size) {
        map = **known;
    } else {
        auto found = discover_extents(*info);
        if (!found) return found.error();
        map = ExtentMap(source.size, found->map.data());
        extent_method = found->method;
    }
    auto base = peers_.base_url(plan.destination.host);
    if (!base) return base.error();

    ByteQueue queue(16 << 20);
    std::atomic<bool> cancel{false};
    Result<SendStats> sent = Error{"not sent"};
    std::thread producer([&] {
        SendOptions options;
        options.block_size = plan.plan.block_size;
        options.workers = 4;
        options.rate_limit = volumes_.config().volume_copy_bps_limit;
        options.cancel = &cancel;
        options.on_progress = [&](const Progress& p) {
            save_progress(m, p);
            if (cancelled(m.id)) cancel = true;
        };
        sent = send_extent_stream(*info, map, options, [&](const char* d, size_t n) { return queue.push(d, n); });
        queue.close(sent ? "" : sent.error().message);
    });
    HttpOptions http = peers_.options(std::chrono::milliseconds(0));
    http.stall_timeout = std::chrono::seconds(120);
    http.headers.push_back("X-Volmig-Stream-Token: " + m.stream_token);
    http.headers.push_back("Content-Type: application/octet-stream");
    http.body_source = [&](char* buf, size_t cap) { return queue.pop(buf, cap); };
    auto response = http_request("POST", *base + "/volmig/v1/streams/" + m.peer_volume_id, "", http);
    queue.close("the HTTP upload ended");
    producer.join();

    // The HTTP side first: when the upload fails the sender fails too (its queue closes), and the
    // receiver's account ("No space left", its validation error) is the one worth reporting.
    std::string failure;
    if (!response) failure = response.error().message;
    else if (response->status >= 400) failure = "the destination answered " + std::to_string(response->status) + ": " + error_message_from_body(response->body);
    if (failure.empty() && !sent) return Error{"reading the source failed: " + sent.error().message, sent.error().code, sent.error().kind};
    if (!failure.empty()) {
        // The receiver records why it stopped on the volume; it says more than a reset connection.
        auto shown = peers_.call(plan.destination.host, "GET", "/v3/volumes/" + m.peer_volume_id, nullptr, std::chrono::seconds(10));
        if (shown && (*shown)["volume"].value("volmig:error", nlohmann::json(nullptr)).is_string())
            failure += " (destination: " + (*shown)["volume"]["volmig:error"].get<std::string>() + ")";
        return Error{"streaming to " + plan.destination.host + " failed: " + failure, ErrorKind::io};
    }
    auto received = nlohmann::json::parse(response->body, nullptr, false);
    if (received.is_discarded() || !received.contains("received")) return Error{"the destination's answer to the stream is not understood"};
    const auto& r = received["received"];
    if (r.value("destination_checksum", "") != sent->checksum)
        return Error{"verification FAILED: the source sent " + sent->checksum + " but the destination holds " +
                         r.value("destination_checksum", std::string("nothing")),
                     ErrorKind::mismatch};
    auto after = peers_.call(plan.destination.host, "GET", "/v3/volumes/" + m.peer_volume_id, nullptr, std::chrono::seconds(10));
    report["transport"] = "extent stream to " + plan.destination.host;
    report["engine"] = "native";
    report["source"] = guard.get().path;
    report["destination"] = m.destination + " volume " + m.peer_volume_id;
    report["reason"] = plan.plan.summary();
    report["strategy"] = to_string(plan.plan.strategy);
    report["size"] = source.size;
    report["extent_method"] = extent_method;
    report["source_data_bytes"] = map.data_bytes();
    report["bytes"] = {{"read", sent->bytes_read},
                       {"sent", sent->wire_bytes},
                       {"written", r.value("bytes_written", 0ull)},
                       {"skipped", r.value("bytes_skipped", 0ull)},
                       {"zeroed", r.value("bytes_zeroed", 0ull)},
                       {"released", r.value("bytes_released", 0ull)}};
    report["bytes_read"] = sent->bytes_read;
    report["zero_method"] = r.value("zero_method", "");
    nlohmann::json src_alloc = {{"size", source.size}};
    if (usage_before && usage_before->allocated) {
        src_alloc["allocated"] = *usage_before->allocated;
        src_alloc["data_percent"] = std::round(usage_before->data_percent() * 100.0) / 100.0;
    }
    nlohmann::json dst_alloc = {{"size", source.size}};
    if (after) {
        dst_alloc["allocated"] = (*after)["volume"].value("volmig:allocated_bytes", nlohmann::json(nullptr));
        dst_alloc["data_percent"] = (*after)["volume"].value("volmig:data_percent", nlohmann::json(nullptr));
    }
    report["allocation"] = {{"source_before", src_alloc}, {"source_after", src_alloc}, {"destination_before", nullptr},
                            {"destination_after", dst_alloc}};
    report["verified"] = true;
    report["checksum"] = {{"source", sent->checksum}, {"destination", r.value("destination_checksum", "")}, {"match", true}};
    return success();
}

// ---------------------------------------------------------------------------- completion, rollback

Status MigrationService::finish(MigrationRecord& m) {
    m.state = "completing";
    (void)store_.save(m);
    set_volume_migration_status(m.volume_id, "completing");
    auto spec = parse_host_spec(m.destination);
    if (!spec) return spec.error();
    const bool local = peers_.is_local(spec->host);
    std::string cleanup_note;
    {
        std::lock_guard<std::mutex> state(volumes_.state_mutex());
        auto original = volumes_.get(m.volume_id);
        if (!original) return original.error();
        VolumeRecord r = *original;
        if (local) {
            auto target = volumes_.store().get(m.peer_volume_id);
            if (target && *target) {
                // The original id takes over the new storage; the temporary record goes.
                const VolumeRecord& t = **target;
                r.backend = t.backend;
                r.location = t.location;
                r.name_id = t.storage_id();
                r.size = t.size;
                Status s = volumes_.store().update(r);
                if (!s.ok()) return s;
                (void)volumes_.store().remove(t.id);
            }
        } else {
            auto original_view = nlohmann::json{{"id", r.id},
                                                {"name", r.name},
                                                {"description", r.description},
                                                {"metadata", parse_or_null(r.metadata)},
                                                {"created_at", r.created_at},
                                                {"project_id", r.project_id}};
            auto adopted = peers_.call(spec->host, "POST", "/v3/volumes/" + m.peer_volume_id + "/action",
                                       {{"volmig-adopt",
                                         {{"volume", original_view},
                                          {"stream_token", m.stream_token},
                                          {"migration", {{"id", m.id}, {"plan", parse_or_null(m.plan)}, {"report", parse_or_null(m.report)}}}}}});
            if (!adopted) {
                // Not yet adopted: the source is still complete and authoritative. Stay in
                // completing; a restart or retry drives it on.
                m.error = "completion is waiting for " + spec->host + ": " + adopted.error().message;
                (void)store_.save(m);
                return Error{m.error};
            }
            r.moved_to = m.destination;
            r.location.clear();
        }
        r.migration_status = "success";
        r.error.clear();
        if (r.status == "maintenance") r.status = "available";
        Status s = volumes_.store().update(r);
        if (!s.ok()) return s;
    }
    // Only now does the source's storage go.
    Backend* b = volumes_.backends().find(m.source_backend);
    if (b && !m.source_location.empty()) {
        Status removed = b->driver->remove(VolumeRef{m.source_storage_id, m.source_size, VolumeLocation{m.source_location}});
        if (!removed.ok()) cleanup_note = "the source storage could not be deleted: " + removed.error().message;
    }
    m.state = "success";
    m.error = cleanup_note;
    if (!cleanup_note.empty()) {
        auto report = parse_or_null(m.report);
        if (report.is_object()) report["cleanup"] = cleanup_note;
        m.report = report.dump();
    }
    (void)store_.save(m);
    if (log_) log_("migration " + m.id + ": success; volume " + m.volume_id + " is now on " + m.destination + (cleanup_note.empty() ? "" : " (" + cleanup_note + ")"));
    return success();
}

void MigrationService::delete_leftovers(const std::string& volume_id) {
    auto earlier = store_.failed_with_cleanup_pending(volume_id);
    if (!earlier) return;
    for (MigrationRecord m : *earlier) {
        Status s = delete_destination(m);
        if (log_)
            log_("migration " + m.id + ": leftover destination volume " + m.peer_volume_id + " on " + m.destination +
                 (s.ok() ? " deleted" : " still cannot be deleted: " + s.error().message));
        if (s.ok()) {
            m.report = nlohmann::json{{"cleanup_pending", false}}.dump();
            (void)store_.save(m);
        }
    }
}

Status MigrationService::delete_destination(const MigrationRecord& m) {
    if (m.peer_volume_id.empty()) return success();
    auto spec = parse_host_spec(m.destination);
    if (!spec) return spec.error();
    if (peers_.is_local(spec->host)) {
        Status s = volumes_.remove(m.peer_volume_id);
        return s.ok() || s.error().kind == ErrorKind::not_found ? success() : s;
    }
    auto r = peers_.call(spec->host, "DELETE", "/v3/volumes/" + m.peer_volume_id, nullptr, std::chrono::seconds(60));
    if (!r && r.error().kind != ErrorKind::not_found) return r.error();
    return success();
}

void MigrationService::roll_back(MigrationRecord& m, const std::string& why) {
    std::string message = why;
    Status removed = delete_destination(m);
    if (!removed.ok()) {
        message += "; the destination volume " + m.peer_volume_id + " on " + m.destination + " could not be deleted (" +
                   removed.error().message + "): the next migration of this volume deletes it, or delete it when its host is back";
        m.report = nlohmann::json{{"cleanup_pending", true}}.dump();
    }
    set_volume_migration_status(m.volume_id, "error", "migration to " + m.destination + " failed: " + message);
    m.state = "error";
    m.error = message;
    (void)store_.save(m);
    if (log_) log_("migration " + m.id + ": error, rolled back (source untouched): " + message);
}

Result<nlohmann::json> MigrationService::complete(const std::string& volume_id, const std::string& new_volume_id, bool error) {
    auto latest = store_.latest(volume_id, "source");
    if (!latest) return latest.take_error();
    if (!*latest || (*latest)->state != "awaiting_completion")
        return Error{"volume " + volume_id + " has no migration waiting for completion", ErrorKind::invalid};
    MigrationRecord m = **latest;
    if (new_volume_id != m.peer_volume_id)
        return Error{"new_volume " + new_volume_id + " is not the destination of this migration (" + m.peer_volume_id + ")", ErrorKind::invalid};
    if (error) {
        roll_back(m, "abandoned by os-migrate_volume_completion with error = true");
        return nlohmann::json{{"save_volume_id", volume_id}};
    }
    Status s = finish(m);
    if (!s.ok()) return s.error();
    return nlohmann::json{{"save_volume_id", volume_id}};
}

void MigrationService::resume_after_restart() {
    auto sources = store_.unfinished("source");
    if (sources) {
        for (MigrationRecord m : *sources) {
            if (m.state == "starting" || m.state == "migrating") {
                roll_back(m, "interrupted by a restart of the source daemon while " + m.state + ": rolled back, the source is untouched; retry");
            } else if (m.state == "completing") {
                if (log_) log_("migration " + m.id + ": resuming completion after a restart");
                std::lock_guard<std::mutex> lock(mutex_);
                auto running = std::make_unique<Running>();
                running->thread = std::thread(&MigrationService::run_job, this, m.id);
                jobs_[m.id] = std::move(running);
            }
        }
    }
    auto targets = store_.unfinished("target");
    if (targets) {
        for (MigrationRecord m : *targets) {
            if (m.state == "receiving" || m.state == "streaming") {
                m.state = "error";
                m.error = "the stream was cut by a restart of this daemon";
                (void)store_.save(m);
            } else if (m.state == "adopting") {
                auto adopted = volumes_.store().get(m.peer_volume_id);
                if (adopted && *adopted) {
                    (void)volumes_.store().remove(m.volume_id);
                    m.state = "success";
                    (void)store_.save(m);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------- target side

Result<nlohmann::json> MigrationService::prepare_receive(const std::string& volume_id, const nlohmann::json& args) {
    if (!args.is_object()) return Error{"volmig-prepare_receive takes an object", ErrorKind::invalid};
    for (const auto& [k, v] : args.items())
        if (k != "source_volume" && k != "source_host" && k != "strategy" && k != "block_size")
            return Error{"unknown field '" + k + "' in volmig-prepare_receive", ErrorKind::invalid};
    if (!args.contains("source_volume") || !args["source_volume"].is_string() || !args.contains("strategy") || !args["strategy"].is_string())
        return Error{"volmig-prepare_receive needs source_volume and strategy", ErrorKind::invalid};
    auto strategy = parse_strategy(args["strategy"].get<std::string>());
    if (!strategy || *strategy == Strategy::automatic) return Error{"strategy must be full, sparse or full+discard", ErrorKind::invalid};
    std::lock_guard<std::mutex> state(volumes_.state_mutex());
    auto volume = volumes_.get(volume_id);
    if (!volume) return volume.take_error();
    VolumeRecord r = *volume;
    if (r.status != "available" || migration_in_progress(r) || !r.moved_to.empty())
        return Error{"volume " + volume_id + " cannot receive a migration: it is " + r.status, ErrorKind::invalid};
    Backend* b = volumes_.backends().find(r.backend);
    if (!b) return Error{"backend " + r.backend + " is not enabled"};
    // Defence in depth, whatever the sender planned: never a sparse copy onto storage that does
    // not read as zeros, never a release on storage that does not promise zeros after it.
    const BackendFacts facts = b->driver->facts();
    if (*strategy == Strategy::sparse && !facts.zero_initialized)
        return Error{"refusing a sparse copy: backend " + r.backend + " does not guarantee zero-initialized volumes (" +
                         facts.zero_initialized_reason + ")",
                     ErrorKind::invalid};
    if (*strategy == Strategy::full_then_discard && !(facts.discard && facts.discard_zeroes)) strategy = Strategy::full;
    MigrationRecord m;
    m.id = new_id();
    m.role = "target";
    m.volume_id = volume_id;
    m.peer_volume_id = args["source_volume"];
    m.source_host = args.value("source_host", "");
    m.destination = volumes_.host_of(r);
    m.state = "receiving";
    m.stream_token = new_id();
    m.plan = nlohmann::json{{"strategy", to_string(*strategy)}, {"block_size", args.value("block_size", 4096ull)}}.dump();
    Status saved = store_.save(m);
    if (!saved.ok()) return saved.error();
    r.migration_status = "target:" + m.peer_volume_id;
    (void)volumes_.store().update(r);
    return nlohmann::json{{"stream_token", m.stream_token}, {"stream_path", "/volmig/v1/streams/" + volume_id}};
}

ApiResponse MigrationService::receive_stream(const ApiRequest& head, std::istream& body) {
    const DaemonConfig& config = volumes_.config();
    if (!config.noauth && head.header("x-auth-token") != config.auth_token) {
        if (log_) log_("authentication failed for a migration stream to " + head.path);
        return error_response(401, "authentication required: send X-Auth-Token with the daemon's auth_token");
    }
    const std::string volume_id = head.path.substr(std::string("/volmig/v1/streams/").size());
    MigrationRecord m;
    {
        // Claim the target: one stream per prepared volume, presented with its token.
        std::lock_guard<std::mutex> state(volumes_.state_mutex());
        auto latest = store_.latest(volume_id, "target");
        if (!latest) return error_response(latest.error());
        if (!*latest || (*latest)->state != "receiving")
            return error_response(409, "volume " + volume_id + " is not prepared to receive a migration stream (volmig-prepare_receive)" +
                                           (*latest && (*latest)->state == "streaming" ? ": a stream is already being received" : ""));
        m = **latest;
        if (head.header("x-volmig-stream-token") != m.stream_token)
            return error_response(403, "wrong or missing X-Volmig-Stream-Token for volume " + volume_id);
        m.state = "streaming";
        (void)store_.save(m);
    }
    auto volume = volumes_.get(volume_id);
    if (!volume) return error_response(volume.error());
    auto plan = parse_or_null(m.plan);
    auto strategy = parse_strategy(plan.value("strategy", "full"));

    auto fail = [&](const Error& e) {
        m.state = "error";
        m.error = e.message;
        (void)store_.save(m);
        std::lock_guard<std::mutex> state(volumes_.state_mutex());
        if (auto r = volumes_.get(volume_id)) {
            r->error = "receiving the migration stream failed: " + e.message;
            (void)volumes_.store().update(*r);
        }
        if (log_) log_("receiving into volume " + volume_id + " failed: " + e.message);
        return error_response(status_for(e), e.message);
    };
    Backend* b = volumes_.backends().find(volume->backend);
    if (!b) return fail(Error{"backend " + volume->backend + " is not enabled"});
    auto attached = b->driver->attach(volumes_.ref_of(*volume), AttachMode::file_or_block);
    if (!attached) return fail(attached.error());
    AttachmentGuard guard(b->driver.get(), *attached);
    auto info = inspect_volume(guard.get().path);
    if (!info) return fail(info.error());
    ReceiveOptions options;
    options.strategy = strategy ? *strategy : Strategy::full;
    options.writers = 4;
    options.verify = true;
    ByteSource source = [&body](char* buf, size_t cap) -> Result<size_t> {
        body.read(buf, static_cast<std::streamsize>(cap));
        if (body.bad()) return Error{"reading the stream from the connection failed", ErrorKind::invalid};
        return static_cast<size_t>(body.gcount());
    };
    auto received = receive_extent_stream(*info, options, source);
    if (!received) return fail(received.error());
    m.state = "received";
    m.report = nlohmann::json{{"bytes_written", received->bytes_written}, {"wire_bytes", received->wire_bytes}}.dump();
    (void)store_.save(m);
    ApiResponse r;
    r.body = {{"received",
               {{"volume_size", received->volume_size},
                {"wire_bytes", received->wire_bytes},
                {"bytes_written", received->bytes_written},
                {"bytes_skipped", received->bytes_skipped},
                {"bytes_zeroed", received->bytes_zeroed},
                {"bytes_released", received->bytes_released},
                {"zero_method", received->zero_method},
                {"source_checksum", received->source_checksum},
                {"destination_checksum", received->destination_checksum},
                {"verified", received->verified},
                {"seconds", received->seconds}}}};
    if (log_) log_("received volume " + volume_id + " from " + m.source_host + ": " + std::to_string(received->bytes_written) + " bytes written");
    return r;
}

Result<nlohmann::json> MigrationService::adopt(const std::string& temporary_id, const nlohmann::json& args) {
    if (!args.is_object() || !args.contains("volume") || !args["volume"].is_object() || !args["volume"].contains("id") ||
        !args["volume"]["id"].is_string())
        return Error{"volmig-adopt needs {\"volume\": {\"id\": ...}}", ErrorKind::invalid};
    const nlohmann::json& v = args["volume"];
    const std::string id = v["id"];
    std::lock_guard<std::mutex> state(volumes_.state_mutex());
    auto existing = volumes_.store().get(id);
    auto temporary = volumes_.store().get(temporary_id);
    if (!existing || !temporary) return Error{"volume database unavailable"};
    if (*existing) {
        if (*temporary && (*existing)->storage_id() != (*temporary)->storage_id())
            return Error{"volume id " + id + " already exists here", ErrorKind::invalid};
        (void)args;
        return nlohmann::json{{"volume_id", id}};  // adopted before: answer the same
    }
    if (!*temporary) return Error{"volume " + temporary_id + " could not be found", ErrorKind::not_found};
    auto latest = store_.latest(temporary_id, "target");
    if (!latest || !*latest || (*latest)->state != "received")
        return Error{"volume " + temporary_id + " has not received a complete, verified migration stream", ErrorKind::invalid};
    if (args.value("stream_token", "") != (*latest)->stream_token)
        return Error{"volmig-adopt must present the migration's stream token", ErrorKind::invalid};
    MigrationRecord m = **latest;
    m.state = "adopting";
    if (args.contains("migration") && args["migration"].is_object()) {
        // Keep the source's account of the migration here too, for `show` on this host.
        const auto& info = args["migration"];
        if (info.contains("plan")) m.plan = info["plan"].dump();
        if (info.contains("report")) m.report = info["report"].dump();
    }
    (void)store_.save(m);
    VolumeRecord r = **temporary;
    r.id = id;
    r.name_id = (*temporary)->storage_id();
    r.name = v.value("name", "");
    r.description = v.value("description", "");
    r.metadata = v.contains("metadata") && v["metadata"].is_object() ? v["metadata"].dump() : "{}";
    r.created_at = v.value("created_at", r.created_at);
    r.project_id = v.value("project_id", r.project_id);
    r.status = "available";
    r.migration_status = "success";
    r.error.clear();
    Status inserted = volumes_.store().insert(r);
    if (!inserted.ok()) return inserted.error();
    (void)volumes_.store().remove(temporary_id);
    m.state = "success";
    m.peer_volume_id = id;
    (void)store_.save(m);
    if (log_) log_("volume " + id + " arrived from " + m.source_host + " (storage " + r.name_id + ")");
    return nlohmann::json{{"volume_id", id}};
}

// ---------------------------------------------------------------------------- API wiring

nlohmann::json MigrationService::migration_view(const std::string& volume_id) {
    auto latest = store_.latest(volume_id, "source");
    if (latest && !*latest) latest = store_.arrived(volume_id);  // a volume that migrated here
    if (!latest || !*latest) return nullptr;
    const MigrationRecord& m = **latest;
    nlohmann::json progress = {{"bytes_done", m.bytes_done}, {"bytes_total", m.bytes_total}, {"rate_bytes_per_second", m.rate}};
    progress["eta_seconds"] = m.eta_seconds >= 0 ? nlohmann::json(m.eta_seconds) : nlohmann::json(nullptr);
    progress["percent"] = m.bytes_total ? std::round(1000.0 * static_cast<double>(m.bytes_done) / static_cast<double>(m.bytes_total)) / 10.0
                                        : (m.state == "success" ? 100.0 : 0.0);
    return {{"id", m.id},
            {"state", m.state},
            {"role", m.role},
            {"destination", m.destination},
            {"source_host", m.source_host},
            {"destination_volume_id", m.peer_volume_id},
            {"force_host_copy", m.force_full},
            {"plan", parse_or_null(m.plan)},
            {"progress", progress},
            {"report", parse_or_null(m.report)},
            {"error", m.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.error)},
            {"started_at", m.created_at},
            {"updated_at", m.updated_at}};
}

void MigrationService::install(RestApi& api, HttpServer& server) {
    api.add_action("os-migrate_volume", [this](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        if (!args.is_object()) return error_response(400, "os-migrate_volume takes an object: {\"host\": \"HOST@BACKEND#POOL\"}");
        MigrateRequest req;
        req.volume_id = id;
        for (const auto& [key, value] : args.items()) {
            if (key == "host") {
                if (!value.is_string()) return error_response(400, "host must be a string HOST@BACKEND#POOL");
                req.destination = value;
            } else if (key == "volmig:strategy") {
                auto st = value.is_string() ? parse_strategy(value.get<std::string>()) : Result<Strategy>(Error{"not a string"});
                if (!st) return error_response(400, "volmig:strategy must be auto, full, sparse or full+discard");
                req.strategy = *st;
            } else if (key == "force_host_copy" || key == "lock_volume" || key == "volmig:auto_complete") {
                auto b = boolean_value(value, key);
                if (!b) return error_response(b.error());
                (key == "force_host_copy" ? req.force_full : key == "lock_volume" ? req.lock_volume : req.auto_complete) = *b;
            } else {
                return error_response(400, "unknown field '" + key + "' in os-migrate_volume");
            }
        }
        if (req.destination.empty()) return error_response(400, "os-migrate_volume needs host (HOST@BACKEND#POOL)");
        auto started = start(req);
        if (!started) return error_response(started.error());
        ApiResponse r;
        r.status = 202;
        r.body = nullptr;
        return r;
    });
    api.add_action("os-migrate_volume_completion", [this](const ApiRequest&, const std::string&, const std::string& id,
                                                          const nlohmann::json& args) {
        if (!args.is_object() || !args.contains("new_volume") || !args["new_volume"].is_string())
            return error_response(400, "os-migrate_volume_completion needs new_volume");
        bool error = false;
        for (const auto& [key, value] : args.items()) {
            if (key == "new_volume") continue;
            if (key != "error") return error_response(400, "unknown field '" + key + "' in os-migrate_volume_completion");
            auto b = boolean_value(value, "error");
            if (!b) return error_response(b.error());
            error = *b;
        }
        auto done = complete(id, args["new_volume"], error);
        if (!done) return error_response(done.error());
        ApiResponse r;
        r.body = *done;
        return r;
    });
    api.add_action("volmig-prepare_receive", [this](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        auto ready = prepare_receive(id, args);
        if (!ready) return error_response(ready.error());
        ApiResponse r;
        r.body = *ready;
        return r;
    });
    api.add_action("volmig-adopt", [this](const ApiRequest&, const std::string&, const std::string& id, const nlohmann::json& args) {
        auto adopted = adopt(id, args);
        if (!adopted) return error_response(adopted.error());
        ApiResponse r;
        r.body = *adopted;
        return r;
    });
    api.add_view_decorator([this](const VolumeRecord& record, nlohmann::json& view) {
        view["volmig:migration"] = migration_view(record.id);
    });
    server.add_stream_route({"POST", "/volmig/v1/streams/", [this](const ApiRequest& head, std::istream& body) {
                                 return receive_stream(head, body);
                             }});
}

}  // namespace volmig
