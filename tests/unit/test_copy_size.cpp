#include <doctest/doctest.h>

#include "copy/size.hpp"

using volmig::format_bytes;
using volmig::parse_size;

TEST_CASE("parse_size: bytes and binary LVM-style suffixes") {
    CHECK(*parse_size("0") == 0);
    CHECK(*parse_size("4096") == 4096);
    CHECK(*parse_size("4k") == 4096);
    CHECK(*parse_size("4K") == 4096);
    CHECK(*parse_size("4KiB") == 4096);
    CHECK(*parse_size("512M") == 512ull << 20);
    CHECK(*parse_size("8G") == 8ull << 30);
    CHECK(*parse_size("8GB") == 8ull << 30);
    CHECK(*parse_size("1T") == 1ull << 40);
    CHECK(*parse_size("2P") == 2ull << 50);
    CHECK(*parse_size("3s") == 3 * 512);
    CHECK(*parse_size("10b") == 10);
}

TEST_CASE("parse_size: rejects what is not a size") {
    for (const char* bad : {"", "-1", "+1", "1.5G", "G", "1X", "1 G", "1GiBB", "0x10", "18446744073709551616", "16385P"}) {
        INFO(bad);
        auto r = parse_size(bad);
        CHECK_FALSE(r.ok());
        if (!r.ok()) CHECK(r.error().message.find(bad) != std::string::npos);
    }
}

TEST_CASE("format_bytes: human units") {
    CHECK(format_bytes(0) == "0 B");
    CHECK(format_bytes(1023) == "1023 B");
    CHECK(format_bytes(1536) == "1.50 KiB");
    CHECK(format_bytes(512ull << 20) == "512 MiB");
    CHECK(format_bytes(4ull << 30) == "4.00 GiB");
}
