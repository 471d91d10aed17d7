#include "capabilities/document.hpp"

#include "copy/json_text.hpp"

namespace volmig {

namespace {

nlohmann::json property(const std::string& title, const std::string& description, const char* type, nlohmann::json value) {
    return {{"title", title}, {"description", description}, {"type", type}, {"default", std::move(value)}};
}

// props[key]["default"], or nullptr when either is missing. Looked up, never copied or
// indexed blindly: the document is a peer's, of any shape and depth.
const nlohmann::json* default_of(const nlohmann::json& props, const std::string& key) {
    const auto p = props.find(key);
    if (p == props.end() || !p->is_object()) return nullptr;
    const auto d = p->find("default");
    return d == p->end() ? nullptr : &*d;
}

// A boolean property's value: only a real JSON boolean in {"type": "boolean", "default": b} counts.
bool boolean_property(const nlohmann::json& props, const std::string& key, std::vector<std::string>& doubts) {
    if (!props.contains(key)) {
        doubts.push_back(key + " is missing: taken as false");
        return false;
    }
    const nlohmann::json* value = default_of(props, key);
    if (!value || !value->is_boolean()) {
        doubts.push_back(key + " is not a boolean property: taken as false");
        return false;
    }
    const auto type = props[key].find("type");
    if (type != props[key].end() && *type != "boolean") {
        doubts.push_back(key + " declares type " + json_for_message(*type) + ", not boolean: taken as false");
        return false;
    }
    return value->get<bool>();
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
    std::vector<std::string> optional_doubts;  // facts a Cinder peer may not state (or state without a value)
    c.thin_provisioning = boolean_property(props, "thin_provisioning", optional_doubts);
    c.discard = boolean_property(props, "volmig:discard", optional_doubts);
    c.discard_zeroes = boolean_property(props, "volmig:discard_zeroes", optional_doubts);
    const nlohmann::json* block_size = default_of(props, "volmig:block_size");
    if (block_size && block_size->is_number_unsigned()) {
        const uint64_t b = block_size->get<uint64_t>();
        if (b >= 512 && b <= (1u << 30)) c.block_size = b;
    }
    const nlohmann::json* policy = default_of(props, "volmig:sparse_copy_policy");
    if (policy && *policy == "never") c.policy = SparseCopyPolicy::never;

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
