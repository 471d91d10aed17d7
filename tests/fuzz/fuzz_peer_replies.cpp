// Fuzz target: the parsers of a peer daemon's replies (api/peer_client.hpp parse_volume_reply,
// parse_volume_list_reply, parse_prepare_reply, parse_stream_reply, parse_capabilities_reply)
// and of its error bodies (api/http_client.hpp error_message_from_body).
//
// Feeds: byte 0 picks the parser (and, for prepare, the strategy asked for); the rest is the
// reply's body as the peer sent it. Two modes build the reply instead, from a description in
// the data: a volume ({"volume": {...}} with any known status and optional fields, and fields
// the parser does not know) and a stream receipt.
//
// Asserts, besides "no crash, no leak, no sanitizer report":
//  - a refused reply is refused as invalid (a broken peer, not a transient failure), with a
//    message of at most 1000 characters that serializes as JSON (it is stored on the volume and
//    shown by the API);
//  - what is accepted keeps the struct's promises: volume ids of 1-64 of [A-Za-z0-9_-], a stream
//    token of 16-128 characters, a decided strategy, and sparse only where sparse was asked for;
//    a capability document is a JSON object;
//  - an error body's message, when the body is not JSON, is at most 500 bytes of it;
//  - round trip: a well-formed volume or receipt reads back to the values it was built from.
#include <string>
#include <vector>

#include "api/http_client.hpp"
#include "api/peer_client.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace volmig;
using nlohmann::json;
using volmig::fuzz::check;

namespace {

const PeerExchange kExchange{"host-b", "show (GET /v3/volumes/x)"};

template <typename T>
void check_refusal(const Result<T>& r) {
    if (r) return;
    const std::string& m = r.error().message;
    check(r.error().kind == ErrorKind::invalid, "a refused reply is refused as invalid: " + m);
    check(!m.empty() && m.size() <= 1000,
          "a refusal's message is at most 1000 characters: " + m.substr(0, 1200));
    check(fuzz::serializes_as_json(m), "a refusal's message serializes as JSON");
}

void check_volume(const PeerVolume& v) {
    check(is_volume_id(v.id), "an accepted volume has a volume id: " + v.id);
}

constexpr VolumeStatus kStatuses[] = {
    VolumeStatus::creating,  VolumeStatus::available,       VolumeStatus::in_use,
    VolumeStatus::deleting,  VolumeStatus::error,           VolumeStatus::error_deleting,
    VolumeStatus::extending, VolumeStatus::error_extending, VolumeStatus::maintenance};
constexpr Strategy kStrategies[] = {Strategy::full, Strategy::sparse, Strategy::full_then_discard};

// A string that is valid as JSON text, or nothing (the caller rejects the input).
bool text_from(fuzz::ByteReader& in, size_t max, std::string& out) {
    out = in.text(max);
    return fuzz::serializes_as_json(out);
}

int volume_round_trip(fuzz::ByteReader& in) {
    static const std::string id_chars =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    PeerVolume v;
    const size_t id_length = 1 + in.byte() % 64;
    for (size_t i = 0; i < id_length; ++i) v.id += id_chars[in.byte() % id_chars.size()];
    v.status = kStatuses[in.byte() % std::size(kStatuses)];
    const uint8_t present = in.byte();
    json volume = {{"id", v.id},
                   {"status", to_string(v.status)},
                   {"size", in.integer(2)},
                   {"attachments", json::array()}};
    if (present & 1 && !text_from(in, 60, v.error)) return -1;
    if (present & 1) volume["volmig:error"] = v.error;
    if (present & 2) volume["volmig:allocated_bytes"] = *(v.allocated_bytes = in.integer(8));
    if (present & 4)
        volume["volmig:data_percent"] =
            *(v.data_percent = static_cast<double>(in.integer(2)) / 100.0);
    if (present & 8 && !text_from(in, 40, v.moved_to)) return -1;
    if (present & 8) volume["volmig:moved_to"] = v.moved_to;
    if (present & 16 && !text_from(in, 40, v.name_id)) return -1;
    if (present & 16) volume["os-vol-mig-status-attr:name_id"] = v.name_id;
    if (present & 32) volume["volmig:error"] = nullptr;  // null reads as absent
    if (present & 32) v.error.clear();
    auto got = parse_volume_reply(kExchange, json{{"volume", volume}}.dump());
    check(got.ok(),
          "a well-formed volume is accepted: " + (got.ok() ? std::string() : got.error().message));
    check(got->id == v.id && got->status == v.status && got->error == v.error &&
              got->allocated_bytes == v.allocated_bytes && got->data_percent == v.data_percent &&
              got->moved_to == v.moved_to && got->name_id == v.name_id,
          "a well-formed volume reads back to its values");
    return 0;
}

int receipt_round_trip(fuzz::ByteReader& in) {
    StreamReceipt r;
    for (uint64_t* field : {&r.volume_size, &r.wire_bytes, &r.bytes_written, &r.bytes_skipped,
                            &r.bytes_zeroed, &r.bytes_released})
        *field = in.integer(in.byte() % 9);
    r.strategy = kStrategies[in.byte() % std::size(kStrategies)];
    r.verified = in.byte() & 1;
    r.seconds = static_cast<double>(in.integer(3)) / 1000.0;
    if (!text_from(in, 20, r.zero_method) || !text_from(in, 60, r.source_checksum) ||
        !text_from(in, 60, r.destination_checksum))
        return -1;
    const json received = {{"volume_size", r.volume_size},
                           {"wire_bytes", r.wire_bytes},
                           {"bytes_written", r.bytes_written},
                           {"bytes_skipped", r.bytes_skipped},
                           {"bytes_zeroed", r.bytes_zeroed},
                           {"bytes_released", r.bytes_released},
                           {"zero_method", r.zero_method},
                           {"strategy", to_string(r.strategy)},
                           {"source_checksum", r.source_checksum},
                           {"destination_checksum", r.destination_checksum},
                           {"verified", r.verified},
                           {"seconds", r.seconds}};
    auto got = parse_stream_reply(kExchange, json{{"received", received}}.dump());
    check(got.ok(),
          "a well-formed receipt is accepted: " + (got.ok() ? std::string() : got.error().message));
    check(got->volume_size == r.volume_size && got->wire_bytes == r.wire_bytes &&
              got->bytes_written == r.bytes_written && got->bytes_skipped == r.bytes_skipped &&
              got->bytes_zeroed == r.bytes_zeroed && got->bytes_released == r.bytes_released &&
              got->zero_method == r.zero_method && got->strategy == r.strategy &&
              got->source_checksum == r.source_checksum &&
              got->destination_checksum == r.destination_checksum && got->verified == r.verified &&
              got->seconds == r.seconds,
          "a well-formed receipt reads back to its values");
    return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::ByteReader in(data, size);
    const uint8_t mode = in.byte();
    switch (mode % 8) {
        case 0: {
            auto v = parse_volume_reply(kExchange, in.rest());
            check_refusal(v);
            if (v) check_volume(*v);
            break;
        }
        case 1: {
            auto list = parse_volume_list_reply(kExchange, in.rest());
            check_refusal(list);
            if (list)
                for (const auto& v : *list) check_volume(v);
            break;
        }
        case 2: {
            const Strategy asked = kStrategies[(mode >> 3) % std::size(kStrategies)];
            auto p = parse_prepare_reply(kExchange, in.rest(), asked);
            check_refusal(p);
            if (!p) break;
            check(p->stream_token.size() >= 16 && p->stream_token.size() <= 128,
                  "a stream token has 16 to 128 characters");
            check(p->strategy != Strategy::automatic, "the receiver's strategy is decided");
            check(p->strategy != Strategy::sparse || asked == Strategy::sparse,
                  "sparse only where sparse was asked for");
            break;
        }
        case 3: {
            auto r = parse_stream_reply(kExchange, in.rest());
            check_refusal(r);
            if (r) check(r->strategy != Strategy::automatic, "a receipt names a decided strategy");
            break;
        }
        case 4: {
            auto doc = parse_capabilities_reply(kExchange, in.rest());
            check_refusal(doc);
            if (doc) check(doc->is_object(), "a capability document is a JSON object");
            break;
        }
        case 5: {
            const std::string body = in.rest();
            const std::string message = error_message_from_body(body);
            if (json::parse(body, nullptr, false).is_discarded())
                check(message.size() <= 500 && body.compare(0, message.size(), message) == 0,
                      "a non-JSON error body is cut to 500 bytes");
            break;
        }
        case 6:
            return volume_round_trip(in);
        default:
            return receipt_round_trip(in);
    }
    return 0;
}
