#include <doctest/doctest.h>

#include <random>

#include "copy/checksum.hpp"
#include "copy/unit_io.hpp"

using namespace volmig;

namespace {

std::vector<WorkItem> all_items(const ExtentMap& map, uint64_t grid, uint64_t max_unit, uint64_t max_hole) {
    WorkCursor cursor(map, grid, max_unit, max_hole);
    std::vector<WorkItem> items;
    WorkItem item;
    while (cursor.next(item)) items.push_back(item);
    return items;
}

// The invariants every cut must satisfy, whatever the map.
void check_cut(const ExtentMap& map, uint64_t grid, uint64_t max_unit, uint64_t max_hole) {
    auto items = all_items(map, grid, max_unit, max_hole);
    uint64_t pos = 0;
    for (const WorkItem& it : items) {
        REQUIRE(it.offset == pos);  // in order, no gap, no overlap
        REQUIRE(it.length > 0);
        CHECK(it.length <= (it.hole ? max_hole : max_unit));
        CHECK(it.offset % grid == 0);  // never splits a checksum chunk
        CHECK((it.end() % grid == 0 || it.end() == map.size()));
        if (it.hole) {  // a hole item holds no data at all
            for (const Extent& e : map.data()) CHECK((e.end() <= it.offset || e.offset >= it.end()));
        }
        pos = it.end();
    }
    CHECK(pos == map.size());
    // Every data byte lies inside some data unit.
    for (const Extent& e : map.data()) {
        uint64_t covered = 0;
        for (const WorkItem& it : items)
            if (!it.hole) {
                const uint64_t a = std::max(e.offset, it.offset), b = std::min(e.end(), it.end());
                if (b > a) covered += b - a;
            }
        CHECK(covered == e.length);
    }
}

}  // namespace

TEST_CASE("WorkCursor: an empty volume has no items, an all-hole volume only hole items") {
    CHECK(all_items(ExtentMap(0, {}), 65536, 1 << 20, 1 << 30).empty());
    auto items = all_items(ExtentMap(10 << 20, {}), 65536, 1 << 20, 4 << 20);
    REQUIRE(items.size() == 3);
    for (auto& it : items) CHECK(it.hole);
}

TEST_CASE("WorkCursor: a small extent becomes one grid-aligned unit between holes") {
    ExtentMap map(1 << 20, {{100000, 5000}});
    auto items = all_items(map, 65536, 1 << 20, 1 << 30);
    REQUIRE(items.size() == 3);
    CHECK((items[0].hole && items[0].offset == 0 && items[0].length == 65536));
    CHECK((!items[1].hole && items[1].offset == 65536 && items[1].length == 65536));
    CHECK((items[2].hole && items[2].offset == 131072));
}

TEST_CASE("WorkCursor: extents whose grid cells touch share a unit, a gap of a whole cell splits") {
    ExtentMap touching(1 << 20, {{0, 4096}, {65536 + 4096, 4096}});
    auto a = all_items(touching, 65536, 1 << 20, 1 << 30);
    CHECK((!a[0].hole && a[0].length == 131072));
    ExtentMap apart(1 << 20, {{0, 4096}, {3 * 65536, 4096}});
    auto b = all_items(apart, 65536, 1 << 20, 1 << 30);
    REQUIRE(b.size() == 4);
    CHECK((!b[0].hole && b[0].length == 65536));
    CHECK((b[1].hole && b[1].length == 2 * 65536));
}

TEST_CASE("WorkCursor: invariants hold on random maps, sizes and unit limits") {
    std::mt19937_64 gen(7);
    for (int round = 0; round < 300; ++round) {
        const uint64_t size = 1 + gen() % (64ull << 20);
        std::vector<Extent> extents;
        const int n = static_cast<int>(gen() % 40);
        for (int i = 0; i < n; ++i) extents.push_back({gen() % size, 1 + gen() % (4 << 20)});
        const uint64_t grid = round % 3 == 0 ? 1 << 20 : 65536;
        const uint64_t max_unit = grid * (1 + gen() % 32);
        const uint64_t max_hole = grid * (1 + gen() % 64);
        check_cut(ExtentMap(size, extents), grid, max_unit, max_hole);
    }
}

TEST_CASE("align helpers") {
    CHECK(align_down(65537, 65536) == 65536);
    CHECK(align_up(65537, 65536) == 131072);
    CHECK(align_up(65536, 65536) == 65536);
    CHECK(align_down(0, 4096) == 0);
}
