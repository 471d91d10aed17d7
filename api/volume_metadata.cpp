// A volume's user metadata as Cinder serves it: GET/POST (merge)/PUT (replace)
// /v3/{project_id}/volumes/ID/metadata with {"metadata": {...}}, and GET/PUT/DELETE
// /metadata/KEY with {"meta": {KEY: VALUE}}. GET of the whole metadata sends an ETag; a PUT
// carrying If-Match (cinderclient's metadata unset at 3.15+) applies only if it still matches.
#include "api/volume_updates.hpp"

#include <sstream>

#include <Poco/DigestEngine.h>
#include <Poco/MD5Engine.h>

#include "copy/json_text.hpp"

namespace volmig {

namespace {

constexpr size_t kMaxMetadataChars = 255;

std::string shown_key(const std::string& key) { return key.size() > 64 ? key.substr(0, 64) + "..." : key; }

Status check_key(const std::string& key, const std::string& field) {
    if (!is_utf8_text(key)) return Error{field + " keys must be UTF-8 text without NUL characters", ErrorKind::invalid};
    const size_t n = utf8_chars(key);
    if (n == 0 || n > kMaxMetadataChars)
        return Error{field + " keys must be 1 to 255 characters long (got " + std::to_string(n) + ")", ErrorKind::invalid};
    return success();
}

nlohmann::json stored_metadata(const VolumeRecord& v) {
    auto doc = nlohmann::json::parse(v.metadata, nullptr, false);
    return doc.is_object() ? doc : nlohmann::json::object();
}

bool reserved(const std::string& key) { return key.rfind(kReservedMetadataPrefix, 0) == 0; }

// The ETag of a volume's metadata: MD5 of its JSON, as Cinder's (the text differs from
// Cinder's; clients only echo it back).
std::string etag_of(const nlohmann::json& metadata) {
    Poco::MD5Engine md5;
    md5.update(nlohmann::json{{"metadata", metadata}}.dump());
    return Poco::DigestEngine::digestToHex(md5.digest());
}

// Whether an If-Match header (absent: yes) names `etag`: a list of tags, quoted or not, or *.
bool if_match_holds(const std::string& header, const std::string& etag) {
    if (header.empty()) return true;
    std::stringstream in(header);
    std::string tag;
    while (std::getline(in, tag, ',')) {
        const size_t b = tag.find_first_not_of(" \t"), e = tag.find_last_not_of(" \t");
        if (b == std::string::npos) continue;
        tag = tag.substr(b, e - b + 1);
        if (tag == "*") return true;
        if (tag.rfind("W/", 0) == 0) tag = tag.substr(2);
        if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') tag = tag.substr(1, tag.size() - 2);
        if (tag == etag) return true;
    }
    return false;
}

ApiResponse answer(nlohmann::json body) {
    ApiResponse r;
    r.body = std::move(body);
    return r;
}

// The one object a metadata body holds ({"metadata": ...} or {"meta": ...}), or the 400 to send.
Result<nlohmann::json> body_object(const ApiRequest& request, const std::string& name) {
    auto body = parse_body(request);
    if (!body) return body.take_error();
    for (const auto& [key, value] : body->items())
        if (key != name)
            return Error{"unknown field '" + shown_key(key) + "' in the request: expected {\"" + name + "\": {\"key\": \"value\"}}",
                         ErrorKind::invalid};
    if (!body->contains(name)) return Error{"the request needs \"" + name + "\": {\"key\": \"value\"}", ErrorKind::invalid};
    return (*body)[name];
}

class MetadataRoutes {
public:
    explicit MetadataRoutes(VolumeService& volumes) : volumes_(volumes) {}

    ApiResponse handle(const ApiRequest& request, const std::string& id, const std::vector<std::string>& rest) {
        if (rest.empty()) {
            if (request.method == "GET") return show_all(id);
            if (request.method == "POST") return change_all(request, id, MetadataChange::merge);
            if (request.method == "PUT") return change_all(request, id, MetadataChange::replace);
            return method_not_allowed("GET, POST, PUT");
        }
        if (rest.size() != 1) return error_response(404, "no such resource: " + request.path);
        const std::string& key = rest[0];
        if (Status s = check_key(key, "metadata"); !s.ok()) return error_response(s.error());
        if (request.method == "GET") return show_one(id, key);
        if (request.method == "PUT") return change_one(request, id, key);
        if (request.method == "DELETE") return remove_one(id, key);
        return method_not_allowed("GET, PUT, DELETE");
    }

private:
    ApiResponse show_all(const std::string& id) {
        auto v = volumes_.get(id);
        if (!v) return error_response(v.error());
        nlohmann::json metadata = stored_metadata(*v);
        ApiResponse r = answer({{"metadata", metadata}});
        r.headers.emplace_back("ETag", etag_of(metadata));
        return r;
    }

    ApiResponse show_one(const std::string& id, const std::string& key) {
        auto v = volumes_.get(id);
        if (!v) return error_response(v.error());
        const nlohmann::json metadata = stored_metadata(*v);
        auto it = metadata.find(key);
        if (it == metadata.end()) return error_response(404, "volume " + id + " has no metadata key '" + shown_key(key) + "'");
        return answer({{"meta", {{key, *it}}}});
    }

    // The check of If-Match and the change are one transaction: a concurrent change in between
    // makes the tag stale, and the request fails with 412 instead of undoing it.
    Result<nlohmann::json> change(const ApiRequest& request, const std::string& id, const std::map<std::string, std::string>& wanted,
                                  MetadataChange how, bool& precondition_failed) {
        nlohmann::json after;
        Status s = volumes_.store().modify(id, [&](VolumeRecord& v) -> Status {
            if (Status ok = volume_updatable(v, "its metadata"); !ok.ok()) return ok;
            if (!if_match_holds(request.header("if-match"), etag_of(stored_metadata(v)))) {
                precondition_failed = true;
                return Error{"the metadata of volume " + id + " changed since it was read (If-Match does not match its ETag): read it again",
                             ErrorKind::invalid};
            }
            if (Status applied = apply_metadata(v, wanted, how); !applied.ok()) return applied;
            after = stored_metadata(v);
            return success();
        });
        if (!s.ok()) return s.error();
        return after;
    }

    ApiResponse failed(const Error& e, bool precondition_failed) {
        return precondition_failed ? error_response(412, e.message) : error_response(e);
    }

    ApiResponse change_all(const ApiRequest& request, const std::string& id, MetadataChange how) {
        auto object = body_object(request, "metadata");
        if (!object) return error_response(object.error());
        auto wanted = metadata_from(*object, "metadata");
        if (!wanted) return error_response(wanted.error());
        bool stale = false;
        auto after = change(request, id, *wanted, how, stale);
        if (!after) return failed(after.error(), stale);
        return answer({{"metadata", *after}});
    }

    ApiResponse change_one(const ApiRequest& request, const std::string& id, const std::string& key) {
        auto object = body_object(request, "meta");
        if (!object) return error_response(object.error());
        auto wanted = metadata_from(*object, "meta");
        if (!wanted) return error_response(wanted.error());
        if (!wanted->count(key)) return error_response(400, "the body's \"meta\" must hold the key of the URL, '" + shown_key(key) + "'");
        if (wanted->size() != 1) return error_response(400, "the body's \"meta\" must hold exactly one key, the URL's");
        bool stale = false;
        auto after = change(request, id, *wanted, MetadataChange::merge, stale);
        if (!after) return failed(after.error(), stale);
        return answer({{"meta", {{key, wanted->at(key)}}}});
    }

    ApiResponse remove_one(const std::string& id, const std::string& key) {
        Status s = volumes_.store().modify(id, [&](VolumeRecord& v) -> Status {
            if (Status ok = volume_updatable(v, "its metadata"); !ok.ok()) return ok;
            nlohmann::json metadata = stored_metadata(v);
            if (!metadata.contains(key)) return Error{"volume " + id + " has no metadata key '" + shown_key(key) + "'", ErrorKind::not_found};
            if (reserved(key))
                return Error{"metadata key '" + shown_key(key) + "' is volmig's own record: it cannot be removed", ErrorKind::invalid};
            metadata.erase(key);
            v.metadata = metadata.dump();
            return success();
        });
        if (!s.ok()) return error_response(s.error());
        return answer(nullptr);
    }

    VolumeService& volumes_;
};

}  // namespace

size_t utf8_chars(const std::string& text) {
    size_t n = 0;
    for (unsigned char c : text) n += (c & 0xC0) != 0x80;  // every byte but continuation bytes starts a character
    return n;
}

Result<std::map<std::string, std::string>> metadata_from(const nlohmann::json& value, const std::string& field) {
    if (!value.is_object()) return Error{field + " must be an object of strings, as {\"key\": \"value\"}", ErrorKind::invalid};
    std::map<std::string, std::string> out;
    for (const auto& [key, v] : value.items()) {
        if (Status s = check_key(key, field); !s.ok()) return s.error();
        if (!v.is_string()) return Error{field + "." + shown_key(key) + " must be a string (got " + json_for_message(v) + ")", ErrorKind::invalid};
        const std::string text = v.get<std::string>();
        if (!is_utf8_text(text)) return Error{field + "." + shown_key(key) + " must be UTF-8 text without NUL characters", ErrorKind::invalid};
        if (utf8_chars(text) > kMaxMetadataChars)
            return Error{field + "." + shown_key(key) + " is longer than 255 characters (" + std::to_string(utf8_chars(text)) + ")",
                         ErrorKind::invalid};
        out[key] = text;
    }
    return out;
}

Status apply_metadata(VolumeRecord& volume, const std::map<std::string, std::string>& wanted, MetadataChange how) {
    const nlohmann::json stored = stored_metadata(volume);
    for (const auto& [key, value] : wanted) {
        if (!reserved(key)) continue;
        auto it = stored.find(key);
        if (it == stored.end() || !it->is_string() || it->get<std::string>() != value)
            return Error{"metadata key '" + shown_key(key) + "' is volmig's own record (keys starting with " + kReservedMetadataPrefix +
                             "): it cannot be set or changed",
                         ErrorKind::invalid};
    }
    nlohmann::json next = how == MetadataChange::merge ? stored : nlohmann::json::object();
    if (how == MetadataChange::replace)
        for (const auto& [key, value] : stored.items())
            if (reserved(key)) next[key] = value;
    for (const auto& [key, value] : wanted) next[key] = value;
    volume.metadata = next.dump();
    return success();
}

void install_volume_metadata(RestApi& api, VolumeService& volumes) {
    auto routes = std::make_shared<MetadataRoutes>(volumes);
    api.add_volume_resource("metadata", [routes](const ApiRequest& request, const std::string&, const std::string& id,
                                                 const std::vector<std::string>& rest) { return routes->handle(request, id, rest); });
}

}  // namespace volmig
