// The receiving side of the extent stream (DESIGN.md "The extent stream"): slice streams (and
// whole v1 streams) on POST /volmig/v1/streams/{volume_id}, the verified ranges for a resume
// (volmig-stream_resume_point), and the one verification of the whole volume
// (volmig-finish_receive). Every call presents the target's stream token; a token of another
// migration is refused (403) and changes nothing.
#include <algorithm>

#include "api/failpoint.hpp"
#include "api/json_input.hpp"
#include "api/migration.hpp"
#include "api/migration_steps.hpp"
#include "copy/extent_stream.hpp"

namespace volmig {

namespace {

int status_for(const Error& e) {
    switch (e.kind) {
        case ErrorKind::invalid:
        case ErrorKind::refused:
        case ErrorKind::mismatch: return 400;  // the stream itself is wrong: the sender's fault
        case ErrorKind::not_found: return 404;
        case ErrorKind::conflict: return 409;
        case ErrorKind::io: return e.code == ENOSPC ? 507 : 500;
        default: return 500;
    }
}

// A stream that ended because its connection did: the sender may resume it.
bool cut_short(const Error& e, bool connection_lost) {
    return connection_lost || e.kind == ErrorKind::cancelled || e.message.find("truncated") != std::string::npos;
}

// {"stream_token": "...", ...} of a target call: the token, or why the body is wrong.
Result<std::string> token_of(const nlohmann::json& args, const char* action, std::initializer_list<const char*> also) {
    if (!args.is_object()) return Error{std::string(action) + " takes an object with stream_token", ErrorKind::invalid};
    for (const auto& [key, value] : args.items()) {
        bool known = key == "stream_token";
        for (const char* k : also) known = known || key == k;
        if (!known) return Error{"unknown field '" + key.substr(0, 64) + "' in " + action, ErrorKind::invalid};
    }
    if (!args.contains("stream_token") || !args["stream_token"].is_string() || args["stream_token"].get<std::string>().size() > 128)
        return Error{std::string(action) + " needs the migration's stream_token", ErrorKind::invalid};
    return args["stream_token"].get<std::string>();
}

nlohmann::json receipt_json(const ReceiveStats& r, Strategy strategy) {
    return {{"received",
             {{"volume_size", r.volume_size},
              {"wire_bytes", r.wire_bytes},
              {"bytes_written", r.bytes_written},
              {"bytes_skipped", r.bytes_skipped},
              {"bytes_zeroed", r.bytes_zeroed},
              {"bytes_released", r.bytes_released},
              {"zero_method", r.zero_method},
              {"strategy", to_string(strategy)},
              {"source_checksum", r.source_checksum},
              {"destination_checksum", r.destination_checksum},
              {"verified", r.verified},
              {"seconds", r.seconds}}}};
}

}  // namespace

Result<MigrationService::TargetSession*> MigrationService::open_target_session(const MigrationRecord& m, const std::string& volume_id) {
    std::lock_guard<std::mutex> lock(targets_mutex_);
    auto it = target_sessions_.find(m.id);
    if (it == target_sessions_.end()) {
        auto volume = volumes_.get(volume_id);
        if (!volume) return volume.take_error();
        auto attached = volumes_.attach_for_copy(*volume);
        if (!attached) return attached.take_error();
        auto shared = std::make_shared<CopyAttachment>(std::move(*attached));
        auto info = inspect_volume(shared->path());
        if (!info) return info.take_error();
        it = target_sessions_.emplace(m.id, TargetSession{shared, *info, nullptr, 0, {}, 0, 0}).first;
    }
    ++it->second.users;
    return &it->second;
}

void MigrationService::close_target_session(const std::string& migration_id, const StreamSlice* slice) {
    std::lock_guard<std::mutex> lock(targets_mutex_);
    auto it = target_sessions_.find(migration_id);
    if (it == target_sessions_.end()) return;
    auto& live = it->second.live;
    if (slice)
        live.erase(std::remove_if(live.begin(), live.end(), [&](const StreamSlice& s) { return s.start == slice->start && s.end == slice->end; }),
                   live.end());
    if (--it->second.users == 0) target_sessions_.erase(it);  // the last stream detaches the volume
    targets_changed_.notify_all();
}

// Under no lock: claims the slice for this connection and answers the sum of its verified
// ranges before `from`. Refusals here change nothing (409 another live connection overlaps,
// 400 a `from` beyond the verified ranges).
Result<ContentChecksum> MigrationService::accept_slice(MigrationRecord& m, const StreamHeader& h, const StreamTerms& terms) {
    std::lock_guard<std::mutex> lock(targets_mutex_);
    TargetSession& session = target_sessions_.at(m.id);
    auto current = store_.get(m.id);
    if (!current) return current.take_error();
    if (!*current || ((*current)->state != MigrationState::receiving && (*current)->state != MigrationState::streaming))
        return Error{"volume " + m.destination_volume_id + " is no longer prepared to receive this migration", ErrorKind::conflict};
    m = **current;
    const StreamSlice& s = h.slice;
    if (h.version == 1) {
        if (m.state != MigrationState::receiving || !session.live.empty())
            return Error{"volume " + m.destination_volume_id + " is not prepared to receive a migration stream: a stream is already being received",
                         ErrorKind::conflict};
    } else {
        for (const StreamSlice& other : session.live)
            if (s.start < other.end && other.start < s.end)
                return Error{"slice [" + std::to_string(s.start) + ", " + std::to_string(s.end) + ") of volume " + m.destination_volume_id +
                                 " is already being received on another connection",
                             ErrorKind::conflict};
        auto verified = checkpoints_.ranges(m.id);
        if (!verified) return verified.take_error();
        ContentChecksum before;
        for (uint64_t k = s.start / terms.checkpoint_bytes; k * terms.checkpoint_bytes < s.from; ++k) {
            auto it = verified->find(k);
            if (it == verified->end())
                return Error{"the stream resumes at offset " + std::to_string(s.from) + " but range " + std::to_string(k) + " (offset " +
                                 std::to_string(k * terms.checkpoint_bytes) + ") is not verified here: ask volmig-stream_resume_point",
                             ErrorKind::invalid};
            before.merge(it->second);
        }
        const uint64_t last = (s.end + terms.checkpoint_bytes - 1) / terms.checkpoint_bytes;
        if (Status f = checkpoints_.forget(m.id, s.from / terms.checkpoint_bytes, last); !f.ok()) return f.error();
        if (m.state == MigrationState::receiving)
            if (Status t = store_.transition(m, MigrationState::streaming); !t.ok()) return t.error().with_kind(ErrorKind::conflict);
        session.live.push_back(s);
        return before;
    }
    if (Status t = store_.transition(m, MigrationState::streaming); !t.ok()) return t.error().with_kind(ErrorKind::conflict);
    session.live.push_back(s);
    return ContentChecksum();
}

// The HTTP server has checked the daemon's token (RestApi::authorize) before this route sees the
// request; the stream token below is the migration's own.
ApiResponse MigrationService::receive_stream(const ApiRequest& head, std::istream& body) {
    const std::string volume_id = head.path.substr(std::string("/volmig/v1/streams/").size());
    if (!is_volume_id(volume_id)) return error_response(404, "no such migration target");
    auto active = store_.active_target(volume_id);
    if (!active) return error_response(active.error());
    if (!*active || ((*active)->state != MigrationState::receiving && (*active)->state != MigrationState::streaming))
        return error_response(409, "volume " + volume_id + " is not prepared to receive a migration stream (volmig-prepare_receive)");
    MigrationRecord m = **active;
    if (head.header("x-volmig-stream-token") != m.stream_token)
        return error_response(403, "wrong or missing X-Volmig-Stream-Token for volume " + volume_id);
    if (!m.strategy) return error_response(500, "the migration record of volume " + volume_id + " holds no strategy to apply");
    auto terms = checkpoints_.terms(m.id);
    if (!terms) return error_response(terms.error());
    const StreamTerms t = terms->value_or(StreamTerms{64ull << 20, false, 1});

    // A failure that is the stream's own (malformed, does not verify, no space) ends the
    // target; a cut one leaves it to be resumed.
    auto fail = [&](const Error& e) {
        auto now = store_.get(m.id);
        if (now && *now) m = **now;
        m.error = e.message;
        Status s = store_.transition(m, MigrationState::error, [&](VolumeStore::Tx& tx) {
            Status changed = tx.modify(volume_id, [&](VolumeRecord& r) {
                r.error = "receiving the migration stream failed: " + e.message;
                return success();
            });
            return changed.ok() || changed.error().kind == ErrorKind::not_found ? success() : changed;
        });
        if (!s.ok() && log_) log_("receiving into volume " + volume_id + ": the failure could not be recorded: " + s.error().message);
        if (log_) log_("receiving into volume " + volume_id + " failed: " + e.message);
        return error_response(status_for(e), volumes_.redact(e.message));
    };
    auto session = open_target_session(m, volume_id);
    if (!session) return fail(session.error());
    const VolumeInfo info = (*session)->info;

    ReceiveOptions options;
    {
        // One opening of the destination for all the migration's slices (a block device is held
        // exclusively while written).
        std::unique_lock<std::mutex> lock(targets_mutex_);
        if (!(*session)->target) {
            auto opened = open_receive_target(info, IoMode::automatic, m.block_size);
            if (!opened) {
                lock.unlock();
                close_target_session(m.id, nullptr);
                return fail(opened.error());
            }
            (*session)->target = *opened;
        }
        options.target = (*session)->target;
    }
    options.strategy = *m.strategy;
    options.writers = std::max(1u, 4 / t.streams);
    options.verify = true;
    options.checkpoint_bytes = t.checkpoint_bytes;
    options.allow_compressed = t.compression;
    std::optional<StreamHeader> claimed;
    bool refused = false;
    options.accept = [&](const StreamHeader& h) -> Result<ContentChecksum> {
        if (h.version == 2 && !*terms) return Error{"volume " + volume_id + " was prepared for a v1 stream", ErrorKind::invalid};
        auto before = accept_slice(m, h, t);
        if (!before) refused = true;
        else claimed = h;
        return before;
    };
    options.on_ranges = [&](const std::vector<std::pair<uint64_t, ContentChecksum>>& ranges) -> Status {
        if (!claimed || claimed->version != 2) return success();  // a v1 stream is verified whole, at its end
        return checkpoints_.record(m.id, ranges);
    };
    uint64_t expected = 0;
    const std::string announced = head.header("x-volmig-data-bytes");
    if (!announced.empty() && announced.size() < 20 && announced.find_first_not_of("0123456789") == std::string::npos)
        expected = std::stoull(announced);
    uint64_t arrived = 0;
    bool connection_lost = false;
    ByteSource source = [&](char* buf, size_t cap) -> Result<size_t> {
        body.read(buf, static_cast<std::streamsize>(cap));
        if (body.bad()) {
            connection_lost = true;
            return Error{"reading the stream from the connection failed", ErrorKind::invalid};
        }
        const auto n = static_cast<size_t>(body.gcount());
        if (expected && arrived < expected / 2 && arrived + n >= expected / 2) failpoint("target.mid_stream");
        arrived += n;
        return n;
    };
    auto received = receive_extent_stream(info, options, source);
    close_target_session(m.id, claimed ? &claimed->slice : nullptr);
    if (!received) {
        const Error& e = received.error();
        if (refused) return error_response(status_for(e), volumes_.redact(e.message));  // changes nothing
        if (claimed && claimed->version == 2 && cut_short(e, connection_lost)) {
            if (log_) log_("receiving into volume " + volume_id + ": a slice stream was cut (" + e.message + "); it may resume");
            return error_response(status_for(e), volumes_.redact(e.message));
        }
        return fail(e);
    }
    if (received->header.version == 2) {
        std::lock_guard<std::mutex> lock(targets_mutex_);
        return ok_response(receipt_json(*received, *m.strategy));
    }
    failpoint("target.after_verification");
    m.report = dump_json({{"bytes_written", received->bytes_written}, {"wire_bytes", received->wire_bytes}});
    if (Status s = store_.transition(m, MigrationState::received); !s.ok()) return fail(s.error());
    if (log_) log_("received volume " + volume_id + " from " + m.source_host + ": " + std::to_string(received->bytes_written) + " bytes written");
    return ok_response(receipt_json(*received, *m.strategy));
}

ApiResponse MigrationService::resume_point(const std::string& volume_id, const nlohmann::json& args) {
    auto token = token_of(args, "volmig-stream_resume_point", {});
    if (!token) return error_response(token.error());
    auto found = store_.target_with_token(volume_id, *token);
    if (!found) return error_response(found.error());
    if (!*found) return error_response(403, "volmig-stream_resume_point must present the stream token of a migration into volume " + volume_id);
    const MigrationRecord& m = **found;
    if (m.state != MigrationState::receiving && m.state != MigrationState::streaming)
        return error_response(409, "the migration into volume " + volume_id + " is " + to_string(m.state) + ": there is nothing to resume");
    auto terms = checkpoints_.terms(m.id);
    if (!terms) return error_response(terms.error());
    if (!*terms) return error_response(409, "the migration into volume " + volume_id + " was prepared for a v1 stream, which does not resume");
    auto volume = volumes_.get(volume_id);
    if (!volume) return error_response(volume.error());
    auto ranges = checkpoints_.ranges(m.id);
    if (!ranges) return error_response(ranges.error());
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [k, sum] : *ranges) list.push_back({k, sum.partial()});
    return ok_response({{"resume",
                         {{"source_volume", m.volume_id},
                          {"destination_volume", volume_id},
                          {"volume_size", volume->size},
                          {"checkpoint_bytes", (*terms)->checkpoint_bytes},
                          {"ranges", list}}}});
}

ApiResponse MigrationService::finish_receive(const std::string& volume_id, const nlohmann::json& args) {
    auto token = token_of(args, "volmig-finish_receive", {"checksum", "volume_size"});
    if (!token) return error_response(token.error());
    auto found = store_.target_with_token(volume_id, *token);
    if (!found) return error_response(found.error());
    if (!*found) return error_response(403, "volmig-finish_receive must present the stream token of a migration into volume " + volume_id);
    MigrationRecord m = **found;
    auto finish = parse_finish_args(args, "volmig-finish_receive", volume_id);
    if (!finish) return error_response(finish.error());
    auto receipt = finish_target(m, *finish, FinishWaits::no);
    return receipt ? ok_response(*receipt) : error_response(receipt.error());
}

Result<MigrationService::FinishArgs> MigrationService::parse_finish_args(const nlohmann::json& args, const std::string& where,
                                                                        const std::string& volume_id) {
    if (!args.is_object() || !args.contains("checksum") || !args["checksum"].is_string() || args["checksum"].get<std::string>().size() > 128)
        return Error{where + " needs the source's checksum of the volume", ErrorKind::invalid};
    auto volume = volumes_.get(volume_id);
    if (!volume) return volume.take_error();
    FinishArgs f{args["checksum"], volume->size};  // the stream's size: the source's, at most the volume's
    if (args.contains("volume_size")) {
        const nlohmann::json& size = args["volume_size"];
        if (!size.is_number_unsigned() || size.get<uint64_t>() == 0 || size.get<uint64_t>() > volume->size)
            return Error{where + ".volume_size must be 1 to the volume's " + std::to_string(volume->size) + " bytes", ErrorKind::invalid};
        f.volume_size = size.get<uint64_t>();
    }
    return f;
}

Result<nlohmann::json> MigrationService::finish_target(MigrationRecord& m, const FinishArgs& f, FinishWaits waits) {
    const std::string& volume_id = m.destination_volume_id;
    const std::string& checksum = f.checksum;
    const uint64_t size = f.volume_size;
    if (waits == FinishWaits::for_slices) {
        // Sent as the slices' last bytes leave the source: their connections end in a moment.
        std::unique_lock<std::mutex> lock(targets_mutex_);
        targets_changed_.wait_for(lock, kFinishWaitsForSlices, [&] {
            auto it = target_sessions_.find(m.id);
            return it == target_sessions_.end() || it->second.live.empty();
        });
        lock.unlock();
        auto now = store_.get(m.id);
        if (!now) return now.take_error();
        if (*now) m = **now;
    }
    // Without the wait (the action), a range not in yet is for the source to resume (409); with
    // it (the adopt), the source sent everything and waits for no slice: the adoption is refused.
    const ErrorKind incomplete = waits == FinishWaits::for_slices ? ErrorKind::invalid : ErrorKind::conflict;
    auto volume = volumes_.get(volume_id);
    if (!volume) return volume.take_error();
    auto answer = [&](const std::string& held) {
        ReceiveStats r;
        r.volume_size = size;
        r.source_checksum = checksum;
        r.destination_checksum = held;
        r.verified = true;
        nlohmann::json receipt = receipt_json(r, m.strategy.value_or(Strategy::full));
        // What the copy left allocated, so that the source's report needs no further call.
        if (auto usage = volumes_.usage_of(*volume); usage && usage->allocated) receipt["received"]["allocated_bytes"] = *usage->allocated;
        return receipt;
    };
    if (m.state == MigrationState::received || m.state == MigrationState::success) {
        // Finished before (the answer was lost): the same answer.
        const nlohmann::json report = json_or_null(m.report);
        if (report.is_object() && report.value("destination_checksum", "") == checksum) return answer(checksum);
        return Error{"the migration into volume " + volume_id + " is already " + to_string(m.state), ErrorKind::conflict};
    }
    if (m.state != MigrationState::receiving && m.state != MigrationState::streaming)
        return Error{"the migration into volume " + volume_id + " is " + to_string(m.state), incomplete};
    auto terms = checkpoints_.terms(m.id);
    if (!terms) return terms.take_error();
    if (!*terms) return Error{"the migration into volume " + volume_id + " was prepared for a v1 stream", ErrorKind::conflict};
    {
        std::lock_guard<std::mutex> lock(targets_mutex_);
        auto it = target_sessions_.find(m.id);
        if (it != target_sessions_.end() && !it->second.live.empty())
            return Error{"volume " + volume_id + " is still receiving " + std::to_string(it->second.live.size()) + " slice stream(s)",
                         ErrorKind::conflict};
    }
    auto ranges = checkpoints_.ranges(m.id);
    if (!ranges) return ranges.take_error();
    const uint64_t c = (*terms)->checkpoint_bytes, count = (size + c - 1) / c;
    ContentChecksum total;
    for (uint64_t k = 0; k < count; ++k) {
        auto it = ranges->find(k);
        if (it == ranges->end())
            return Error{"range " + std::to_string(k) + " (offset " + std::to_string(k * c) + ") of volume " + volume_id +
                             " is not verified yet: resume the stream (volmig-stream_resume_point)",
                         incomplete};
        total.merge(it->second);
    }
    const std::string held = total.finish(size);
    if (held != checksum) {
        m.error = "verification FAILED on volume " + volume_id + ": the source sent " + checksum.substr(0, 64) + ", the destination holds " + held;
        Status s = store_.transition(m, MigrationState::error, [&](VolumeStore::Tx& tx) {
            Status changed = tx.modify(volume_id, [&](VolumeRecord& r) {
                r.error = "receiving the migration stream failed: " + m.error;
                return success();
            });
            return changed.ok() || changed.error().kind == ErrorKind::not_found ? success() : changed;
        });
        if (!s.ok() && log_) log_("receiving into volume " + volume_id + ": the failure could not be recorded: " + s.error().message);
        return Error{m.error, ErrorKind::invalid};  // 400: what was sent does not verify
    }
    failpoint("target.after_verification");
    m.report = dump_json({{"destination_checksum", held}, {"checkpoint_bytes", c}});
    if (Status s = store_.transition(m, MigrationState::received); !s.ok()) return s.error().with_kind(ErrorKind::conflict);
    if (Status s = checkpoints_.forget_all(m.id); !s.ok() && log_) log_("receiving into volume " + volume_id + ": " + s.error().message);
    if (log_) log_("received volume " + volume_id + " from " + m.source_host + ": every range verified (" + held + ")");
    return answer(held);
}

}  // namespace volmig
