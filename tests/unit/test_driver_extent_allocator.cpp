// driver/extent_allocator: first-fit carving of a fixed-size pool into contiguous regions.
#include <doctest/doctest.h>

#include <string>
#include <tuple>
#include <vector>

#include "driver/extent_allocator.hpp"
#include "tests/support/fixtures.hpp"

using volmig::ExtentAllocator;
using volmig::PoolRegion;
using volmig::test::contains;

namespace {

constexpr uint64_t MiB = 1 << 20;

// The regions as (owner, offset, length) for comparison in one CHECK.
std::vector<std::tuple<std::string, uint64_t, uint64_t>> layout(const ExtentAllocator& a) {
    std::vector<std::tuple<std::string, uint64_t, uint64_t>> out;
    for (const auto& r : a.regions()) out.emplace_back(r.owner, r.offset, r.length);
    return out;
}

using Layout = std::vector<std::tuple<std::string, uint64_t, uint64_t>>;

}  // namespace

TEST_CASE("driver extent allocator: first fit places regions one after another from offset 0") {
    ExtentAllocator a(16 * MiB, MiB, {});
    auto r1 = a.allocate("a", 4 * MiB);
    auto r2 = a.allocate("b", 2 * MiB);
    auto r3 = a.allocate("c", 1 * MiB);
    REQUIRE(r1);
    REQUIRE(r2);
    REQUIRE(r3);
    CHECK(r1->owner == "a");
    CHECK(r1->offset == 0);
    CHECK(r1->length == 4 * MiB);
    CHECK(r2->offset == 4 * MiB);
    CHECK(r3->offset == 6 * MiB);
    CHECK(r3->end() == 7 * MiB);
    CHECK(a.used_bytes() == 7 * MiB);
    CHECK(a.largest_free() == 9 * MiB);
    CHECK(layout(a) == Layout{{"a", 0, 4 * MiB}, {"b", 4 * MiB, 2 * MiB}, {"c", 6 * MiB, MiB}});
    CHECK(a.conflicts().empty());
}

TEST_CASE("driver extent allocator: lengths are rounded up to the alignment, and so are offsets") {
    ExtentAllocator a(16 * MiB, MiB, {});
    CHECK(a.round(0) == 0);
    CHECK(a.round(1) == MiB);
    CHECK(a.round(MiB) == MiB);
    CHECK(a.round(MiB + 1) == 2 * MiB);
    auto r1 = a.allocate("a", 1);
    REQUIRE(r1);
    CHECK(r1->length == MiB);
    auto r2 = a.allocate("b", 3 * MiB + 4096);
    REQUIRE(r2);
    CHECK(r2->offset == MiB);
    CHECK(r2->length == 4 * MiB);
    CHECK(r2->offset % MiB == 0);
    CHECK(a.used_bytes() == 5 * MiB);
}

TEST_CASE(
    "driver extent allocator: an existing unaligned region pushes the next one to an aligned "
    "offset") {
    // A table written with another alignment (or by hand): the next region still starts aligned.
    ExtentAllocator a(16 * MiB, MiB, {{"old", 0, MiB + 512}});
    auto r = a.allocate("new", MiB);
    REQUIRE(r);
    CHECK(r->offset == 2 * MiB);
}

TEST_CASE("driver extent allocator: zero alignment means byte granularity") {
    ExtentAllocator a(100, 0, {});
    auto r1 = a.allocate("a", 7);
    auto r2 = a.allocate("b", 3);
    REQUIRE(r1);
    REQUIRE(r2);
    CHECK(r2->offset == 7);
    CHECK(r2->length == 3);
}

TEST_CASE("driver extent allocator: a zero-length request is refused") {
    ExtentAllocator a(16 * MiB, MiB, {});
    CHECK_FALSE(a.allocate("a", 0));
    CHECK(a.regions().empty());
}

TEST_CASE("driver extent allocator: the constructor sorts the used regions by offset") {
    ExtentAllocator a(16 * MiB, MiB, {{"c", 8 * MiB, MiB}, {"a", 0, MiB}, {"b", 4 * MiB, MiB}});
    CHECK(layout(a) == Layout{{"a", 0, MiB}, {"b", 4 * MiB, MiB}, {"c", 8 * MiB, MiB}});
    // First fit: the 3 MiB gap at 1 MiB takes a 2 MiB region.
    auto r = a.allocate("d", 2 * MiB);
    REQUIRE(r);
    CHECK(r->offset == MiB);
    CHECK(layout(a)[1] == std::make_tuple(std::string("d"), MiB, 2 * MiB));
}

TEST_CASE("driver extent allocator: a freed region is reused, the lowest fitting offset first") {
    ExtentAllocator a(16 * MiB, MiB, {});
    for (const char* id : {"a", "b", "c", "d"}) REQUIRE(a.allocate(id, 2 * MiB));
    REQUIRE(a.release("c"));  // gap [4, 6)
    REQUIRE(a.release("a"));  // gap [0, 2)
    CHECK(a.used_bytes() == 4 * MiB);

    auto e = a.allocate("e", MiB);
    REQUIRE(e);
    CHECK(e->offset == 0);  // the lowest gap, not the most recently freed one
    auto f = a.allocate("f", 2 * MiB);
    REQUIRE(f);
    CHECK(f->offset == 4 * MiB);  // [1, 2) is too small; c's old place fits
    auto g = a.allocate("g", MiB);
    REQUIRE(g);
    CHECK(g->offset == MiB);  // the rest of a's old place
    CHECK(layout(a) == Layout{{"e", 0, MiB},
                              {"g", MiB, MiB},
                              {"b", 2 * MiB, 2 * MiB},
                              {"f", 4 * MiB, 2 * MiB},
                              {"d", 6 * MiB, 2 * MiB}});
    CHECK(a.conflicts().empty());
}

TEST_CASE("driver extent allocator: fragmented free space is not a contiguous region") {
    ExtentAllocator a(8 * MiB, MiB, {});
    for (const char* id : {"a", "b", "c", "d"}) REQUIRE(a.allocate(id, 2 * MiB));
    REQUIRE(a.release("a"));
    REQUIRE(a.release("c"));
    // 4 MiB free in all, but as two 2 MiB gaps.
    CHECK(a.capacity() - a.used_bytes() == 4 * MiB);
    CHECK(a.largest_free() == 2 * MiB);
    CHECK_FALSE(a.allocate("big", 3 * MiB));
    CHECK_FALSE(a.allocate("big", 4 * MiB));
    CHECK(a.regions().size() == 2);  // a refused request leaves the table as it was
    auto fits = a.allocate("small", 2 * MiB);
    REQUIRE(fits);
    CHECK(fits->offset == 0);
    CHECK(a.largest_free() == 2 * MiB);
}

TEST_CASE(
    "driver extent allocator: largest_free counts the gaps before, between and after regions") {
    CHECK(ExtentAllocator(10 * MiB, MiB, {}).largest_free() == 10 * MiB);
    CHECK(ExtentAllocator(10 * MiB, MiB, {{"x", 3 * MiB, MiB}}).largest_free() == 6 * MiB);
    CHECK(ExtentAllocator(10 * MiB, MiB, {{"x", 5 * MiB, 5 * MiB}}).largest_free() == 5 * MiB);
    CHECK(ExtentAllocator(10 * MiB, MiB, {{"x", 0, 2 * MiB}, {"y", 6 * MiB, 3 * MiB}})
              .largest_free() == 4 * MiB);
    CHECK(ExtentAllocator(10 * MiB, MiB, {{"x", 0, 10 * MiB}}).largest_free() == 0);
}

TEST_CASE("driver extent allocator: an exhausted pool refuses, then fits again after a release") {
    ExtentAllocator a(4 * MiB, MiB, {});
    REQUIRE(a.allocate("a", 3 * MiB));
    REQUIRE(a.allocate("b", MiB));
    CHECK(a.used_bytes() == a.capacity());
    CHECK(a.largest_free() == 0);
    CHECK_FALSE(a.allocate("c", 1));
    CHECK_FALSE(ExtentAllocator(4 * MiB, MiB, {}).allocate("too-big", 4 * MiB + 1));
    REQUIRE(a.release("a"));
    auto c = a.allocate("c", 3 * MiB);
    REQUIRE(c);
    CHECK(c->offset == 0);
}

TEST_CASE("driver extent allocator: a request of exactly the capacity fills an empty pool") {
    ExtentAllocator a(4 * MiB, MiB, {});
    auto r = a.allocate("all", 4 * MiB);
    REQUIRE(r);
    CHECK(r->offset == 0);
    CHECK(r->end() == 4 * MiB);
}

TEST_CASE("driver extent allocator: grow_in_place uses the free space right after the region") {
    ExtentAllocator a(16 * MiB, MiB, {{"a", 0, 2 * MiB}, {"b", 6 * MiB, 2 * MiB}});
    auto grown = a.grow_in_place("a", 5 * MiB + 1);  // rounded to 6 MiB: exactly up to b
    REQUIRE(grown);
    CHECK(grown->offset == 0);
    CHECK(grown->length == 6 * MiB);
    CHECK(layout(a) == Layout{{"a", 0, 6 * MiB}, {"b", 6 * MiB, 2 * MiB}});
    CHECK(a.used_bytes() == 8 * MiB);
    CHECK(a.conflicts().empty());
}

TEST_CASE("driver extent allocator: grow_in_place refuses when the next region is in the way") {
    ExtentAllocator a(16 * MiB, MiB, {{"a", 0, 2 * MiB}, {"b", 3 * MiB, 2 * MiB}});
    CHECK_FALSE(a.grow_in_place("a", 4 * MiB));
    CHECK(layout(a) == Layout{{"a", 0, 2 * MiB}, {"b", 3 * MiB, 2 * MiB}});  // unchanged
    auto one_more = a.grow_in_place("a", 3 * MiB);
    REQUIRE(one_more);
    CHECK(one_more->length == 3 * MiB);
}

TEST_CASE("driver extent allocator: the last region grows up to the capacity, not beyond") {
    ExtentAllocator a(8 * MiB, MiB, {{"a", 0, MiB}, {"z", 5 * MiB, MiB}});
    auto to_end = a.grow_in_place("z", 3 * MiB);
    REQUIRE(to_end);
    CHECK(to_end->end() == 8 * MiB);
    CHECK_FALSE(a.grow_in_place("z", 3 * MiB + 1));
    CHECK(a.regions().back().length == 3 * MiB);
}

TEST_CASE("driver extent allocator: grow_in_place to a smaller or equal size keeps the region") {
    ExtentAllocator a(8 * MiB, MiB, {{"a", 0, 4 * MiB}});
    auto same = a.grow_in_place("a", 2 * MiB);
    REQUIRE(same);
    CHECK(same->length == 4 * MiB);
    CHECK(a.used_bytes() == 4 * MiB);
}

TEST_CASE("driver extent allocator: grow_in_place and release of an unknown owner change nothing") {
    ExtentAllocator a(8 * MiB, MiB, {{"a", 0, MiB}});
    CHECK_FALSE(a.grow_in_place("ghost", 2 * MiB));
    CHECK_FALSE(a.release("ghost"));
    CHECK(layout(a) == Layout{{"a", 0, MiB}});
    CHECK(a.release("a"));
    CHECK_FALSE(a.release("a"));  // only once
    CHECK(a.regions().empty());
}

TEST_CASE(
    "driver extent allocator: conflicts() reports overlapping regions and regions beyond the "
    "capacity") {
    SUBCASE("a clean table") {
        CHECK(ExtentAllocator(8 * MiB, MiB, {{"a", 0, MiB}, {"b", MiB, MiB}, {"c", 7 * MiB, MiB}})
                  .conflicts()
                  .empty());
    }
    SUBCASE("two regions overlap") {
        auto c =
            ExtentAllocator(8 * MiB, MiB, {{"b", 2 * MiB, 2 * MiB}, {"a", 0, 3 * MiB}}).conflicts();
        REQUIRE(c.size() == 1);
        CHECK(contains(c[0], "a"));
        CHECK(contains(c[0], "b"));
        CHECK(contains(c[0], "overlap"));
    }
    SUBCASE("a region reaches beyond the pool") {
        auto c =
            ExtentAllocator(8 * MiB, MiB, {{"a", 0, MiB}, {"far", 7 * MiB, 2 * MiB}}).conflicts();
        REQUIRE(c.size() == 1);
        CHECK(contains(c[0], "far"));
        CHECK(contains(c[0], "beyond"));
        CHECK(contains(c[0], std::to_string(9 * MiB)));
    }
    SUBCASE("a region wholly beyond the pool (the pool file shrank)") {
        auto c = ExtentAllocator(4 * MiB, MiB, {{"gone", 6 * MiB, MiB}}).conflicts();
        REQUIRE(c.size() == 1);
        CHECK(contains(c[0], "gone"));
    }
    SUBCASE("both at once") {
        auto c =
            ExtentAllocator(4 * MiB, MiB, {{"a", 0, 2 * MiB}, {"b", MiB, 4 * MiB}}).conflicts();
        CHECK(c.size() == 2);
    }
}

TEST_CASE(
    "driver extent allocator: allocation never hands out space a corrupt table already covers") {
    // Overlapping regions [0, 3) and [2, 4): the first gap starts at 4 MiB, not at 3 MiB.
    ExtentAllocator a(8 * MiB, MiB, {{"a", 0, 3 * MiB}, {"b", 2 * MiB, 2 * MiB}});
    auto r = a.allocate("c", MiB);
    REQUIRE(r);
    CHECK(r->offset == 4 * MiB);
}
