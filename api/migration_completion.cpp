// The end of a migration on the source: the destination takes the volume over (locally, or by
// adoption on the peer, waiting while the peer cannot be reached), the old storage is released;
// or the rollback, which deletes the destination and leaves the source as it was.
#include <chrono>

#include "api/failpoint.hpp"
#include "api/json_input.hpp"
#include "api/migration.hpp"
#include "api/migration_steps.hpp"

namespace volmig {

namespace {

constexpr auto kCompletionRetryLongest = std::chrono::seconds(30);

}  // namespace

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
        if (Status removed = tx.remove(t.id); !removed.ok()) return removed;
        return run_completion_steps(tx, m);
    });
}

Status MigrationService::run_completion_steps(VolumeStore::Tx& tx, const MigrationRecord& m) {
    for (const auto& step : completion_steps_)
        if (Status s = step(tx, m); !s.ok()) return s;
    return success();
}

AdoptRequest MigrationService::adopt_request(const MigrationRecord& m) {
    AdoptRequest adopt;
    adopt.volume_id = m.volume_id;
    if (auto volume = volumes_.get(m.volume_id)) {
        adopt.name = volume->name;
        adopt.description = volume->description;
        auto metadata = parse_json_bounded(volume->metadata);
        adopt.metadata = metadata && metadata->is_object() ? *metadata : nlohmann::json::object();
        adopt.created_at = volume->created_at;
        adopt.project_id = volume->project_id;
    }
    adopt.stream_token = m.stream_token;
    adopt.plan = json_or_null(m.plan);
    nlohmann::json report = json_or_null(m.report);
    // A finish still to be done (the early handover's, recorded with `completing`) goes with it.
    if (report.is_object() && report.contains(kPendingFinish)) {
        const nlohmann::json& finish = report[kPendingFinish];
        if (finish.is_object() && finish.value("checksum", nlohmann::json()).is_string()) {
            adopt.finish_checksum = finish["checksum"];
            adopt.finish_volume_size = finish.value("volume_size", uint64_t{0});
        }
        report.erase(kPendingFinish);
        if (report.empty()) report = nullptr;  // nothing of the source's account yet: the destination keeps its own
    }
    adopt.report = report;
    return adopt;
}

Status MigrationService::record_handed_over(MigrationRecord& m) {
    return store_.transition(m, MigrationState::releasing, [&](VolumeStore::Tx& tx) {
        Status forwarding = tx.modify(m.volume_id, [&](VolumeRecord& r) {
            r.moved_to = m.destination;
            r.location.clear();
            r.migration_status = VolumeMigrationStatus::completing;
            r.error.clear();
            return success();
        });
        return forwarding.ok() ? run_completion_steps(tx, m) : forwarding;
    });
}

void MigrationService::hand_over_early(MigrationRecord& m, PeerClient& peer, const std::string& checksum, uint64_t volume_size,
                                       EarlyHandover& early) {
    nlohmann::json pending = {{kPendingFinish, {{"checksum", checksum}, {"volume_size", volume_size}}}};
    m.report = dump_json(pending);
    if (Status s = store_.transition(m, MigrationState::completing, volume_shows(m.volume_id, MigrationState::completing)); !s.ok()) {
        early.problem = "the completion could not be recorded: " + s.error().message;
        m.report.clear();
        return;
    }
    early.begun = true;
    failpoint("source.after_verification");
    auto adopted = peer.adopt(m.destination_volume_id, adopt_request(m));
    failpoint("source.during_adoption");
    if (adopted) {
        early.adopted = true;
        early.receipt = *adopted;
        return;
    }
    early.problem = adopted.error().message;
    early.refused = adopted.error().kind == ErrorKind::refused;
}

namespace {

// The verification that came with an adoption, in the report the source keeps.
void record_receipt(nlohmann::json& report, const StreamReceipt& r) {
    if (!report.is_object()) return;
    report.erase(kPendingFinish);
    report["verified"] = r.verified;
    report["checksum"] = {{"source", r.source_checksum}, {"destination", r.destination_checksum},
                          {"match", r.source_checksum == r.destination_checksum}};
    if (r.allocated_bytes && report.contains("allocation") && report["allocation"].is_object())
        report["allocation"]["destination_after"]["allocated"] = *r.allocated_bytes;
}

}  // namespace

Status MigrationService::hand_over_to_peer(MigrationRecord& m, PeerClient& peer) {
    auto backoff = std::chrono::milliseconds(500);
    while (true) {
        if (auto volume = volumes_.get(m.volume_id); !volume) return volume.error();
        const AdoptRequest adopt = adopt_request(m);
        auto answer = peer.adopt(m.destination_volume_id, adopt);
        failpoint("source.during_adoption");
        Status adopted = answer ? success() : Status(answer.error());
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
            if (!adopt.finish_checksum.empty()) {
                // The finish went with it: the report says what the receiver verified.
                nlohmann::json report = json_or_null(m.report);
                StreamReceipt verified;
                verified.verified = true;
                verified.source_checksum = verified.destination_checksum = adopt.finish_checksum;
                record_receipt(report, answer && *answer ? **answer : verified);
                m.report = report.is_object() && !report.empty() ? dump_json(report) : "";
            }
            return record_handed_over(m);
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
        auto report = json_or_null(m.report);
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
    // A queued migration made nothing on the destination: there is nothing to look for there.
    Status removed = m.state == MigrationState::queued ? success() : delete_destination(m);
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
    if (*shown && (*shown)->role == MigrationRole::source && (*shown)->state == MigrationState::queued) {
        MigrationRecord m = **shown;
        if (!error)
            return Error{"migration " + m.id + " of volume " + volume_id + " is queued (nothing copied yet): it cannot be completed; "
                         "error = true abandons it",
                         ErrorKind::invalid};
        if (!new_volume_id.empty())
            return Error{"migration " + m.id + " is queued and has no destination volume yet: abandon it with new_volume \"\"",
                         ErrorKind::invalid};
        return abandon_queued(m);
    }
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
