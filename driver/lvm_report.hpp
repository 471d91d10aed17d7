// Parsing what lvm2 and thin-provisioning-tools print, as pure functions over text, so that
// odd output (empty pools, huge numbers, missing fields, suffixes) is tested without LVM.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "copy/extent.hpp"
#include "copy/result.hpp"

namespace volmig {

struct LvRow {
    std::string name, vg, pool_lv, attr, segtype, path;
    uint64_t size = 0;
    std::optional<double> data_percent;  // absent for linear LVs
    uint64_t chunk_size = 0;
    std::optional<uint64_t> thin_id;
};

struct VgRow {
    std::string name;
    uint64_t size = 0, free = 0, extent_size = 0;
};

// `lvs --reportformat json --units b [--nosuffix] -o ...`: fields may carry a "B" suffix or be
// empty; unknown fields are ignored; a missing lv_name or lv_size is an error.
Result<std::vector<LvRow>> parse_lvs_json(const std::string& text);
// `vgs --reportformat json --units b [--nosuffix] -o vg_name,vg_size,vg_free,vg_extent_size`.
Result<std::vector<VgRow>> parse_vgs_json(const std::string& text);

// `thin_dump -f xml` output: the data extents of thin device `dev_id` as byte ranges of the
// thin volume (block numbers times data_block_size sectors), for a volume of `volume_size`.
// A device absent from the dump, or whose mappings do not add up to its mapped_blocks, is an
// error: an empty map would mean "copy nothing".
Result<ExtentMap> parse_thin_dump_xml(const std::string& xml, uint64_t dev_id, uint64_t volume_size);

// The device-mapper name of an LV: dashes in VG and LV names are doubled ("a-b" -> "a--b").
std::string dm_name(const std::string& vg, const std::string& lv);

// Whether a thin pool zeroes newly provisioned chunks: the 8th lv_attr character is 'z'.
bool thin_pool_zeroes(const std::string& pool_attr);

}  // namespace volmig
