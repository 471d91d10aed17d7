#include "capabilities/document.hpp"

namespace volmig {

namespace {

nlohmann::json property(const std::string& title, const std::string& description, const char* type, nlohmann::json value) {
    return {{"title", title}, {"description", description}, {"type", type}, {"default", std::move(value)}};
}

// A boolean property's value: only a real JSON boolean in {"type": "boolean", "default": b} counts.
bool boolean_property(const nlohmann::json& props, const std::string& key, std::vector<std::string>& doubts) {
    if (!props.contains(key)) {
        doubts.push_back(key + " is missing: taken as false");
        return false;
    }
    const auto& p = props[key];
    if (!p.is_object() || !p.contains("default") || !p["default"].is_boolean()) {
        doubts.push_back(key + " is not a boolean property: taken as false");
        return false;
    }
    if (p.contains("type") && p["type"] != "boolean") {
        doubts.push_back(key + " declares type " + p["type"].dump() + ", not boolean: taken as false");
        return false;
    }
    return p["default"].get<bool>();
}

}  // namespace

nlohmann::json build_capability_document(const DocumentIdentity& id, const BackendFacts& f, SparseCopyPolicy policy) {
    nlohmann::json props;
    props["cinder_sparse_copy_volume"] = property(
        "Sparse copy volume",
        "Every new volume of this backend reads as zeros, so a copy onto it may skip zero blocks. " + f.zero_initialized_reason,
        "boolean", f.zero_initialized);
    props["thin_provisioning"] = property("Thin provisioning", "Volumes allocate space only where data is written.", "boolean",
                                          f.thin_provisioning);
    props["volmig:discard"] = property("Discard", "Ranges of a volume can be released.", "boolean", f.discard);
    props["volmig:discard_zeroes"] =
        property("Discard reads zeros", "A released range reads back as zeros.", "boolean", f.discard_zeroes);
    props["volmig:block_size"] =
        property("Block size", "Allocation granularity in bytes (filesystem block, thin chunk).", "integer", f.block_size);
    props["volmig:sparse_copy_policy"] = property("Sparse copy policy", "The operator's policy for sparse copies onto this backend.",
                                                  "string", policy == SparseCopyPolicy::never ? "never" : "auto");
    return {
        {"namespace", "OS::Storage::Capabilities::" + id.host},
        {"vendor_name", "volmig"},
        {"volume_backend_name", id.volume_backend_name},
        {"pool_name", id.pool_name},
        {"driver_version", id.driver_version},
        {"storage_protocol", f.storage_protocol},
        {"display_name", "volmig " + id.driver_name},
        {"description", "volmig " + id.driver_name + " backend " + id.volume_backend_name},
        {"visibility", "pool"},
        {"replication_targets", nlohmann::json::array()},
        {"properties", props},
        // What Cinder's own drivers report at the top level, for deployed Cinder.
        {"sparse_copy_volume", f.zero_initialized},
    };
}

DestinationCapabilities read_capability_document(const nlohmann::json& doc) {
    DestinationCapabilities c;
    if (!doc.is_object()) {
        c.doubts.push_back("the capability document is not a JSON object: nothing is assumed");
        return c;
    }
    if (doc.contains("volume_backend_name") && doc["volume_backend_name"].is_string()) c.backend = doc["volume_backend_name"];
    if (!doc.contains("properties") || !doc["properties"].is_object()) {
        c.doubts.push_back("the capability document has no properties: nothing is assumed");
        return c;
    }
    const auto& props = doc["properties"];
    c.zero_initialized = boolean_property(props, "cinder_sparse_copy_volume", c.doubts);
    c.thin_provisioning = props.contains("thin_provisioning") && props["thin_provisioning"].is_object() &&
                          props["thin_provisioning"].value("default", nlohmann::json(false)).is_boolean() &&
                          props["thin_provisioning"]["default"].get<bool>();
    std::vector<std::string> optional_doubts;  // volmig's own facts may be absent on a Cinder peer
    c.discard = boolean_property(props, "volmig:discard", optional_doubts);
    c.discard_zeroes = boolean_property(props, "volmig:discard_zeroes", optional_doubts);
    if (props.contains("volmig:block_size") && props["volmig:block_size"].is_object() &&
        props["volmig:block_size"].contains("default") && props["volmig:block_size"]["default"].is_number_unsigned()) {
        const uint64_t b = props["volmig:block_size"]["default"].get<uint64_t>();
        if (b >= 512 && b <= (1u << 30)) c.block_size = b;
    }
    if (props.contains("volmig:sparse_copy_policy") && props["volmig:sparse_copy_policy"].is_object() &&
        props["volmig:sparse_copy_policy"].value("default", nlohmann::json("auto")) == "never")
        c.policy = SparseCopyPolicy::never;

    // Contradictions: believe neither side of them.
    if (doc.contains("sparse_copy_volume")) {
        if (!doc["sparse_copy_volume"].is_boolean()) {
            c.doubts.push_back("sparse_copy_volume is not a boolean: zero-initialization taken as false");
            c.zero_initialized = false;
        } else if (doc["sparse_copy_volume"].get<bool>() != c.zero_initialized) {
            c.doubts.push_back("sparse_copy_volume and cinder_sparse_copy_volume disagree: zero-initialization taken as false");
            c.zero_initialized = false;
        }
    }
    if (c.discard_zeroes && !c.discard) {
        c.doubts.push_back("discard_zeroes without discard is contradictory: no discard assumed");
        c.discard_zeroes = false;
    }
    return c;
}

}  // namespace volmig
