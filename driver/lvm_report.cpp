#include "driver/lvm_report.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <nlohmann/json.hpp>

namespace volmig {

namespace {

// "1073741824", "1073741824B", "" -> value; anything else is an error.
Result<std::optional<uint64_t>> bytes_field(const nlohmann::json& row, const std::string& key) {
    if (!row.contains(key)) return std::optional<uint64_t>();
    if (row[key].is_number_unsigned()) return std::optional<uint64_t>(row[key].get<uint64_t>());
    if (!row[key].is_string()) return Error{"field " + key + " is not a string"};
    std::string s = row[key].get<std::string>();
    if (!s.empty() && (s.back() == 'B' || s.back() == 'b')) s.pop_back();
    if (s.empty()) return std::optional<uint64_t>();
    for (char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c))) return Error{"field " + key + " = '" + row[key].get<std::string>() + "' is not a byte count"};
    errno = 0;
    const unsigned long long v = std::strtoull(s.c_str(), nullptr, 10);
    if (errno == ERANGE) return Error{"field " + key + " = '" + s + "' is too large"};
    return std::optional<uint64_t>(v);
}

std::string string_field(const nlohmann::json& row, const std::string& key) {
    return row.contains(key) && row[key].is_string() ? row[key].get<std::string>() : std::string();
}

// The rows of every `kind` part of a report, pointing into `doc`: not copied, as a copy of a
// value nested deep enough recurses until the stack overflows.
Result<std::vector<const nlohmann::json*>> report_rows(const nlohmann::json& doc, const std::string& kind) {
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("report") || !doc["report"].is_array())
        return Error{"lvm report is not the expected JSON ({\"report\": [{\"" + kind + "\": [...]}]})"};
    std::vector<const nlohmann::json*> rows;
    for (const auto& part : doc["report"])
        if (part.is_object() && part.contains(kind) && part[kind].is_array())
            for (const auto& r : part[kind]) rows.push_back(&r);
    return rows;
}

// Attribute value in a tag's text: name="value".
std::optional<std::string> attribute(const std::string& tag, const std::string& name) {
    const std::string key = " " + name + "=\"";
    const size_t at = tag.find(key);
    if (at == std::string::npos) return std::nullopt;
    const size_t start = at + key.size();
    const size_t end = tag.find('"', start);
    if (end == std::string::npos) return std::nullopt;
    return tag.substr(start, end - start);
}

std::optional<uint64_t> number_attribute(const std::string& tag, const std::string& name) {
    auto v = attribute(tag, name);
    if (!v || v->empty()) return std::nullopt;
    for (char c : *v)
        if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    errno = 0;
    const unsigned long long n = std::strtoull(v->c_str(), nullptr, 10);
    if (errno == ERANGE) return std::nullopt;
    return n;
}

// The bytes of `count` blocks from block `first`, when that range fits in 64 bits: a wrapped
// offset would name other data, and data a map leaves out is never copied.
std::optional<Extent> block_range(uint64_t first, uint64_t count, uint64_t block_bytes) {
    const uint64_t max_blocks = UINT64_MAX / block_bytes;
    if (count > max_blocks || first > max_blocks - count) return std::nullopt;
    return Extent{first * block_bytes, count * block_bytes};
}

}  // namespace

Result<std::vector<LvRow>> parse_lvs_json(const std::string& text) {
    const auto doc = nlohmann::json::parse(text, nullptr, false);
    auto rows = report_rows(doc, "lv");
    if (!rows) return rows.take_error();
    std::vector<LvRow> out;
    size_t index = 0;
    for (const nlohmann::json* row : *rows) {
        const nlohmann::json& r = *row;
        const std::string where = "lvs row " + std::to_string(index++);
        LvRow lv;
        lv.name = string_field(r, "lv_name");
        if (lv.name.empty()) return Error{where + ": no lv_name"};
        auto size = bytes_field(r, "lv_size");
        if (!size) return Error{where + " (" + lv.name + "): " + size.error().message};
        if (!*size) return Error{where + " (" + lv.name + "): no lv_size"};
        lv.size = **size;
        lv.vg = string_field(r, "vg_name");
        lv.pool_lv = string_field(r, "pool_lv");
        lv.attr = string_field(r, "lv_attr");
        lv.segtype = string_field(r, "segtype");
        lv.path = string_field(r, "lv_path");
        const std::string pct = string_field(r, "data_percent");
        if (!pct.empty()) {
            char* end = nullptr;
            const double d = std::strtod(pct.c_str(), &end);
            if (*end != '\0' || !std::isfinite(d) || d < 0 || d > 100) return Error{where + " (" + lv.name + "): data_percent '" + pct + "' is not a percentage"};
            lv.data_percent = d;
        }
        auto chunk = bytes_field(r, "chunk_size");
        if (!chunk) return Error{where + " (" + lv.name + "): " + chunk.error().message};
        lv.chunk_size = chunk->value_or(0);
        auto thin_id = bytes_field(r, "thin_id");
        if (!thin_id) return Error{where + " (" + lv.name + "): " + thin_id.error().message};
        if (*thin_id) lv.thin_id = **thin_id;
        out.push_back(lv);
    }
    return out;
}

Result<std::vector<VgRow>> parse_vgs_json(const std::string& text) {
    const auto doc = nlohmann::json::parse(text, nullptr, false);
    auto rows = report_rows(doc, "vg");
    if (!rows) return rows.take_error();
    std::vector<VgRow> out;
    for (const nlohmann::json* row : *rows) {
        const nlohmann::json& r = *row;
        VgRow vg;
        vg.name = string_field(r, "vg_name");
        if (vg.name.empty()) return Error{"vgs row without vg_name"};
        auto size = bytes_field(r, "vg_size");
        auto free = bytes_field(r, "vg_free");
        auto extent = bytes_field(r, "vg_extent_size");
        if (!size || !free || !extent) return Error{"vgs row " + vg.name + ": malformed size field"};
        if (!*size || !*free) return Error{"vgs row " + vg.name + ": vg_size and vg_free are required"};
        vg.size = **size;
        vg.free = **free;
        vg.extent_size = extent->value_or(0);
        out.push_back(vg);
    }
    return out;
}

Result<ExtentMap> parse_thin_dump_xml(const std::string& xml, uint64_t dev_id, uint64_t volume_size) {
    uint64_t block_bytes = 0, expected_blocks = 0, seen_blocks = 0;
    bool in_device = false, found = false;
    std::vector<Extent> extents;
    size_t pos = 0;
    while ((pos = xml.find('<', pos)) != std::string::npos) {
        const size_t end = xml.find('>', pos);
        if (end == std::string::npos) return Error{"thin_dump output is truncated (an unterminated tag)"};
        const std::string tag = xml.substr(pos, end - pos + 1);
        pos = end + 1;
        if (tag.rfind("<superblock", 0) == 0) {
            auto sectors = number_attribute(tag, "data_block_size");
            if (!sectors || *sectors == 0) return Error{"thin_dump superblock has no data_block_size"};
            if (*sectors > UINT64_MAX / 512) return Error{"thin_dump data_block_size " + std::to_string(*sectors) + " sectors is impossibly large"};
            block_bytes = *sectors * 512;
        } else if (tag.rfind("<device", 0) == 0) {
            auto id = number_attribute(tag, "dev_id");
            if (!id) return Error{"thin_dump device without a numeric dev_id"};
            in_device = *id == dev_id;
            if (in_device) {
                if (found) return Error{"thin_dump lists device " + std::to_string(dev_id) + " twice"};
                found = true;
                auto mapped = number_attribute(tag, "mapped_blocks");
                if (!mapped) return Error{"thin_dump device " + std::to_string(dev_id) + " has no mapped_blocks"};
                expected_blocks = *mapped;
            }
        } else if (tag.rfind("</device", 0) == 0) {
            in_device = false;
        } else if (in_device && tag.rfind("<range_mapping", 0) == 0) {
            auto begin = number_attribute(tag, "origin_begin");
            auto length = number_attribute(tag, "length");
            if (!begin || !length || !block_bytes) return Error{"thin_dump range_mapping is malformed: " + tag};
            auto range = block_range(*begin, *length, block_bytes);
            if (!range || seen_blocks > UINT64_MAX - *length) return Error{"thin_dump range_mapping lies beyond 2^64 bytes: " + tag};
            extents.push_back(*range);
            seen_blocks += *length;
        } else if (in_device && tag.rfind("<single_mapping", 0) == 0) {
            auto block = number_attribute(tag, "origin_block");
            if (!block || !block_bytes) return Error{"thin_dump single_mapping is malformed: " + tag};
            auto range = block_range(*block, 1, block_bytes);
            if (!range || seen_blocks == UINT64_MAX) return Error{"thin_dump single_mapping lies beyond 2^64 bytes: " + tag};
            extents.push_back(*range);
            seen_blocks += 1;
        }
    }
    if (!block_bytes) return Error{"thin_dump output has no superblock"};
    // Reading nothing would copy nothing: a missing device or a short dump is an error, and the
    // caller falls back to treating the whole volume as data.
    if (!found) return Error{"thin_dump output has no device " + std::to_string(dev_id)};
    if (seen_blocks != expected_blocks)
        return Error{"thin_dump device " + std::to_string(dev_id) + " lists " + std::to_string(seen_blocks) + " mapped blocks but declares " +
                     std::to_string(expected_blocks) + " (truncated output?)"};
    return ExtentMap(volume_size, std::move(extents));
}

std::string dm_name(const std::string& vg, const std::string& lv) {
    auto escape = [](const std::string& s) {
        std::string out;
        for (char c : s) out += c == '-' ? std::string("--") : std::string(1, c);
        return out;
    };
    return escape(vg) + "-" + escape(lv);
}

bool thin_pool_zeroes(const std::string& pool_attr) { return pool_attr.size() >= 8 && pool_attr[7] == 'z'; }

}  // namespace volmig
