// driver/lvm_report: parsing lvs/vgs JSON and thin_dump XML, against real lvm2 2.03.16 and
// thin-provisioning-tools 0.9.0 output (tests/data/lvm, see its README.md) and odd hand-written
// input; device-mapper names and the pool zeroing attribute.
#include <doctest/doctest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "driver/lvm_report.hpp"
#include "tests/support/fixtures.hpp"

using namespace volmig;
using namespace volmig::test;

namespace {

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;

std::string fixture(const std::string& name) {
    const std::string path = std::string(VOLMIG_SOURCE_DIR) + "/tests/data/lvm/" + name;
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "cannot read fixture " << path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::vector<LvRow> lvs_ok(const std::string& text) {
    auto r = parse_lvs_json(text);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    return std::move(r).value();
}

std::string lvs_error(const std::string& text) {
    auto r = parse_lvs_json(text);
    REQUIRE_FALSE_MESSAGE(r.ok(), "parsed although it should not: " << text);
    return r.error().message;
}

const LvRow& row_named(const std::vector<LvRow>& rows, const std::string& name) {
    for (const auto& r : rows)
        if (r.name == name) return r;
    FAIL("no row named " << name);
    throw 0;  // unreachable: FAIL throws
}

// A one-row lvs report whose row is `fields` (JSON object members, without braces).
std::string one_lv(const std::string& fields) {
    return R"({"report": [{"lv": [{)" + fields + R"(}]}]})";
}

ExtentMap thin_ok(const std::string& xml, uint64_t dev_id, uint64_t size) {
    auto r = parse_thin_dump_xml(xml, dev_id, size);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    return std::move(r).value();
}

std::string thin_error(const std::string& xml, uint64_t dev_id, uint64_t size) {
    auto r = parse_thin_dump_xml(xml, dev_id, size);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
}

// Replaces the first occurrence of `from` in `text`; REQUIREs it is there.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, "fixture no longer contains " << from);
    return text.replace(at, from.size(), to);
}

}  // namespace

// ---- lvs ------------------------------------------------------------------------------------

TEST_CASE(
    "driver lvm report: lvs of a VG with a thin pool, thin and thick LVs (real output, "
    "--nosuffix)") {
    auto rows = lvs_ok(fixture("lvs-thin-thick-nosuffix.json"));
    REQUIRE(rows.size() == 6);
    CHECK(rows[0].name == "cinder-volumes-pool");  // lvm's order is kept

    const auto& pool = row_named(rows, "cinder-volumes-pool");
    CHECK(pool.vg == "cinder-volumes");
    CHECK(pool.size == 2 * GiB);
    CHECK(pool.segtype == "thin-pool");
    CHECK(pool.attr == "twi-aotz--");
    CHECK(pool.chunk_size == 64 * KiB);
    CHECK(pool.path.empty());
    REQUIRE(pool.data_percent);
    CHECK(*pool.data_percent == doctest::Approx(12.70));
    CHECK_FALSE(pool.thin_id);  // not asked for in this report

    const auto& partial = row_named(rows, "volume-thin-partial");
    CHECK(partial.size == GiB);
    CHECK(partial.pool_lv == "cinder-volumes-pool");
    CHECK(partial.segtype == "thin");
    CHECK(partial.path == "/dev/cinder-volumes/volume-thin-partial");
    CHECK(partial.chunk_size == 0);
    REQUIRE(partial.data_percent);
    CHECK(*partial.data_percent == doctest::Approx(0.40));

    const auto& full = row_named(rows, "volume-thin-full");
    CHECK(full.size == 256 * MiB);
    REQUIRE(full.data_percent);
    CHECK(*full.data_percent == doctest::Approx(100.0));

    const auto& empty = row_named(rows, "volume-thin-empty");
    REQUIRE(empty.data_percent);
    CHECK(*empty.data_percent == 0.0);

    // Thick LVs: data_percent "" means no Data% at all, not 0.
    const auto& thick_a = row_named(rows, "volume-thick-a");
    CHECK(thick_a.size == 512 * MiB);
    CHECK(thick_a.segtype == "linear");
    CHECK(thick_a.pool_lv.empty());
    CHECK_FALSE(thick_a.data_percent);
    const auto& thick_b = row_named(rows, "volume-thick-b");
    CHECK(thick_b.size == 12 * MiB);  // lvcreate -L 10M, rounded up to 3 extents
    CHECK_FALSE(thick_b.data_percent);
}

TEST_CASE("driver lvm report: the B suffix reads the same as --nosuffix") {
    auto plain = lvs_ok(fixture("lvs-thin-thick-nosuffix.json"));
    auto suffixed = lvs_ok(fixture("lvs-thin-thick-suffix.json"));
    REQUIRE(plain.size() == suffixed.size());
    for (size_t i = 0; i < plain.size(); ++i) {
        CAPTURE(plain[i].name);
        CHECK(suffixed[i].name == plain[i].name);
        CHECK(suffixed[i].size == plain[i].size);
        CHECK(suffixed[i].chunk_size == plain[i].chunk_size);
        CHECK(suffixed[i].data_percent.has_value() == plain[i].data_percent.has_value());
    }
    CHECK(row_named(suffixed, "cinder-volumes-pool").chunk_size == 65536);
    CHECK(row_named(suffixed, "volume-thick-b").size == 12582912);
}

TEST_CASE("driver lvm report: an empty thin pool, with and without suffix") {
    for (const std::string file : {"lvs-empty-pool-nosuffix.json", "lvs-empty-pool-suffix.json"}) {
        CAPTURE(file);
        auto rows = lvs_ok(fixture(file));
        REQUIRE(rows.size() == 1);
        CHECK(rows[0].name == "pool-empty");
        CHECK(rows[0].vg == "vg-empty-pool");
        CHECK(rows[0].size == GiB);
        CHECK(rows[0].chunk_size == 256 * KiB);
        CHECK(rows[0].segtype == "thin-pool");
        REQUIRE(rows[0].data_percent);
        CHECK(*rows[0].data_percent == 0.0);
        CHECK(thin_pool_zeroes(rows[0].attr));
    }
}

TEST_CASE("driver lvm report: a missing LV or VG gives a valid report with no rows") {
    CHECK(lvs_ok(fixture("lvs-lv-not-found.stdout")).empty());
    CHECK(lvs_ok(fixture("lvs-vg-not-found.stdout")).empty());
}

TEST_CASE("driver lvm report: a single LV's report and the hidden sub-LVs of lvs -a") {
    auto single = lvs_ok(fixture("lvs-single-lv-nosuffix.json"));
    REQUIRE(single.size() == 1);
    CHECK(single[0].name == "volume-thin-partial");
    CHECK(single[0].size == GiB);

    auto all = lvs_ok(fixture("lvs-thin-thick-all-nosuffix.json"));
    CHECK(all.size() == 9);
    CHECK(row_named(all, "[cinder-volumes-pool_tmeta]").size == 4 * MiB);
}

TEST_CASE(
    "driver lvm report: thin ids, an inactive snapshot without Data%, and fields the parser does "
    "not know") {
    auto rows = lvs_ok(fixture("lvs-with-snapshot-nosuffix.json"));
    REQUIRE(rows.size() == 6);
    const auto& snap = row_named(rows, "_snapshot-of-partial");
    REQUIRE(snap.thin_id);
    CHECK(*snap.thin_id == 4);
    CHECK_FALSE(snap.data_percent);  // inactive: unknown, not 0
    CHECK(snap.attr == "Vwi---tz-k");
    const auto& partial = row_named(rows, "volume-thin-partial");
    REQUIRE(partial.thin_id);
    CHECK(*partial.thin_id == 2);
    CHECK(*partial.data_percent == doctest::Approx(0.30));
    CHECK(partial.vg.empty());                               // not in this report
    CHECK_FALSE(row_named(rows, "volume-thick-a").thin_id);  // thin_id "" is absent, not 0
}

TEST_CASE("driver lvm report: Data% after a discard (real output)") {
    auto rows = lvs_ok(fixture("lvs-after-discard-nosuffix.json"));
    const auto& partial = row_named(rows, "volume-thin-partial");
    REQUIRE(partial.data_percent);
    CHECK(*partial.data_percent == doctest::Approx(0.30));
}

TEST_CASE(
    "driver lvm report: a report without lv_size (the extra-fields capture) is refused, naming the "
    "row") {
    auto message = lvs_error(fixture("lvs-extra-fields-nosuffix.json"));
    CHECK(contains(message, "lvs row 0"));
    CHECK(contains(message, "cinder-volumes-pool"));
    CHECK(contains(message, "lv_size"));
}

TEST_CASE("driver lvm report: sizes up to 2^64 - 1 are read exactly: beyond is an error") {
    auto max = lvs_ok(one_lv(R"("lv_name":"big", "lv_size":"18446744073709551615")"));
    CHECK(max[0].size == UINT64_MAX);
    auto near = lvs_ok(one_lv(
        R"("lv_name":"big", "lv_size":"18446744073709551104B", "chunk_size":"9223372036854775808B")"));
    CHECK(near[0].size == UINT64_MAX - 511);
    CHECK(near[0].chunk_size == (1ull << 63));

    auto over = lvs_error(one_lv(R"("lv_name":"big", "lv_size":"18446744073709551616")"));
    CHECK(contains(over, "big"));
    CHECK(contains(over, "lv_size"));
    CHECK(contains(over, "too large"));
    auto far_over =
        lvs_error(one_lv(R"("lv_name":"big", "lv_size":"99999999999999999999999999B")"));
    CHECK(contains(far_over, "lv_size"));
    auto chunk_over =
        lvs_error(one_lv(R"("lv_name":"big", "lv_size":"1", "chunk_size":"18446744073709551616")"));
    CHECK(contains(chunk_over, "chunk_size"));
}

TEST_CASE("driver lvm report: a size that is not a byte count is an error") {
    for (const std::string size : {"1.00g", "12.5", "-1", "1 B", "0x10", "abc"}) {
        CAPTURE(size);
        auto message =
            lvs_error(one_lv(std::string(R"("lv_name":"v", "lv_size":")") + size + "\""));
        CHECK(contains(message, "lvs row 0 (v)"));
        CHECK(contains(message, "lv_size"));
    }
}

TEST_CASE("driver lvm report: JSON numbers are accepted, negative numbers are not") {
    auto rows = lvs_ok(one_lv(R"("lv_name":"n", "lv_size":4096, "chunk_size":65536)"));
    CHECK(rows[0].size == 4096);
    CHECK(rows[0].chunk_size == 65536);
    auto message = lvs_error(one_lv(R"("lv_name":"n", "lv_size":-4096)"));
    CHECK(contains(message, "lv_size"));
}

TEST_CASE("driver lvm report: a row without lv_name or lv_size is an error naming the row") {
    SUBCASE("no lv_name, second row") {
        auto message = lvs_error(
            R"({"report": [{"lv": [{"lv_name":"ok", "lv_size":"1"}, {"lv_size":"2", "vg_name":"vg"}]}]})");
        CHECK(contains(message, "lvs row 1"));
        CHECK(contains(message, "lv_name"));
    }
    SUBCASE("empty lv_name") {
        CHECK(contains(lvs_error(one_lv(R"("lv_name":"", "lv_size":"1")")), "lv_name"));
    }
    SUBCASE("no lv_size") {
        auto message = lvs_error(one_lv(R"("lv_name":"volume-x", "vg_name":"vg")"));
        CHECK(contains(message, "lvs row 0 (volume-x)"));
        CHECK(contains(message, "no lv_size"));
    }
    SUBCASE("empty lv_size, with or without the suffix") {
        CHECK(contains(lvs_error(one_lv(R"("lv_name":"volume-x", "lv_size":"")")), "lv_size"));
        CHECK(contains(lvs_error(one_lv(R"("lv_name":"volume-x", "lv_size":"B")")), "lv_size"));
    }
}

TEST_CASE("driver lvm report: data_percent must be a percentage from 0 to 100") {
    for (const std::string pct : {"abc", "150", "100.01", "-1", "0.40%", "12,70", "inf"}) {
        CAPTURE(pct);
        auto message = lvs_error(
            one_lv(std::string(R"("lv_name":"v", "lv_size":"1", "data_percent":")") + pct + "\""));
        CHECK(contains(message, "lvs row 0 (v)"));
        CHECK(contains(message, "data_percent"));
        CHECK(contains(message, pct));
    }
    auto edge = lvs_ok(one_lv(R"("lv_name":"v", "lv_size":"1", "data_percent":"100.00")"));
    CHECK(*edge[0].data_percent == 100.0);
}

TEST_CASE("driver lvm report: data_percent \"nan\" is not a percentage") {
    // strtod reads "nan", and NaN compares false with both bounds; lvm_usage would turn it into
    // llround(NaN) bytes allocated.
    auto message =
        lvs_error(one_lv(R"("lv_name":"v", "lv_size":"1073741824", "data_percent":"nan")"));
    CHECK(contains(message, "data_percent"));
}

TEST_CASE("driver lvm report: unknown fields, of any JSON type, are ignored") {
    auto rows = lvs_ok(one_lv(
        R"("lv_name":"v", "lv_size":"8192", "lv_uuid":"abc-def", "future":{"nested":[1,2,3]}, "flag":true, "n":null, "zero":"zero")"));
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].name == "v");
    CHECK(rows[0].size == 8192);
}

TEST_CASE(
    "driver lvm report: rows from several report parts are gathered; other kinds are skipped") {
    auto rows = lvs_ok(
        R"({"report": [{"lv": [{"lv_name":"a", "lv_size":"1"}]}, {"vg": [{"vg_name":"x"}]}, {"lv": [{"lv_name":"b", "lv_size":"2"}]}]})");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].name == "a");
    CHECK(rows[1].name == "b");
}

TEST_CASE("driver lvm report: text that is not an lvm JSON report is an error") {
    for (const std::string text :
         {"", "not json", "  Volume group \"x\" not found", "[]", "{\"report\": {}}",
          "{\"lv\": []}", "{\"report\": [{\"lv\": [{\"lv_name\": \"a\""}) {
        CAPTURE(text);
        auto message = lvs_error(text);
        CHECK(contains(message, "lvm report"));
    }
    auto vgs = parse_vgs_json("garbage");
    REQUIRE_FALSE(vgs.ok());
    CHECK(contains(vgs.error().message, "lvm report"));
}

TEST_CASE("driver lvm report: a row nested 100000 arrays deep is an error, not a stack overflow") {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    CHECK(contains(lvs_error(R"({"report": [{"lv": [)" + deep + "]}]}"), "no lv_name"));
    auto vgs = parse_vgs_json(R"({"report": [{"vg": [)" + deep + "]}]}");
    REQUIRE_FALSE(vgs.ok());
    CHECK(contains(vgs.error().message, "without vg_name"));
}

// ---- vgs ------------------------------------------------------------------------------------

TEST_CASE("driver lvm report: vgs of two VGs (real output), with and without the B suffix") {
    for (const std::string file : {"vgs-nosuffix.json", "vgs-suffix.json"}) {
        CAPTURE(file);
        auto r = parse_vgs_json(fixture(file));
        REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
        REQUIRE(r->size() == 2);
        CHECK((*r)[0].name == "cinder-volumes");
        CHECK((*r)[0].size == 8585740288ull);
        CHECK((*r)[0].free == 5880414208ull);
        CHECK((*r)[0].extent_size == 4 * MiB);
        CHECK((*r)[1].name == "vg-empty-pool");
        CHECK((*r)[1].free == 7503609856ull);
    }
}

TEST_CASE(
    "driver lvm report: vgs rows need vg_name, vg_size and vg_free; a full VG has vg_free 0") {
    auto full = parse_vgs_json(
        R"({"report": [{"vg": [{"vg_name":"full", "vg_size":"4194304", "vg_free":"0"}]}]})");
    REQUIRE_MESSAGE(full.ok(), (full.ok() ? "" : full.error().message));
    CHECK((*full)[0].free == 0);
    CHECK((*full)[0].extent_size == 0);

    auto no_name = parse_vgs_json(R"({"report": [{"vg": [{"vg_size":"1", "vg_free":"1"}]}]})");
    REQUIRE_FALSE(no_name.ok());
    CHECK(contains(no_name.error().message, "vg_name"));
    auto no_free =
        parse_vgs_json(R"({"report": [{"vg": [{"vg_name":"v", "vg_size":"1", "vg_free":""}]}]})");
    REQUIRE_FALSE(no_free.ok());
    CHECK(contains(no_free.error().message, "v"));
    CHECK(contains(no_free.error().message, "vg_free"));
    auto bad_size =
        parse_vgs_json(R"({"report": [{"vg": [{"vg_name":"v", "vg_size":"8g", "vg_free":"1"}]}]})");
    REQUIRE_FALSE(bad_size.ok());
    CHECK(contains(bad_size.error().message, "vgs row v"));
    auto huge = parse_vgs_json(
        R"({"report": [{"vg": [{"vg_name":"v", "vg_size":"18446744073709551616", "vg_free":"1"}]}]})");
    CHECK_FALSE(huge.ok());
    CHECK(parse_vgs_json(fixture("lvs-vg-not-found.stdout"))->empty());  // no "vg" part: no rows
}

// ---- thin_dump ------------------------------------------------------------------------------

TEST_CASE(
    "driver lvm report: thin_dump before any discard gives volume-thin-partial's written ranges") {
    // Written: [0, 1 MiB), [64 MiB, 67 MiB), 4 KiB at 200 MiB (the whole 64 KiB chunk is mapped).
    auto map = thin_ok(fixture("thin-dump-before-discard.xml"), 2, GiB);
    CHECK(map.size() == GiB);
    CHECK(map.data() == std::vector<Extent>{{0, MiB}, {64 * MiB, 3 * MiB}, {200 * MiB, 64 * KiB}});
    CHECK(map.data_bytes() == 65 * 64 * KiB);
    CHECK(map.data_bytes() == 4259840);
}

TEST_CASE("driver lvm report: thin_dump of only that device (--dev-id) gives the same map") {
    auto map = thin_ok(fixture("thin-dump-partial-dev-only.xml"), 2, GiB);
    CHECK(map.data() == std::vector<Extent>{{0, MiB}, {64 * MiB, 3 * MiB}, {200 * MiB, 64 * KiB}});
    // ... and the other devices are not in it.
    CHECK(contains(thin_error(fixture("thin-dump-partial-dev-only.xml"), 1, GiB), "no device 1"));
}

TEST_CASE(
    "driver lvm report: thin_dump after the discards: 1 MiB unmapped at 64 MiB, the partly "
    "discarded chunk kept") {
    auto map = thin_ok(fixture("thin-dump-after-discard.xml"), 2, GiB);
    CHECK(map.data() == std::vector<Extent>{{0, MiB}, {65 * MiB, 2 * MiB}, {200 * MiB, 64 * KiB}});
    CHECK(map.data_bytes() == 49 * 64 * KiB);
}

TEST_CASE("driver lvm report: thin_dump of a never-written device and of a full one") {
    auto empty = thin_ok(fixture("thin-dump-before-discard.xml"), 1, GiB);
    CHECK(empty.size() == GiB);
    CHECK(empty.data().empty());
    CHECK(empty.data_bytes() == 0);
    CHECK(empty.holes() == std::vector<Extent>{{0, GiB}});

    auto full = thin_ok(fixture("thin-dump-before-discard.xml"), 3, 256 * MiB);
    CHECK(full.data() == std::vector<Extent>{{0, 256 * MiB}});
    CHECK(full.holes().empty());
}

TEST_CASE(
    "driver lvm report: thin_dump with a snapshot: adjacent single and range mappings merge") {
    auto origin = thin_ok(fixture("thin-dump-with-snapshot.xml"), 2, GiB);
    CHECK(origin.data() ==
          std::vector<Extent>{{0, MiB}, {65 * MiB, 2 * MiB}, {300 * MiB, 64 * KiB}});
    auto snapshot = thin_ok(fixture("thin-dump-with-snapshot.xml"), 4, GiB);
    CHECK(snapshot.data() == std::vector<Extent>{{0, MiB}, {65 * MiB, 2 * MiB}});
}

TEST_CASE("driver lvm report: a device absent from the dump is an error, not an empty map") {
    auto message = thin_error(fixture("thin-dump-before-discard.xml"), 7, GiB);
    CHECK(contains(message, "no device 7"));
}

TEST_CASE(
    "driver lvm report: a dump whose mappings do not add up to mapped_blocks is refused "
    "(truncated)") {
    const std::string xml = fixture("thin-dump-before-discard.xml");
    SUBCASE("a mapping line missing") {
        auto cut =
            replaced(xml, R"(<single_mapping origin_block="3200" data_block="64" time="0"/>)", "");
        auto message = thin_error(cut, 2, GiB);
        CHECK(contains(message, "device 2"));
        CHECK(contains(message, "64"));
        CHECK(contains(message, "65"));
    }
    SUBCASE("the output stops after a complete tag") {
        const size_t at = xml.find(R"(<range_mapping origin_begin="1024")");
        REQUIRE(at != std::string::npos);
        auto message = thin_error(xml.substr(0, at), 2, GiB);
        CHECK(contains(message, "device 2"));
        CHECK(contains(message, "16"));
    }
    SUBCASE("the output stops inside a tag") {
        const size_t at = xml.find(R"(<single_mapping origin_block="3200")");
        REQUIRE(at != std::string::npos);
        auto message = thin_error(xml.substr(0, at + 20), 2, GiB);
        CHECK(contains(message, "truncated"));
    }
    SUBCASE("mapped_blocks says fewer than are listed") {
        auto more =
            replaced(xml, R"(dev_id="2" mapped_blocks="65")", R"(dev_id="2" mapped_blocks="16")");
        CHECK(contains(thin_error(more, 2, GiB), "declares 16"));
    }
    SUBCASE("mapped_blocks missing") {
        auto none = replaced(xml, R"(dev_id="2" mapped_blocks="65")", R"(dev_id="2")");
        CHECK(contains(thin_error(none, 2, GiB), "mapped_blocks"));
    }
}

TEST_CASE("driver lvm report: a dump without a superblock (or its data_block_size) is refused") {
    CHECK(contains(thin_error("", 2, GiB), "superblock"));
    CHECK(contains(
        thin_error(R"(<device dev_id="2" mapped_blocks="0" transaction="1"></device>)", 2, GiB),
        "superblock"));
    auto no_block_size =
        replaced(fixture("thin-dump-before-discard.xml"), R"(data_block_size="128" )", "");
    CHECK(contains(thin_error(no_block_size, 2, GiB), "data_block_size"));
    auto zero_block_size = replaced(fixture("thin-dump-before-discard.xml"),
                                    R"(data_block_size="128")", R"(data_block_size="0")");
    CHECK(contains(thin_error(zero_block_size, 2, GiB), "data_block_size"));
}

TEST_CASE("driver lvm report: malformed mappings and a device listed twice are refused") {
    const std::string head =
        R"(<superblock uuid="" time="0" transaction="1" data_block_size="128" nr_data_blocks="0">)";
    CHECK(contains(
        thin_error(
            head +
                R"(<device dev_id="2" mapped_blocks="1"><range_mapping origin_begin="x" data_begin="0" length="1"/></device></superblock>)",
            2, GiB),
        "range_mapping"));
    CHECK(contains(
        thin_error(
            head +
                R"(<device dev_id="2" mapped_blocks="1"><single_mapping data_block="0"/></device></superblock>)",
            2, GiB),
        "single_mapping"));
    CHECK(contains(
        thin_error(
            head +
                R"(<device dev_id="2" mapped_blocks="0"></device><device dev_id="2" mapped_blocks="0"></device></superblock>)",
            2, GiB),
        "twice"));
    CHECK(contains(
        thin_error(head + R"(<device dev_id="two" mapped_blocks="0"></device></superblock>)", 2,
                   GiB),
        "dev_id"));
}

TEST_CASE("driver lvm report: extents are clipped to the volume size") {
    const std::string xml = fixture("thin-dump-before-discard.xml");
    // The thin LV is 1 GiB, but the caller copies a 100 MiB volume: the chunk at 200 MiB goes.
    CHECK(thin_ok(xml, 2, 100 * MiB).data() == std::vector<Extent>{{0, MiB}, {64 * MiB, 3 * MiB}});
    // Cut through the middle of the 64 MiB run.
    auto cut = thin_ok(xml, 2, 65 * MiB);
    CHECK(cut.size() == 65 * MiB);
    CHECK(cut.data() == std::vector<Extent>{{0, MiB}, {64 * MiB, MiB}});
    // Cut inside a chunk.
    CHECK(thin_ok(xml, 2, 512 * KiB + 4096).data() == std::vector<Extent>{{0, 512 * KiB + 4096}});
    CHECK(thin_ok(xml, 3, 10 * MiB).data() == std::vector<Extent>{{0, 10 * MiB}});
}

TEST_CASE("driver lvm report: the chunk size comes from data_block_size in 512-byte sectors") {
    // The empty pool's 256 KiB chunks: data_block_size 512.
    const std::string xml =
        R"(<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="512" nr_data_blocks="0">
  <device dev_id="1" mapped_blocks="3" transaction="0" creation_time="0" snap_time="0">
    <single_mapping origin_block="1" data_block="0" time="0"/>
    <range_mapping origin_begin="10" data_begin="1" length="2" time="0"/>
  </device>
</superblock>
)";
    CHECK(thin_ok(xml, 1, GiB).data() ==
          std::vector<Extent>{{256 * KiB, 256 * KiB}, {2560 * KiB, 512 * KiB}});
}

TEST_CASE("driver lvm report: a mapping or block size whose bytes do not fit in 64 bits is refused, not wrapped") {
    const std::string head =
        R"(<superblock uuid="" time="0" transaction="1" data_block_size="128" nr_data_blocks="0">)";
    // 2^64 / 64 KiB = 2^48: block 2^48 starts at byte 2^64, which wraps to 0.
    const std::string wrapping_block = std::to_string(1ull << 48);
    CHECK(contains(thin_error(head + R"(<device dev_id="2" mapped_blocks="1"><single_mapping origin_block=")" + wrapping_block +
                                  R"(" data_block="0"/></device></superblock>)",
                              2, GiB),
                   "beyond 2^64"));
    CHECK(contains(thin_error(head + R"(<device dev_id="2" mapped_blocks="1"><range_mapping origin_begin=")" + wrapping_block +
                                  R"(" data_begin="0" length="1"/></device></superblock>)",
                              2, GiB),
                   "beyond 2^64"));
    // Lengths whose sum wraps to mapped_blocks (what the fuzzer found): 1048577 + (2^64 - 1).
    CHECK(contains(thin_error(head + R"(<device dev_id="2" mapped_blocks="1048576">)"
                                     R"(<range_mapping origin_begin="1" data_begin="0" length="1048577"/>)"
                                     R"(<range_mapping origin_begin="0" data_begin="0" length="18446744073709551615"/></device></superblock>)",
                              2, GiB),
                   "beyond 2^64"));
    // 2^55 sectors of 512 bytes are 2^64 bytes: the block size itself wraps to 0.
    CHECK(contains(thin_error(replaced(head, R"(data_block_size="128")", "data_block_size=\"" + std::to_string(1ull << 55) + "\"") +
                                  R"(<device dev_id="2" mapped_blocks="0"></device></superblock>)",
                              2, GiB),
                   "data_block_size"));
}

// ---- names and attributes -------------------------------------------------------------------

TEST_CASE("driver lvm report: dm_name doubles the dashes inside VG and LV names") {
    CHECK(dm_name("vg", "lv") == "vg-lv");
    CHECK(dm_name("cinder-volumes", "volume-thin-partial") ==
          "cinder--volumes-volume--thin--partial");
    CHECK(dm_name("a--b", "c-") == "a----b-c--");
    CHECK(dm_name("cinder-volumes", "volume-3f1c2e9a-0b7d-4e4e-9a5c-1d2e3f4a5b6c") ==
          "cinder--volumes-volume--3f1c2e9a--0b7d--4e4e--9a5c--1d2e3f4a5b6c");
}

TEST_CASE(
    "driver lvm report: dm_name matches every /dev/VG/LV -> /dev/mapper/NAME link of the real "
    "capture") {
    std::stringstream in(fixture("dev-nodes.txt"));
    std::string line, vg;
    int checked = 0;
    while (std::getline(in, line)) {
        if (line.rfind("/dev/", 0) == 0 && line.back() == ':' && line != "/dev/mapper:") {
            vg = line.substr(5, line.size() - 6);
            continue;
        }
        const size_t arrow = line.find(" -> /dev/mapper/");
        if (vg.empty() || arrow == std::string::npos) continue;
        const std::string lv =
            line.substr(line.rfind(' ', arrow - 1) + 1, arrow - line.rfind(' ', arrow - 1) - 1);
        const std::string expected = line.substr(arrow + std::string(" -> /dev/mapper/").size());
        CAPTURE(line);
        CHECK(dm_name(vg, lv) == expected);
        ++checked;
    }
    CHECK(checked == 6);
}

TEST_CASE("driver lvm report: thin_pool_zeroes reads the 8th lv_attr character") {
    CHECK(thin_pool_zeroes("twi-aotz--"));
    CHECK(thin_pool_zeroes("twi-a-tz--"));
    CHECK_FALSE(thin_pool_zeroes("twi-aot---"));
    CHECK_FALSE(thin_pool_zeroes("-wi-a-----"));
    CHECK_FALSE(thin_pool_zeroes("twi-aot"));
    CHECK_FALSE(thin_pool_zeroes(""));
    // The real pools of the capture both zero new chunks.
    CHECK(thin_pool_zeroes(
        row_named(lvs_ok(fixture("lvs-thin-thick-nosuffix.json")), "cinder-volumes-pool").attr));
}
