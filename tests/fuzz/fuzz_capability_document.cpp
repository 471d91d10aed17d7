// Fuzz target: the capability document reader (capabilities/document.hpp) and the plan made
// from what it reads (capabilities/negotiation.hpp plan_copy).
//
// Feeds: byte 0 picks the mode and the source's and operator's side of the plan.
//  - even: the rest is a peer's reply, JSON text (anything: read_capability_document takes
//    whatever nlohmann parses, and a discarded parse too);
//  - odd: the rest describes BackendFacts, a policy and the document's identity, built with
//    build_capability_document, sent (dumped) and parsed back as a peer would.
//
// Asserts, besides "no crash, no leak, no sanitizer report":
//  - zero-initialization is believed exactly when the document says so beyond doubt: properties
//    .cinder_sparse_copy_volume is an object whose "default" is the boolean true (and whose
//    "type", if any, is "boolean"), and a top-level sparse_copy_volume, if any, is true;
//  - discard_zeroes only with discard; the block size is from 512 bytes to 1 GiB; every doubt is
//    a line of at most a few hundred characters, whatever the document holds;
//  - the plan is sparse only onto a zero-initialized destination that neither policy forbids,
//    and full+discard only where released ranges read as zeros; its JSON serializes;
//  - round trip: a document built from facts reads back to those facts (discard_zeroes without
//    discard is contradictory and reads back as no discard_zeroes), with no doubt.
#include "capabilities/negotiation.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace volmig;
using nlohmann::json;
using volmig::fuzz::check;

namespace {

constexpr size_t kLongestDoubt = 400;

bool believable_zero_initialization(const json& doc) {
    if (!doc.is_object() || !doc.contains("properties") || !doc["properties"].is_object())
        return false;
    const json& props = doc["properties"];
    if (!props.contains("cinder_sparse_copy_volume")) return false;
    const json& p = props["cinder_sparse_copy_volume"];
    if (!p.is_object() || !p.contains("default") || p["default"] != json(true)) return false;
    if (p.contains("type") && p["type"] != json("boolean")) return false;
    return !doc.contains("sparse_copy_volume") || doc["sparse_copy_volume"] == json(true);
}

void check_capabilities(const DestinationCapabilities& c) {
    check(!c.discard_zeroes || c.discard, "discard_zeroes only with discard");
    check(c.block_size >= 512 && c.block_size <= (1ull << 30),
          "the block size is from 512 bytes to 1 GiB");
    for (const auto& doubt : c.doubts)
        check(doubt.size() <= kLongestDoubt,
              "a doubt is one bounded line: " + doubt.substr(0, 200) + "...");
}

void check_plan(const DestinationCapabilities& c, uint8_t options) {
    SourceFacts source;
    source.policy = options & 2 ? SparseCopyPolicy::never : SparseCopyPolicy::automatic;
    source.extent_map_known = options & 4;
    OperatorPolicy policy;
    policy.force_full = options & 8;
    policy.requested =
        std::array<Strategy, 4>{Strategy::automatic, Strategy::sparse, Strategy::full,
                                Strategy::full_then_discard}[(options >> 4) & 3];
    const CopyPlan plan = plan_copy(source, c, policy);
    if (plan.strategy == Strategy::sparse)
        check(c.zero_initialized && c.policy != SparseCopyPolicy::never &&
                  source.policy != SparseCopyPolicy::never,
              "sparse only onto a zero-initialized destination no policy forbids");
    if (plan.strategy == Strategy::full_then_discard)
        check(c.discard && c.discard_zeroes,
              "full+discard only where released ranges read as zeros");
    check(plan.strategy != Strategy::automatic, "the plan decides");
    (void)plan_to_json(plan).dump();
}

void read_reply(const std::string& text, uint8_t options) {
    const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    const DestinationCapabilities c = read_capability_document(doc);
    check(c.zero_initialized == believable_zero_initialization(doc),
          "zero-initialization is believed exactly when the document says so");
    check_capabilities(c);
    check_plan(c, options);
}

int round_trip(fuzz::ByteReader& in, uint8_t options) {
    BackendFacts f;
    const uint8_t bits = in.byte();
    f.thin_provisioning = bits & 1;
    f.zero_initialized = bits & 2;
    f.discard = bits & 4;
    f.discard_zeroes = bits & 8;
    const SparseCopyPolicy policy =
        bits & 16 ? SparseCopyPolicy::never : SparseCopyPolicy::automatic;
    f.block_size = in.integer(bits & 32 ? 8 : 4);
    DocumentIdentity id{in.text(40), in.text(40), in.text(40), in.text(20), in.text(10)};
    f.zero_initialized_reason = in.text(200);
    f.storage_protocol = in.text(20);
    for (const std::string* s :
         {&id.host, &id.volume_backend_name, &id.pool_name, &id.driver_name, &id.driver_version,
          &f.zero_initialized_reason, &f.storage_protocol})
        if (!fuzz::serializes_as_json(*s))
            return -1;  // names come from the configuration, which is UTF-8

    const json sent = json::parse(build_capability_document(id, f, policy).dump(), nullptr, false);
    const DestinationCapabilities c = read_capability_document(sent);
    check(c.zero_initialized == f.zero_initialized && c.discard == f.discard &&
              c.discard_zeroes == (f.discard_zeroes && f.discard) &&
              c.thin_provisioning == f.thin_provisioning && c.policy == policy &&
              c.backend == id.volume_backend_name,
          "a built document reads back to its facts: " + sent.dump());
    const bool block_size_in_range = f.block_size >= 512 && f.block_size <= (1ull << 30);
    check(c.block_size == (block_size_in_range ? f.block_size : 4096),
          "the block size reads back (4096 when out of range)");
    check(c.doubts.size() == (f.discard_zeroes && !f.discard ? 1u : 0u),
          "a document built from facts raises no doubt but a contradiction");
    check_capabilities(c);
    check_plan(c, options);
    return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::ByteReader in(data, size);
    const uint8_t options = in.byte();
    if (options & 1) return round_trip(in, options);
    read_reply(in.rest(), options);
    return 0;
}
