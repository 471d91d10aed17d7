#include "api/peer_client.hpp"

#include <algorithm>
#include <cctype>

#include "api/json_input.hpp"
#include "api/rest.hpp"

namespace volmig {

namespace {

Error shape_error(const PeerExchange& x, const std::string& what, const std::string& expected) {
    return Error{"peer " + x.peer + " answered " + x.call + " with " + what + ": expected " + expected, ErrorKind::invalid};
}

Result<nlohmann::json> parse_reply(const PeerExchange& x, const std::string& body, const std::string& expected) {
    if (body.empty()) return shape_error(x, "an empty body", expected);
    auto doc = parse_json_bounded(body);
    if (!doc) return shape_error(x, "a body that is " + doc.error().message, expected);
    return doc;
}

const char* kVolumeShape = R"({"volume": {"id": "...", "status": "...", ...}})";

Result<PeerVolume> volume_from(const PeerExchange& x, const nlohmann::json& v, const std::string& where) {
    JsonFields f(v, where);
    PeerVolume out;
    out.id = f.text("id");
    const std::string status = f.text("status");
    out.error = f.optional_text("volmig:error").value_or("");
    out.allocated_bytes = f.optional_whole("volmig:allocated_bytes");
    out.data_percent = f.optional_number("volmig:data_percent");
    out.moved_to = f.optional_text("volmig:moved_to").value_or("");
    out.name_id = f.optional_text("os-vol-mig-status-attr:name_id").value_or("");
    if (!f.ok()) return shape_error(x, "a volume that does not fit (" + f.problem() + ")", kVolumeShape);
    if (!is_volume_id(out.id)) return shape_error(x, "volume id " + json_for_message(out.id), "an id of letters, digits, '-' and '_'");
    auto known = parse_volume_status(status);
    if (!known) return shape_error(x, "volume status " + json_for_message(status), "a Cinder volume status such as available or error");
    out.status = *known;
    return out;
}

}  // namespace

bool is_volume_id(const std::string& text) {
    return !text.empty() && text.size() <= 64 &&
           std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
}

Result<PeerVolume> parse_volume_reply(const PeerExchange& x, const std::string& body) {
    auto doc = parse_reply(x, body, kVolumeShape);
    if (!doc) return doc.take_error();
    if (!doc->is_object() || !doc->contains("volume")) return shape_error(x, json_for_message(*doc), kVolumeShape);
    return volume_from(x, (*doc)["volume"], "volume");
}

Result<std::vector<PeerVolume>> parse_volume_list_reply(const PeerExchange& x, const std::string& body) {
    const char* shape = R"({"volumes": [{"id": "...", "status": "..."}, ...]})";
    auto doc = parse_reply(x, body, shape);
    if (!doc) return doc.take_error();
    if (!doc->is_object() || !doc->contains("volumes") || !(*doc)["volumes"].is_array()) return shape_error(x, json_for_message(*doc), shape);
    std::vector<PeerVolume> out;
    for (const auto& v : (*doc)["volumes"]) {
        auto one = volume_from(x, v, "volumes[" + std::to_string(out.size()) + "]");
        if (!one) return one.take_error();
        out.push_back(*one);
    }
    return out;
}

Result<PreparedReceiver> parse_prepare_reply(const PeerExchange& x, const std::string& body, Strategy asked) {
    const char* shape = R"({"stream_token": "...", "strategy": "full|sparse|full+discard"})";
    auto doc = parse_reply(x, body, shape);
    if (!doc) return doc.take_error();
    JsonFields f(*doc, "reply");
    PreparedReceiver out;
    out.stream_token = f.text("stream_token");
    const std::string strategy = f.text("strategy");
    out.reason = f.optional_text("reason").value_or("");
    if (!f.ok()) return shape_error(x, "a reply that does not fit (" + f.problem() + ")", shape);
    if (out.stream_token.size() < 16 || out.stream_token.size() > 128)
        return shape_error(x, "a stream token of " + std::to_string(out.stream_token.size()) + " characters", "16 to 128 characters");
    auto s = parse_strategy(strategy);
    if (!s || *s == Strategy::automatic) return shape_error(x, "strategy " + json_for_message(strategy), "full, sparse or full+discard");
    // A receiver may choose a safer strategy than asked (full instead of full+discard), never a
    // less safe one: sparse only where sparse was asked for.
    if (*s == Strategy::sparse && asked != Strategy::sparse)
        return shape_error(x, "strategy sparse where " + to_string(asked) + " was asked for", "the asked strategy or a safer one");
    out.strategy = *s;
    // Stream v2: what the receiver accepts of what was offered (checked against the offer by the sender).
    if (doc->contains("checkpoint_bytes")) {
        out.streams = static_cast<unsigned>(std::min<uint64_t>(f.whole("streams"), 1u << 16));
        const std::string compression = f.text("compression");
        out.checkpoint_bytes = f.whole("checkpoint_bytes");
        if (!f.ok()) return shape_error(x, "a reply that does not fit (" + f.problem() + ")", shape);
        if (compression != "zstd" && compression != "none") return shape_error(x, "compression " + json_for_message(compression), "zstd or none");
        out.compression = compression == "zstd";
        if (out.checkpoint_bytes == 0 || out.checkpoint_bytes % (64 << 10) || out.checkpoint_bytes > (1ull << 30))
            return shape_error(x, "checkpoint_bytes " + std::to_string(out.checkpoint_bytes), "a multiple of 64 KiB up to 1 GiB");
        if (out.streams == 0) return shape_error(x, "streams 0", "at least 1");
    }
    return out;
}

Result<ResumePoint> parse_resume_reply(const PeerExchange& x, const std::string& body) {
    const char* shape = R"({"resume": {"source_volume": "...", "destination_volume": "...", "volume_size": N, "checkpoint_bytes": C, "ranges": [[index, "xxh3part:..."], ...]}})";
    auto doc = parse_reply(x, body, shape);
    if (!doc) return doc.take_error();
    if (!doc->is_object() || !doc->contains("resume")) return shape_error(x, json_for_message(*doc), shape);
    JsonFields f((*doc)["resume"], "resume");
    ResumePoint r;
    r.source_volume = f.text("source_volume");
    r.destination_volume = f.text("destination_volume");
    r.volume_size = f.whole("volume_size");
    r.checkpoint_bytes = f.whole("checkpoint_bytes");
    if (!f.ok()) return shape_error(x, "an answer that does not fit (" + f.problem() + ")", shape);
    const nlohmann::json& ranges = (*doc)["resume"].contains("ranges") ? (*doc)["resume"]["ranges"] : nlohmann::json();
    if (!ranges.is_array()) return shape_error(x, "no list of ranges", shape);
    for (const auto& entry : ranges) {
        if (!entry.is_array() || entry.size() != 2 || !entry[0].is_number_unsigned() || !entry[1].is_string())
            return shape_error(x, "a range " + json_for_message(entry), "[index, \"xxh3part:...\"]");
        const uint64_t index = entry[0].get<uint64_t>();
        const std::string sum = entry[1].get<std::string>();
        if (sum.size() > 64 || !r.ranges.emplace(index, sum).second)
            return shape_error(x, "range " + std::to_string(index) + " twice or with a malformed checksum", "each range once");
    }
    return r;
}

Result<StreamReceipt> parse_stream_reply(const PeerExchange& x, const std::string& body) {
    const char* shape = R"({"received": {"bytes_written": N, "destination_checksum": "...", "verified": true, ...}})";
    auto doc = parse_reply(x, body, shape);
    if (!doc) return doc.take_error();
    if (!doc->is_object() || !doc->contains("received")) return shape_error(x, json_for_message(*doc), shape);
    JsonFields f((*doc)["received"], "received");
    StreamReceipt r;
    r.volume_size = f.whole("volume_size");
    r.wire_bytes = f.whole("wire_bytes");
    r.bytes_written = f.whole("bytes_written");
    r.bytes_skipped = f.whole("bytes_skipped");
    r.bytes_zeroed = f.whole("bytes_zeroed");
    r.bytes_released = f.whole("bytes_released");
    r.zero_method = f.optional_text("zero_method").value_or("");
    const std::string strategy = f.text("strategy");
    r.source_checksum = f.text("source_checksum");
    r.destination_checksum = f.text("destination_checksum");
    r.verified = f.boolean("verified");
    r.seconds = f.optional_number("seconds").value_or(0);
    r.allocated_bytes = f.optional_whole("allocated_bytes");
    if (!f.ok()) return shape_error(x, "a receipt that does not fit (" + f.problem() + ")", shape);
    auto s = parse_strategy(strategy);
    if (!s || *s == Strategy::automatic) return shape_error(x, "strategy " + json_for_message(strategy), "full, sparse or full+discard");
    r.strategy = *s;
    return r;
}

Result<nlohmann::json> parse_capabilities_reply(const PeerExchange& x, const std::string& body) {
    const char* shape = "a capability document (a JSON object)";
    auto doc = parse_reply(x, body, shape);
    if (!doc) return doc.take_error();
    if (!doc->is_object()) return shape_error(x, json_for_message(*doc), shape);
    return doc;
}

namespace {

nlohmann::json prepare_arguments(const PrepareRequest& r) {
    return {{"source_volume", r.source_volume}, {"source_host", r.source_host}, {"strategy", to_string(r.strategy)},
            {"block_size", r.block_size},       {"streams", r.streams},         {"compression", r.compression},
            {"data_bytes", r.data_bytes}};
}

std::string url_encode(const std::string& text) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

class HttpPeerClient : public PeerClient {
public:
    HttpPeerClient(std::string host, std::string base_url, PeerSettings settings)
        : host_(std::move(host)), base_url_(std::move(base_url)), settings_(std::move(settings)) {}

    const std::string& host() const override { return host_; }
    std::chrono::microseconds round_trip() const override {
        return settings_.connections ? settings_.connections->round_trip() : std::chrono::microseconds{0};
    }

    Result<nlohmann::json> capabilities(const std::string& host_backend) override {
        const std::string path = "/v3/capabilities/" + url_encode(host_backend);
        PeerExchange x{host_, "capabilities (GET " + path + ")"};
        auto body = exchange(x, "GET", path, nullptr);
        if (!body) return body.take_error();
        return parse_capabilities_reply(x, *body);
    }

    Result<PeerVolume> create(const CreateTargetRequest& r) override {
        auto created = create_call(r, nullptr);
        if (!created) return created.take_error();
        return created->volume;
    }

    Result<CreatedTarget> create_prepared(const CreateTargetRequest& r, const PrepareRequest& prepare) override {
        auto created = create_call(r, &prepare);
        // A volmigd older than the combined call refuses the field before it creates anything:
        // the same create without it, and the prepare as an action of its own.
        if (!created && created.error().message.find("unknown field '" + std::string(kPrepareOnCreate) + "'") != std::string::npos)
            return create_call(r, nullptr);
        return created;
    }

    Result<CreatedTarget> create_call(const CreateTargetRequest& r, const PrepareRequest* prepare) {
        PeerExchange x{host_, "create (POST /v3/volumes)"};
        nlohmann::json volume = {{"size", r.size_gib},
                                 {"name", r.name},
                                 {"volume_type", r.volume_type},
                                 {"metadata", {{"volmig:migration_id", r.migration_id}}}};
        nlohmann::json request = {{"volume", volume}};
        if (prepare) request[kPrepareOnCreate] = prepare_arguments(*prepare);
        auto body = exchange(x, "POST", "/v3/" + (r.project_id.empty() ? std::string() : url_encode(r.project_id) + "/") + "volumes", request);
        if (!body) return body.take_error();
        auto v = parse_volume_reply(x, *body);
        if (v && prepare) {
            // The peer's prepare answer, when it gave one. One that does not parse is left
            // unused: preparing again is answered the same (prepare_receive is idempotent).
            CreatedTarget out{*v, std::nullopt};
            auto doc = parse_json_bounded(*body);
            if (doc && doc->is_object() && doc->contains(kPrepareOnCreate) && (*doc)[kPrepareOnCreate].is_object()) {
                PeerExchange px{host_, "prepare_receive (in POST /v3/volumes)"};
                if (auto prepared = parse_prepare_reply(px, (*doc)[kPrepareOnCreate].dump(), prepare->strategy)) out.prepared = *prepared;
            }
            return out;
        }
        if (v) return CreatedTarget{*v, std::nullopt};
        // The peer may have made a volume even though its answer does not fit: when the answer
        // names one, it is reported as failed so that the caller deletes it.
        auto doc = parse_json_bounded(*body);
        if (doc && doc->is_object() && doc->contains("volume") && (*doc)["volume"].is_object() && (*doc)["volume"].contains("id") &&
            (*doc)["volume"]["id"].is_string() && is_volume_id((*doc)["volume"]["id"].get<std::string>())) {
            PeerVolume failed;
            failed.id = (*doc)["volume"]["id"].get<std::string>();
            failed.status = VolumeStatus::error;
            failed.error = v.error().message;
            return CreatedTarget{failed, std::nullopt};
        }
        return v.take_error();
    }

    Result<PeerVolume> show(const std::string& volume_id) override {
        const std::string path = "/v3/volumes/" + url_encode(volume_id);
        PeerExchange x{host_, "show (GET " + path + ")"};
        auto body = exchange(x, "GET", path, nullptr);
        if (!body) return body.take_error();
        auto v = parse_volume_reply(x, *body);
        if (v && v->id != volume_id) return shape_error(x, "volume " + json_for_message(v->id), "volume " + volume_id);
        return v;
    }

    Result<std::vector<PeerVolume>> created_for(const std::string& migration_id) override {
        const std::string filter = nlohmann::json{{"volmig:migration_id", migration_id}}.dump();
        const std::string path = "/v3/volumes/detail?all_tenants=1&metadata=" + url_encode(filter);
        PeerExchange x{host_, "list (GET /v3/volumes/detail, by volmig:migration_id)"};
        auto body = exchange(x, "GET", path, nullptr);
        if (!body) return body.take_error();
        return parse_volume_list_reply(x, *body);
    }

    Result<PreparedReceiver> prepare_receive(const std::string& volume_id, const PrepareRequest& r) override {
        const std::string path = "/v3/volumes/" + url_encode(volume_id) + "/action";
        PeerExchange x{host_, "prepare_receive (POST " + path + ")"};
        auto body = exchange(x, "POST", path, {{"volmig-prepare_receive", prepare_arguments(r)}});
        if (!body) return body.take_error();
        return parse_prepare_reply(x, *body, r.strategy);
    }

    Result<ResumePoint> resume_point(const std::string& volume_id, const std::string& stream_token) override {
        const std::string path = "/v3/volumes/" + url_encode(volume_id) + "/action";
        PeerExchange x{host_, "stream_resume_point (POST " + path + ")"};
        HttpOptions http = options(settings_.call_timeout);
        http.max_response_bytes = 64 << 20;  // one entry per verified range
        auto response = http_request("POST", base_url_ + path, dump_json({{"volmig-stream_resume_point", {{"stream_token", stream_token}}}}), http);
        auto body = result_of(x, base_url_, response);
        if (!body) return body.take_error();
        return parse_resume_reply(x, *body);
    }

    Result<StreamReceipt> finish_receive(const std::string& volume_id, const std::string& stream_token, const std::string& checksum,
                                         uint64_t volume_size) override {
        const std::string path = "/v3/volumes/" + url_encode(volume_id) + "/action";
        PeerExchange x{host_, "finish_receive (POST " + path + ")"};
        auto body = exchange(x, "POST", path, {{"volmig-finish_receive", {{"stream_token", stream_token}, {"checksum", checksum}, {"volume_size", volume_size}}}});
        if (!body) return body.take_error();
        return parse_stream_reply(x, *body);
    }

    Result<StreamReceipt> stream(const std::string& volume_id, const std::string& stream_token, uint64_t data_bytes,
                                 const BodySource& source) override {
        const std::string path = "/volmig/v1/streams/" + url_encode(volume_id);
        PeerExchange x{host_, "stream (POST " + path + ")"};
        HttpOptions http = options(std::chrono::milliseconds(0));
        http.connections = nullptr;  // the server closes the connection after a stream
        http.stall_timeout = settings_.stream_stall_timeout;
        http.headers.push_back("X-Volmig-Stream-Token: " + stream_token);
        http.headers.push_back("Content-Type: application/octet-stream");
        http.headers.push_back("X-Volmig-Data-Bytes: " + std::to_string(data_bytes));
        http.body_source = source;
        auto response = http_request("POST", base_url_ + path, "", http);
        auto body = result_of(x, base_url_, response);
        if (!body) {
            // 409: the receiver still holds a stream of this slice (it has not noticed a cut yet).
            if (response && response->status == 409) return body.error().with_kind(ErrorKind::conflict);
            return body.take_error();
        }
        return parse_stream_reply(x, *body);
    }

    Result<std::optional<StreamReceipt>> adopt(const std::string& volume_id, const AdoptRequest& r) override {
        const std::string path = "/v3/volumes/" + url_encode(volume_id) + "/action";
        PeerExchange x{host_, "adopt (POST " + path + ")"};
        nlohmann::json volume = {{"id", r.volume_id},           {"name", r.name},
                                 {"description", r.description}, {"metadata", r.metadata},
                                 {"created_at", r.created_at},   {"project_id", r.project_id}};
        nlohmann::json args = {{"volume", volume}, {"stream_token", r.stream_token}, {"migration", {{"plan", r.plan}, {"report", r.report}}}};
        if (!r.finish_checksum.empty()) args["finish"] = {{"checksum", r.finish_checksum}, {"volume_size", r.finish_volume_size}};
        auto body = exchange(x, "POST", path, {{"volmig-adopt", args}});
        if (!body) return body.take_error();
        const char* shape = R"({"volume_id": "<the adopted id>", "received": {...} when it verified the volume})";
        auto doc = parse_reply(x, *body, shape);
        if (!doc) return doc.take_error();
        if (!doc->is_object() || !doc->contains("volume_id") || (*doc)["volume_id"] != r.volume_id)
            return shape_error(x, json_for_message(*doc), shape);
        if (r.finish_checksum.empty() || !doc->contains("received")) return std::optional<StreamReceipt>();
        auto receipt = parse_stream_reply(x, *body);
        if (!receipt) return receipt.take_error();
        return std::optional<StreamReceipt>(std::move(*receipt));
    }

    Status remove(const std::string& volume_id) override {
        const std::string path = "/v3/volumes/" + url_encode(volume_id);
        PeerExchange x{host_, "delete (DELETE " + path + ")"};
        auto body = exchange(x, "DELETE", path, nullptr);
        if (!body && body.error().kind != ErrorKind::not_found) return body.error();
        return success();
    }

private:
    HttpOptions options(std::chrono::milliseconds total) const {
        HttpOptions o;
        o.connect_timeout = std::min<std::chrono::milliseconds>(std::chrono::seconds(5), settings_.call_timeout);
        o.total_timeout = total;
        o.headers.push_back("X-Auth-Token: " + (settings_.auth_token.empty() ? "volmig:" + settings_.own_host : settings_.auth_token));
        o.headers.push_back("Accept: application/json");
        o.headers.push_back("OpenStack-API-Version: volume 3.0");
        o.ca_file = settings_.ca_file;
        o.ca_hint = "ssl_ca_file";
        o.require_tls = settings_.require_tls;
        o.connections = settings_.connections.get();
        return o;
    }

    Result<std::string> exchange(const PeerExchange& x, const std::string& method, const std::string& path, const nlohmann::json& body) {
        auto response = http_request(method, base_url_ + path, body.is_null() ? std::string() : dump_json(body), options(settings_.call_timeout));
        return result_of(x, base_url_, response);
    }

    // The body of a 2xx answer; otherwise an error of the kind the status means.
    static Result<std::string> result_of(const PeerExchange& x, const std::string& base_url, Result<HttpResponse>& response) {
        if (!response)
            return Error{"peer " + x.peer + " (" + base_url + ") did not answer " + x.call + ": " + response.error().message,
                         response.error().kind == ErrorKind::refused ? ErrorKind::refused : ErrorKind::failed};
        const long status = response->status;
        if (status >= 200 && status < 300) return std::move(response->body);
        std::string message = error_message_from_body(response->body);
        if (message.size() > 300) message = message.substr(0, 300) + "...";
        const ErrorKind kind = status == 404 ? ErrorKind::not_found : (status >= 400 && status < 500) ? ErrorKind::refused : ErrorKind::failed;
        return Error{"peer " + x.peer + " answered " + x.call + " with " + std::to_string(status) + ": " + message, kind};
    }

    std::string host_, base_url_;
    PeerSettings settings_;
};

}  // namespace

std::unique_ptr<PeerClient> make_http_peer_client(std::string host, std::string base_url, PeerSettings settings) {
    return std::make_unique<HttpPeerClient>(std::move(host), std::move(base_url), std::move(settings));
}

}  // namespace volmig
