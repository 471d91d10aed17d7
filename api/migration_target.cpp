// The receiving side of a migration: prepare a new volume as a target, apply the extent stream,
// give the volume the source's id (see migration.hpp and DESIGN.md "Wire format").
#include <algorithm>

#include <Poco/UUIDGenerator.h>

#include "api/failpoint.hpp"
#include "api/json_input.hpp"
#include "api/migration.hpp"
#include "copy/extent_stream.hpp"
#include "copy/stream_slices.hpp"

namespace volmig {

namespace {

Status unknown_fields(const nlohmann::json& args, std::initializer_list<const char*> known, const std::string& where) {
    for (const auto& [key, value] : args.items()) {
        bool ok = false;
        for (const char* k : known) ok = ok || key == k;
        if (!ok) return Error{"unknown field '" + key.substr(0, 64) + "' in " + where, ErrorKind::invalid};
    }
    return success();
}

bool plain_text(const std::string& s) { return s.find('\0') == std::string::npos; }

struct PrepareArgs {
    std::string source_volume, source_host;
    Strategy strategy = Strategy::full;
    uint64_t block_size = 4096;
    unsigned streams = 1;      // stream v2 offer
    bool zstd = false;
    uint64_t data_bytes = 0;
};

Result<PrepareArgs> parse_prepare_args(const nlohmann::json& args) {
    JsonFields f(args, "volmig-prepare_receive");
    if (!f.ok()) return Error{f.problem(), ErrorKind::invalid};
    if (Status s = unknown_fields(args, {"source_volume", "source_host", "strategy", "block_size", "streams", "compression", "data_bytes"},
                                  "volmig-prepare_receive");
        !s.ok())
        return s.error();
    PrepareArgs a;
    a.source_volume = f.text("source_volume");
    a.source_host = f.optional_text("source_host").value_or("");
    const std::string strategy = f.text("strategy");
    a.block_size = f.optional_whole("block_size").value_or(4096);
    a.streams = static_cast<unsigned>(std::min<uint64_t>(f.optional_whole("streams").value_or(1), 1024));
    a.data_bytes = f.optional_whole("data_bytes").value_or(0);
    if (!f.ok()) return Error{f.problem(), ErrorKind::invalid};
    if (args.contains("compression")) {
        const nlohmann::json& offered = args["compression"];
        if (!offered.is_array() || offered.size() > 8)
            return Error{"volmig-prepare_receive.compression must be a list of method names, e.g. [\"zstd\"]", ErrorKind::invalid};
        for (const auto& method : offered) {
            if (!method.is_string()) return Error{"volmig-prepare_receive.compression must list names", ErrorKind::invalid};
            a.zstd = a.zstd || method.get<std::string>() == "zstd";  // unknown methods are not chosen
        }
    }
    if (a.streams == 0) return Error{"volmig-prepare_receive.streams must be at least 1", ErrorKind::invalid};
    if (!is_volume_id(a.source_volume)) return Error{"volmig-prepare_receive.source_volume is not a volume id", ErrorKind::invalid};
    if (a.source_host.size() > 255 || !plain_text(a.source_host))
        return Error{"volmig-prepare_receive.source_host is not a host name", ErrorKind::invalid};
    auto s = parse_strategy(strategy);
    if (!s || *s == Strategy::automatic)
        return Error{"volmig-prepare_receive.strategy must be full, sparse or full+discard", ErrorKind::invalid};
    a.strategy = *s;
    if (a.block_size < 512 || a.block_size > (16u << 20) || (a.block_size & (a.block_size - 1)))
        return Error{"volmig-prepare_receive.block_size must be a power of two from 512 to 16M", ErrorKind::invalid};
    return a;
}

struct AdoptArgs {
    std::string id, name, description, created_at, project_id, stream_token;
    nlohmann::json metadata = nlohmann::json::object();
    nlohmann::json plan = nullptr, report = nullptr;
    nlohmann::json finish = nullptr;  // {"checksum", "volume_size"}: verify the whole volume first
};

// Every field is checked before anything changes: a malformed adoption changes nothing.
Result<AdoptArgs> parse_adopt_args(const nlohmann::json& args) {
    JsonFields f(args, "volmig-adopt");
    if (!f.ok()) return Error{f.problem(), ErrorKind::invalid};
    if (Status s = unknown_fields(args, {"volume", "stream_token", "migration", "finish"}, "volmig-adopt"); !s.ok()) return s.error();
    AdoptArgs a;
    if (f.has("finish")) {
        a.finish = f.object("finish");
        if (a.finish.is_object())
            if (Status s = unknown_fields(a.finish, {"checksum", "volume_size"}, "volmig-adopt.finish"); !s.ok()) return s.error();
    }
    const nlohmann::json& v = f.object("volume");
    a.stream_token = f.text("stream_token");
    if (f.has("migration")) {
        const nlohmann::json& info = f.object("migration");
        if (info.contains("plan")) a.plan = info["plan"];
        if (info.contains("report")) a.report = info["report"];
    }
    if (!f.ok()) return Error{f.problem(), ErrorKind::invalid};
    JsonFields vf(v, "volmig-adopt.volume");
    if (Status s = unknown_fields(v, {"id", "name", "description", "metadata", "created_at", "project_id"}, "volmig-adopt.volume"); !s.ok())
        return s.error();
    a.id = vf.text("id");
    a.name = vf.optional_text("name").value_or("");
    a.description = vf.optional_text("description").value_or("");
    a.created_at = vf.optional_text("created_at").value_or("");
    a.project_id = vf.optional_text("project_id").value_or("");
    if (vf.has("metadata")) a.metadata = vf.object("metadata");
    if (!vf.ok()) return Error{vf.problem(), ErrorKind::invalid};
    if (!is_volume_id(a.id)) return Error{"volmig-adopt.volume.id is not a volume id", ErrorKind::invalid};
    for (const auto& [key, value] : a.metadata.items())
        if (!value.is_string()) return Error{"volmig-adopt.volume.metadata values must be strings", ErrorKind::invalid};
    for (const std::string* text : {&a.name, &a.description, &a.created_at, &a.project_id})
        if (!plain_text(*text) || text->size() > 65536) return Error{"volmig-adopt.volume has a text field that is not plain text", ErrorKind::invalid};
    return a;
}

}  // namespace

Status MigrationService::check_prepare_args(const nlohmann::json& args) {
    auto parsed = parse_prepare_args(args);
    return parsed ? success() : Status(parsed.error());
}

Result<nlohmann::json> MigrationService::prepare_receive(const std::string& volume_id, const nlohmann::json& json) {
    auto args = parse_prepare_args(json);
    if (!args) return args.take_error();
    // The same source asking again (its first answer lost) gets the same answer.
    auto active = store_.active_target(volume_id);
    if (!active) return active.take_error();
    if (*active) {
        const MigrationRecord& t = **active;
        if (t.state == MigrationState::receiving && t.volume_id == args->source_volume && t.strategy) {
            auto terms = checkpoints_.terms(t.id);
            if (!terms) return terms.take_error();
            nlohmann::json again = {{"stream_token", t.stream_token}, {"strategy", to_string(*t.strategy)}, {"stream_path", "/volmig/v1/streams/" + volume_id}};
            if (*terms) {
                again["streams"] = (*terms)->streams;
                again["compression"] = (*terms)->compression ? "zstd" : "none";
                again["checkpoint_bytes"] = (*terms)->checkpoint_bytes;
            }
            return again;
        }
        return Error{"volume " + volume_id + " is already the target of migration " + t.id + " (" + to_string(t.state) + ")", ErrorKind::conflict};
    }
    auto volume = volumes_.get(volume_id);
    if (!volume) return volume.take_error();
    Backend* b = volumes_.backends().find(volume->backend);
    if (!b) return Error{"backend " + volume->backend + " is not enabled"};
    // Defence in depth, whatever the sender planned: never a sparse copy onto storage that does
    // not read as zeros, never a release on storage that does not promise zeros after it.
    const BackendFacts facts = b->driver->facts();
    Strategy strategy = args->strategy;
    std::string reason;
    if (strategy == Strategy::sparse && !facts.zero_initialized)
        return Error{"refusing a sparse copy: backend " + volume->backend + " does not guarantee zero-initialized volumes (" +
                         facts.zero_initialized_reason + ")",
                     ErrorKind::invalid};
    if (strategy == Strategy::full_then_discard && !(facts.discard && facts.discard_zeroes)) {
        strategy = Strategy::full;
        reason = "backend " + volume->backend + " cannot release ranges so that they read as zeros: zero ranges are written";
    }
    MigrationRecord m;
    m.id = Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
    m.role = MigrationRole::target;
    m.state = MigrationState::receiving;
    m.volume_id = args->source_volume;
    m.destination_volume_id = volume_id;
    m.source_host = args->source_host;
    m.destination = volumes_.host_of(*volume);
    m.strategy = strategy;
    m.block_size = args->block_size;
    m.stream_token = Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
    // Stream v2: as many slice streams as offered, leaving room on this daemon's per-client cap
    // for the calls beside them; zstd when offered; a checkpoint grid from the data's size.
    StreamTerms terms;
    const unsigned cap = volumes_.config().http.max_connections_per_client;
    terms.streams = std::max(1u, std::min(args->streams, cap > 2 ? cap - 2 : 1u));
    terms.compression = args->zstd;
    terms.checkpoint_bytes = choose_checkpoint_bytes(args->data_bytes ? args->data_bytes : volume->size, args->block_size);
    Status saved = store_.insert(m, [&](VolumeStore::Tx& tx) -> Status {
        if (Status s = StreamCheckpoints::save_terms(tx, m.id, terms); !s.ok()) return s;
        // Checked again inside the transaction: of two preparations at once, one wins.
        auto other = store_.active_target(volume_id);
        if (!other) return other.error();
        if (*other && (*other)->id != m.id)
            return Error{"volume " + volume_id + " is already the target of migration " + (*other)->id, ErrorKind::conflict};
        return tx.modify(volume_id, [&](VolumeRecord& r) -> Status {
            // A target whose earlier stream failed may be prepared again.
            const bool busy = r.in_migration() && r.migration_status != VolumeMigrationStatus::target;
            auto used = volumes_.in_use(r);  // a connection someone opened to the new volume
            if (!used) return used.error();
            if (r.status != VolumeStatus::available || busy || *used || r.is_forwarding() || !r.attached_path.empty())
                return Error{"volume " + volume_id + " cannot receive a migration: it is " + to_string(r.status) +
                                 (r.in_migration() ? " and in a migration (" + r.migration_status_text() + ")" : "") +
                                 (*used ? "; it " + **used : ""),
                             ErrorKind::conflict};
            r.migration_status = VolumeMigrationStatus::target;
            r.migration_source = args->source_volume;
            return success();
        });
    });
    if (!saved.ok()) return saved.error();
    failpoint("target.after_prepare");
    nlohmann::json answer = {{"stream_token", m.stream_token},
                             {"strategy", to_string(strategy)},
                             {"stream_path", "/volmig/v1/streams/" + volume_id},
                             {"streams", terms.streams},
                             {"compression", terms.compression ? "zstd" : "none"},
                             {"checkpoint_bytes", terms.checkpoint_bytes}};
    if (!reason.empty()) answer["reason"] = reason;
    return answer;
}

Result<nlohmann::json> MigrationService::adopt(const std::string& temporary_id, const nlohmann::json& json) {
    auto args = parse_adopt_args(json);
    if (!args) return args.take_error();
    auto found = store_.target_with_token(temporary_id, args->stream_token);
    if (!found) return found.take_error();
    if (!*found) return Error{"volmig-adopt must present the stream token of a migration into volume " + temporary_id, ErrorKind::invalid};
    MigrationRecord m = **found;
    if (m.volume_id != args->id)
        return Error{"the migration into volume " + temporary_id + " moves volume " + m.volume_id + ", not " + args->id, ErrorKind::invalid};
    if (m.state == MigrationState::success) return nlohmann::json{{"volume_id", args->id}};  // adopted before: the same answer
    // With "finish", the whole volume's verification first (sent as the source's last bytes
    // leave: it waits for the slice streams to end); the adoption only if it holds what was sent.
    nlohmann::json finished;
    if (!args->finish.is_null()) {
        auto finish = parse_finish_args(args->finish, "volmig-adopt.finish", temporary_id);
        if (!finish) return finish.take_error();
        auto receipt = finish_target(m, *finish, FinishWaits::for_slices);
        if (!receipt) return receipt.take_error();
        finished = std::move(*receipt);
    }
    if (m.state != MigrationState::received)
        return Error{"volume " + temporary_id + " has not received a complete, verified migration stream (its migration is " +
                         to_string(m.state) + ")",
                     ErrorKind::conflict};
    // The source's account of the migration, for `show` here.
    if (!args->plan.is_null()) m.plan = dump_json(args->plan);
    if (!args->report.is_null()) m.report = dump_json(args->report);
    std::string storage;
    Status adopted = store_.transition(m, MigrationState::success, [&](VolumeStore::Tx& tx) -> Status {
        auto temporary = tx.get(temporary_id);
        if (!temporary) return temporary.error();
        if (!*temporary) return Error{"volume " + temporary_id + " could not be found", ErrorKind::not_found};
        auto existing = tx.get(args->id);
        if (!existing) return existing.error();
        if (*existing) {
            // A volume coming back to a host it left replaces the record that forwarded to it.
            if (!(*existing)->is_forwarding()) return Error{"volume id " + args->id + " already exists here", ErrorKind::conflict};
            if (Status s = tx.remove(args->id); !s.ok()) return s;
        }
        VolumeRecord r = **temporary;
        r.id = args->id;
        r.name_id = (*temporary)->storage_id();
        r.name = args->name;
        r.description = args->description;
        r.metadata = dump_json(args->metadata);
        if (!args->created_at.empty()) r.created_at = args->created_at;
        r.project_id = args->project_id;
        r.status = VolumeStatus::available;
        r.migration_status = VolumeMigrationStatus::success;
        r.migration_source.clear();
        r.error.clear();
        r.attached_path.clear();
        r.moved_to.clear();
        storage = r.name_id;
        if (Status s = tx.insert(r); !s.ok()) return s;
        failpoint("target.during_adoption");
        return tx.remove(temporary_id);
    });
    if (!adopted.ok()) return adopted.error();
    failpoint("target.after_adoption");
    if (log_) log_("volume " + args->id + " arrived from " + m.source_host + " (storage " + storage + ")");
    nlohmann::json answer = {{"volume_id", args->id}};
    if (finished.is_object() && finished.contains("received")) answer["received"] = finished["received"];
    return answer;
}

Status MigrationService::delete_guard(const VolumeRecord& volume) {
    if (!volume.attached_path.empty())
        return Error{"volume " + volume.id + " is attached for a copy (a migration is reading or writing it): retry when it ends",
                     ErrorKind::invalid};
    if (volume.migration_status != VolumeMigrationStatus::target) return success();
    // A target deleted before its adoption (its migration rolled back): its record says so.
    auto active = store_.active_target(volume.id);
    if (!active) return active.error();
    if (!*active) return success();
    MigrationRecord m = **active;
    m.error = "the target volume was deleted";
    return store_.transition(m, MigrationState::error);
}

void MigrationService::resume_targets() {
    auto targets = store_.unfinished(MigrationRole::target);
    if (!targets) {
        if (log_) log_("resume: " + targets.error().message);
        return;
    }
    for (MigrationRecord m : *targets) {
        Status s;
        if (m.state == MigrationState::streaming) {
            // Its verified ranges are kept (stream_checkpoints): the source resumes within its
            // grace period, or rolls back and deletes the volume.
            if (log_) log_("resume: migration " + m.id + ": its stream was cut by a restart; waiting for the source to resume it");
            s = store_.transition(m, MigrationState::receiving);
        } else if (m.state == MigrationState::adopting) {
            // Written by volmig 0.1, which adopted in two steps: finished if the new record exists.
            auto adopted = volumes_.store().get(m.volume_id);
            const bool done = adopted && *adopted && (*adopted)->storage_id() == m.destination_volume_id;
            s = store_.transition(m, done ? MigrationState::success : MigrationState::received, [&](VolumeStore::Tx& tx) {
                return done ? tx.remove(m.destination_volume_id) : success();
            });
        }
        if (!s.ok() && log_) log_("resume: migration " + m.id + ": " + s.error().message);
    }
}

}  // namespace volmig
