#include <doctest/doctest.h>

#include "copy/extent.hpp"

using volmig::Extent;
using volmig::ExtentMap;

TEST_CASE("ExtentMap: sorts, merges overlapping and adjacent extents, drops empty ones") {
    ExtentMap m(1000, {{500, 100}, {0, 10}, {10, 5}, {550, 100}, {800, 0}, {700, 50}});
    REQUIRE(m.data().size() == 3);
    CHECK(m.data()[0] == Extent{0, 15});
    CHECK(m.data()[1] == Extent{500, 150});
    CHECK(m.data()[2] == Extent{700, 50});
    CHECK(m.data_bytes() == 215);
}

TEST_CASE("ExtentMap: extents are clipped to the volume size") {
    ExtentMap m(100, {{90, 50}, {200, 10}});
    REQUIRE(m.data().size() == 1);
    CHECK(m.data()[0] == Extent{90, 10});
}

TEST_CASE("ExtentMap: holes are the exact complement") {
    ExtentMap m(100, {{10, 10}, {50, 50}});
    auto holes = m.holes();
    REQUIRE(holes.size() == 2);
    CHECK(holes[0] == Extent{0, 10});
    CHECK(holes[1] == Extent{20, 30});
    CHECK(ExtentMap(100, {}).holes() == std::vector<Extent>{{0, 100}});
    CHECK(ExtentMap::all_data(100).holes().empty());
    CHECK(ExtentMap::all_data(100).data_bytes() == 100);
}

TEST_CASE("extent map JSON: round trip") {
    ExtentMap m(1 << 20, {{0, 4096}, {65536, 8192}});
    auto parsed = volmig::parse_extent_map_json(volmig::extent_map_to_json(m));
    REQUIRE(parsed.ok());
    CHECK(parsed->size() == m.size());
    CHECK(parsed->data() == m.data());
}

TEST_CASE("extent map JSON: malformed input is rejected with a message naming the problem") {
    auto bad = [](const std::string& text) {
        auto r = volmig::parse_extent_map_json(text);
        REQUIRE_FALSE(r.ok());
        return r.error().message;
    };
    CHECK(bad("not json").find("not a JSON object") != std::string::npos);
    CHECK(bad("{\"extents\": []}").find("\"size\"") != std::string::npos);
    CHECK(bad("{\"size\": -1, \"extents\": []}").find("\"size\"") != std::string::npos);
    CHECK(bad("{\"size\": 100, \"extents\": {}}").find("\"extents\"") != std::string::npos);
    CHECK(bad("{\"size\": 100, \"extents\": [[1]]}").find("extents[0]") != std::string::npos);
    CHECK(bad("{\"size\": 100, \"extents\": [[0, 10], [95, 10]]}").find("extents[1]") != std::string::npos);
    CHECK(bad("{\"size\": 100, \"extents\": [[0, 1.5]]}").find("extents[0]") != std::string::npos);
}
