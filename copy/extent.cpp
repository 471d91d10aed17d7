#include "copy/extent.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace volmig {

ExtentMap::ExtentMap(uint64_t size, std::vector<Extent> data_extents) : size_(size) {
    std::sort(data_extents.begin(), data_extents.end(),
              [](const Extent& a, const Extent& b) { return a.offset < b.offset; });
    for (Extent e : data_extents) {
        if (e.offset >= size_ || e.length == 0) continue;
        e.length = std::min(e.length, size_ - e.offset);
        if (!data_.empty() && e.offset <= data_.back().end()) {
            Extent& last = data_.back();
            last.length = std::max(last.end(), e.end()) - last.offset;
        } else {
            data_.push_back(e);
        }
    }
}

ExtentMap ExtentMap::all_data(uint64_t size) { return ExtentMap(size, {{0, size}}); }

uint64_t ExtentMap::data_bytes() const {
    uint64_t total = 0;
    for (const Extent& e : data_) total += e.length;
    return total;
}

std::vector<Extent> ExtentMap::holes() const {
    std::vector<Extent> out;
    uint64_t pos = 0;
    for (const Extent& e : data_) {
        if (e.offset > pos) out.push_back({pos, e.offset - pos});
        pos = e.end();
    }
    if (pos < size_) out.push_back({pos, size_ - pos});
    return out;
}

Result<ExtentMap> parse_extent_map_json(const std::string& text) {
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object())
        return Error{"extent map: not a JSON object ({\"size\": N, \"extents\": [[offset, length], ...]})"};
    if (!doc.contains("size") || !doc["size"].is_number_unsigned())
        return Error{"extent map: \"size\" must be a non-negative integer"};
    if (!doc.contains("extents") || !doc["extents"].is_array())
        return Error{"extent map: \"extents\" must be an array of [offset, length] pairs"};
    const uint64_t size = doc["size"].get<uint64_t>();
    std::vector<Extent> extents;
    size_t index = 0;
    for (const auto& item : doc["extents"]) {
        const std::string where = "extent map: extents[" + std::to_string(index++) + "]";
        if (!item.is_array() || item.size() != 2 || !item[0].is_number_unsigned() ||
            !item[1].is_number_unsigned())
            return Error{where + " must be [offset, length] with non-negative integers"};
        Extent e{item[0].get<uint64_t>(), item[1].get<uint64_t>()};
        if (e.offset > size || e.length > size - e.offset)
            return Error{where + " [" + std::to_string(e.offset) + ", " + std::to_string(e.length) +
                         "] reaches beyond the volume size " + std::to_string(size)};
        extents.push_back(e);
    }
    return ExtentMap(size, std::move(extents));
}

std::string extent_map_to_json(const ExtentMap& map) {
    nlohmann::json extents = nlohmann::json::array();
    for (const Extent& e : map.data()) extents.push_back({e.offset, e.length});
    return nlohmann::json{{"size", map.size()}, {"extents", extents}}.dump();
}

}  // namespace volmig
