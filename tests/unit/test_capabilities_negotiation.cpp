// The negotiation as a truth table: every combination of the facts and policies, and every
// malformed document, against the rules of DESIGN.md.
#include <doctest/doctest.h>

#include "capabilities/document.hpp"
#include "capabilities/negotiation.hpp"

using namespace volmig;

namespace {

std::string joined(const CopyPlan& p) { return p.summary(); }

}  // namespace

TEST_CASE("negotiation: every combination of destination facts and policies") {
    int rows = 0;
    for (bool zero : {false, true})
        for (bool discard : {false, true})
            for (bool discard_zeroes : {false, true})
                for (bool dst_never : {false, true})
                    for (bool src_never : {false, true})
                        for (bool force_full : {false, true}) {
                            DestinationCapabilities d;
                            d.backend = "dst";
                            d.zero_initialized = zero;
                            d.discard = discard;
                            d.discard_zeroes = discard_zeroes;
                            d.policy = dst_never ? SparseCopyPolicy::never : SparseCopyPolicy::automatic;
                            SourceFacts s;
                            s.policy = src_never ? SparseCopyPolicy::never : SparseCopyPolicy::automatic;
                            OperatorPolicy p;
                            p.force_full = force_full;
                            const CopyPlan plan = plan_copy(s, d, p);

                            Strategy expected;
                            if (force_full) expected = Strategy::full;
                            else if (zero && !dst_never && !src_never) expected = Strategy::sparse;
                            else if (discard && discard_zeroes) expected = Strategy::full_then_discard;
                            else expected = Strategy::full;
                            INFO("zero=" << zero << " discard=" << discard << " zeroes=" << discard_zeroes << " dst_never=" << dst_never
                                         << " src_never=" << src_never << " force=" << force_full << " -> " << joined(plan));
                            CHECK(plan.strategy == expected);
                            CHECK_FALSE(plan.reasons.empty());
                            // Never sparse without a zero-initialized destination, whatever else.
                            if (!zero) CHECK(plan.strategy != Strategy::sparse);
                            ++rows;
                        }
    CHECK(rows == 64);
}

TEST_CASE("negotiation: reasons say what decided, in words") {
    DestinationCapabilities thick;
    thick.backend = "thick_file";
    CopyPlan plan = plan_copy(SourceFacts{}, thick, OperatorPolicy{});
    CHECK(plan.strategy == Strategy::full);
    CHECK(plan.summary().find("destination thick_file reports cinder_sparse_copy_volume=false and no discard: full copy") != std::string::npos);
    OperatorPolicy forced;
    forced.force_full = true;
    CHECK(plan_copy(SourceFacts{}, thick, forced).summary().find("forced") != std::string::npos);
}

TEST_CASE("negotiation: block size follows the destination's granularity, within engine limits") {
    DestinationCapabilities d;
    d.block_size = 65536;
    CHECK(plan_copy(SourceFacts{}, d, OperatorPolicy{}).block_size == 65536);
    d.block_size = 512;
    CHECK(plan_copy(SourceFacts{}, d, OperatorPolicy{}).block_size == 4096);
    d.block_size = 64ull << 20;
    CHECK(plan_copy(SourceFacts{}, d, OperatorPolicy{}).block_size == 1 << 20);
}

TEST_CASE("capability document: built from facts, in Cinder's shape, and read back the same") {
    for (bool zero : {false, true})
        for (bool discard : {false, true}) {
            BackendFacts f;
            f.zero_initialized = zero;
            f.zero_initialized_reason = "because";
            f.discard = discard;
            f.discard_zeroes = discard;
            f.thin_provisioning = zero;
            f.block_size = 65536;
            DocumentIdentity id{"host-b@thin", "thin", "thin", "thin_file", "0.1.0"};
            const auto doc = build_capability_document(id, f, SparseCopyPolicy::automatic);
            for (const char* key : {"namespace", "vendor_name", "volume_backend_name", "pool_name", "driver_version", "storage_protocol",
                                    "display_name", "description", "visibility", "replication_targets", "properties"})
                CHECK(doc.contains(key));
            CHECK(doc["properties"]["cinder_sparse_copy_volume"]["type"] == "boolean");
            CHECK(doc["properties"]["cinder_sparse_copy_volume"]["default"] == zero);
            CHECK(doc["properties"]["cinder_sparse_copy_volume"].contains("title"));
            CHECK(doc["properties"]["cinder_sparse_copy_volume"].contains("description"));
            CHECK(doc["sparse_copy_volume"] == zero);
            const auto back = read_capability_document(doc);
            CHECK(back.zero_initialized == zero);
            CHECK(back.discard == discard);
            CHECK(back.discard_zeroes == discard);
            CHECK(back.block_size == 65536);
            CHECK(back.doubts.empty());
        }
}

TEST_CASE("capability document: every malformed or contradictory input means not zero-initialized and no discard") {
    BackendFacts good;
    good.zero_initialized = true;
    good.discard = good.discard_zeroes = true;
    const auto base = build_capability_document({"h@b", "b", "b", "thin_file", "1"}, good, SparseCopyPolicy::automatic);

    std::vector<std::pair<std::string, nlohmann::json>> cases;
    cases.push_back({"null", nullptr});
    cases.push_back({"array", nlohmann::json::array()});
    cases.push_back({"string", "cinder_sparse_copy_volume=true"});
    auto no_props = base;
    no_props.erase("properties");
    cases.push_back({"no properties", no_props});
    auto props_array = base;
    props_array["properties"] = nlohmann::json::array();
    cases.push_back({"properties not an object", props_array});
    auto string_bool = base;
    string_bool["properties"]["cinder_sparse_copy_volume"]["default"] = "true";
    string_bool["sparse_copy_volume"] = "true";
    cases.push_back({"\"true\" as a string", string_bool});
    auto missing = base;
    missing["properties"].erase("cinder_sparse_copy_volume");
    missing.erase("sparse_copy_volume");
    cases.push_back({"property missing", missing});
    auto not_object = base;
    not_object["properties"]["cinder_sparse_copy_volume"] = true;
    not_object.erase("sparse_copy_volume");
    cases.push_back({"property not in property form", not_object});
    auto wrong_type = base;
    wrong_type["properties"]["cinder_sparse_copy_volume"]["type"] = "string";
    cases.push_back({"declared type not boolean", wrong_type});
    auto disagree = base;
    disagree["sparse_copy_volume"] = false;
    cases.push_back({"top level disagrees", disagree});

    for (const auto& c : cases) {  // INFO captures: clang 14 cannot capture a structured binding
        INFO(c.first);
        auto caps = read_capability_document(c.second);
        CHECK_FALSE(caps.zero_initialized);
        CHECK_FALSE(caps.doubts.empty());
        const CopyPlan plan = plan_copy(SourceFacts{}, caps, OperatorPolicy{});
        CHECK(plan.strategy != Strategy::sparse);
    }

    auto zeroes_without_discard = base;
    zeroes_without_discard["properties"]["volmig:discard"]["default"] = false;
    auto caps = read_capability_document(zeroes_without_discard);
    CHECK_FALSE(caps.discard_zeroes);
    CHECK_FALSE(caps.doubts.empty());

    // A Cinder peer without volmig's own properties: its sparse fact still counts.
    auto cinder_only = base;
    for (const char* k : {"volmig:discard", "volmig:discard_zeroes", "volmig:block_size", "volmig:sparse_copy_policy"})
        cinder_only["properties"].erase(k);
    auto cinder = read_capability_document(cinder_only);
    CHECK(cinder.zero_initialized);
    CHECK_FALSE(cinder.discard);
    CHECK(plan_copy(SourceFacts{}, cinder, OperatorPolicy{}).strategy == Strategy::sparse);
}

TEST_CASE("capability document: Cinder's own property form without a default reads as false, not as garbage") {
    // What Cinder's LVM driver publishes: properties described, with no "default" value.
    const auto doc = nlohmann::json::parse(R"({"volume_backend_name": "lvm", "properties": {
        "thin_provisioning": {"title": "Thin Provisioning", "description": "Sets thin provisioning.", "type": "boolean"},
        "cinder_sparse_copy_volume": {"title": "Sparse copy volume", "type": "boolean"},
        "volmig:sparse_copy_policy": {"type": "string"}}})");
    const auto caps = read_capability_document(doc);
    CHECK_FALSE(caps.thin_provisioning);
    CHECK_FALSE(caps.zero_initialized);
    CHECK(caps.policy == SparseCopyPolicy::automatic);
    CHECK(plan_copy(SourceFacts{}, caps, OperatorPolicy{}).strategy == Strategy::full);
}

TEST_CASE("capability document: a doubt names a peer's odd value briefly, however long or deep it is") {
    nlohmann::json long_type = {{"properties", {{"cinder_sparse_copy_volume", {{"type", std::string(100000, 'x')}, {"default", true}}}}}};
    auto caps = read_capability_document(long_type);
    CHECK_FALSE(caps.zero_initialized);
    REQUIRE(caps.doubts.size() == 1);
    CHECK(caps.doubts[0] == "cinder_sparse_copy_volume declares type \"" + std::string(100, 'x') + "\"..., not boolean: taken as false");

    // 100000 nested arrays: dumping them recursively would overflow the stack.
    const auto deep = nlohmann::json::parse(R"({"properties": {"cinder_sparse_copy_volume": {"default": true, "type": )" +
                                            std::string(100000, '[') + std::string(100000, ']') + "}}}");
    caps = read_capability_document(deep);
    CHECK_FALSE(caps.zero_initialized);
    REQUIRE(caps.doubts.size() == 1);
    CHECK(caps.doubts[0] == "cinder_sparse_copy_volume declares type a JSON array, not boolean: taken as false");
}

TEST_CASE("negotiation: explicitly requested strategies, allowed only where they are safe") {
    for (bool zero : {false, true})
        for (bool releasable : {false, true})
            for (Strategy requested : {Strategy::full, Strategy::sparse, Strategy::full_then_discard}) {
                DestinationCapabilities d;
                d.backend = "dst";
                d.zero_initialized = zero;
                d.discard = d.discard_zeroes = releasable;
                OperatorPolicy p;
                p.requested = requested;
                const CopyPlan plan = plan_copy(SourceFacts{}, d, p);
                INFO("zero=" << zero << " releasable=" << releasable << " requested=" << to_string(requested) << " -> " << plan.summary());
                if (requested == Strategy::sparse && !zero) {
                    CHECK_FALSE(plan.refused.empty());  // never sparse onto stale bytes
                    CHECK(plan.strategy != Strategy::sparse);
                } else if (requested == Strategy::full_then_discard && !releasable) {
                    CHECK(plan.refused.empty());
                    CHECK(plan.strategy == Strategy::full);  // no release where zeros are not promised
                    CHECK(plan.summary().find("cannot release") != std::string::npos);
                } else {
                    CHECK(plan.refused.empty());
                    CHECK(plan.strategy == requested);
                }
            }
    OperatorPolicy both;
    both.requested = Strategy::sparse;
    both.force_full = true;
    DestinationCapabilities zeroed;
    zeroed.zero_initialized = true;
    CHECK(plan_copy(SourceFacts{}, zeroed, both).strategy == Strategy::full);  // force_host_copy wins
}
