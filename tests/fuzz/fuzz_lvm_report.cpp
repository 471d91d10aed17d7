// Fuzz target: the parsers of what lvm2 and thin-provisioning-tools print (driver/lvm_report.hpp):
// parse_lvs_json, parse_vgs_json and parse_thin_dump_xml.
//
// Feeds: byte 0 picks the parser.
//  0: the rest as `lvs --reportformat json` output;   1: as `vgs --reportformat json` output;
//  2: one byte of dev_id and four of volume size (in 4 KiB), then the rest as thin_dump XML;
//  3: a description of a thin pool's metadata (data block size, devices and their single and
//     range mappings, declared mapped_blocks, any number however large) from which the target
//     writes thin_dump XML itself, knowing which byte ranges the mappings cover.
//
// Asserts, besides "no crash, no leak, no sanitizer report":
//  - an accepted lvs row has a name and a data_percent, when present, from 0 to 100; a vgs row a
//  name;
//  - an accepted thin_dump map has the volume's size;
//  - with the written XML (3), the parser returns exactly the ranges the device's mappings cover
//    (clipped to the volume), or refuses: when the mappings do not add up to mapped_blocks, and
//    when a mapping's byte range does not fit in 64 bits (a wrapped offset would name the wrong
//    data, and data not listed is never copied).
#include <string>
#include <vector>

#include "driver/lvm_report.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using namespace volmig;
using volmig::fuzz::check;

namespace {

// A number as the fuzz data chooses it: mostly small, sometimes at the edges of 64 bits.
uint64_t number(fuzz::ByteReader& in) {
    const uint8_t kind = in.byte();
    switch (kind & 3) {
        case 0:
            return kind >> 2;
        case 1:
            return in.integer(2);
        case 2:
            return in.integer(4);
        default:
            return in.integer(8);
    }
}

void written_thin_dump(fuzz::ByteReader& in) {
    const uint64_t dev_id = in.byte() % 4;
    const uint64_t volume_size = number(in) * 4096;
    const uint64_t sectors = number(in);
    const unsigned __int128 block_bytes = static_cast<unsigned __int128>(sectors) * 512;
    std::string xml =
        "<superblock uuid=\"\" time=\"1\" transaction=\"2\" flags=\"0\" version=\"2\" "
        "data_block_size=\"" +
        std::to_string(sectors) + "\" nr_data_blocks=\"0\">\n";
    std::vector<Extent> expected;
    bool fits = block_bytes > 0 && block_bytes <= UINT64_MAX, found = false, twice = false;
    unsigned __int128 mapped = 0, declared = 0;
    const unsigned devices = in.byte() % 4;
    for (unsigned d = 0; d < devices; ++d) {
        const uint64_t id = in.byte() % 4;
        const uint8_t shape = in.byte();
        const unsigned mappings = shape % 8;
        std::string body;
        unsigned __int128 blocks = 0;
        for (unsigned m = 0; m < mappings; ++m) {
            const uint64_t begin = number(in);
            const uint64_t length = in.byte() & 1 ? number(in) : 0;
            if (length) {
                body += "    <range_mapping origin_begin=\"" + std::to_string(begin) +
                        "\" data_begin=\"0\" length=\"" + std::to_string(length) +
                        "\" time=\"0\"/>\n";
            } else {
                body += "    <single_mapping origin_block=\"" + std::to_string(begin) +
                        "\" data_block=\"0\" time=\"0\"/>\n";
            }
            const uint64_t count = length ? length : 1;
            blocks += count;
            if (id == dev_id) {
                const unsigned __int128 offset = begin * block_bytes,
                                        end = (static_cast<unsigned __int128>(begin) + count) *
                                              block_bytes;
                if (end > UINT64_MAX)
                    fits = false;
                else
                    expected.push_back(
                        {static_cast<uint64_t>(offset), static_cast<uint64_t>(end - offset)});
            }
        }
        // Usually the truth; sometimes a count that does not match (a truncated dump).
        const uint64_t says = shape & 0x80 ? number(in) : static_cast<uint64_t>(blocks);
        xml += "  <device dev_id=\"" + std::to_string(id) + "\" mapped_blocks=\"" +
               std::to_string(says) +
               "\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n" + body +
               "  </device>\n";
        if (id == dev_id) {
            twice = twice || found;
            found = true;
            mapped = blocks;
            declared = says;
        }
    }
    xml += "</superblock>\n";
    auto map = parse_thin_dump_xml(xml, dev_id, volume_size);
    const bool acceptable = sectors != 0 && found && !twice && fits && mapped == declared;
    check(map.ok() == acceptable, std::string("the written thin_dump is ") +
                                      (acceptable ? "accepted" : "refused") + ":\n" + xml +
                                      (map.ok() ? std::string() : "\n" + map.error().message));
    if (!map) return;
    const ExtentMap truth(volume_size, expected);
    check(map->size() == volume_size && map->data() == truth.data(),
          "the map is the ranges the device's mappings cover:\n" + xml);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::ByteReader in(data, size);
    switch (in.byte() % 4) {
        case 0: {
            auto rows = parse_lvs_json(in.rest());
            if (rows)
                for (const LvRow& row : *rows)
                    check(!row.name.empty() && (!row.data_percent || (*row.data_percent >= 0 &&
                                                                      *row.data_percent <= 100)),
                          "an lvs row has a name and a data_percent from 0 to 100");
            break;
        }
        case 1: {
            auto rows = parse_vgs_json(in.rest());
            if (rows)
                for (const VgRow& row : *rows) check(!row.name.empty(), "a vgs row has a name");
            break;
        }
        case 2: {
            const uint64_t dev_id = in.byte();
            const uint64_t volume_size = in.integer(4) * 4096;
            auto map = parse_thin_dump_xml(in.rest(), dev_id, volume_size);
            if (map) check(map->size() == volume_size, "a thin_dump map has the volume's size");
            break;
        }
        default:
            written_thin_dump(in);
    }
    return 0;
}
