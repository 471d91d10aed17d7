#include <doctest/doctest.h>

#include "copy/strategy.hpp"

using namespace volmig;

namespace {
DestinationFacts facts(std::optional<bool> zeroed, std::optional<bool> release) {
    DestinationFacts f;
    f.zero_initialized = zeroed;
    f.can_release = release;
    return f;
}
}  // namespace

TEST_CASE("auto: every combination of the facts") {
    struct Row {
        std::optional<bool> zeroed, release;
        Strategy expected;
    };
    const Row table[] = {
        {true, true, Strategy::sparse},          {true, false, Strategy::sparse},
        {true, std::nullopt, Strategy::sparse},  {false, true, Strategy::full_then_discard},
        {false, false, Strategy::full},          {false, std::nullopt, Strategy::full},
        {std::nullopt, true, Strategy::full_then_discard},
        {std::nullopt, false, Strategy::full},   {std::nullopt, std::nullopt, Strategy::full},
    };
    for (const Row& row : table) {
        auto choice = choose_strategy(Strategy::automatic, facts(row.zeroed, row.release), false);
        REQUIRE(choice.ok());
        CHECK(choice->strategy == row.expected);
        CHECK_FALSE(choice->reason.empty());
    }
}

TEST_CASE("auto with no facts never picks sparse") {
    auto choice = choose_strategy(Strategy::automatic, DestinationFacts{}, true);
    REQUIRE(choice.ok());
    CHECK(choice->strategy == Strategy::full);
}

TEST_CASE("sparse is refused onto a destination not known to be zeroed, unless forced") {
    for (auto zeroed : {std::optional<bool>{false}, std::optional<bool>{}}) {
        auto refused = choose_strategy(Strategy::sparse, facts(zeroed, true), false);
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().message.find("--dest-zeroed") != std::string::npos);
        auto forced = choose_strategy(Strategy::sparse, facts(zeroed, true), true);
        REQUIRE(forced.ok());
        CHECK(forced->strategy == Strategy::sparse);
        CHECK(forced->reason.find("UNSAFE") != std::string::npos);
    }
    auto ok = choose_strategy(Strategy::sparse, facts(true, false), false);
    REQUIRE(ok.ok());
    CHECK(ok->strategy == Strategy::sparse);
}

TEST_CASE("full and full+discard are always allowed as requested") {
    for (auto f : {facts(true, true), facts(false, false), DestinationFacts{}}) {
        CHECK(choose_strategy(Strategy::full, f, false)->strategy == Strategy::full);
        CHECK(choose_strategy(Strategy::full_then_discard, f, false)->strategy == Strategy::full_then_discard);
    }
}

TEST_CASE("strategy names parse and print") {
    for (Strategy s : {Strategy::automatic, Strategy::full, Strategy::sparse, Strategy::full_then_discard})
        CHECK(*parse_strategy(to_string(s)) == s);
    CHECK(to_string(Strategy::full_then_discard) == "full+discard");
    CHECK_FALSE(parse_strategy("dense").ok());
    CHECK(parse_strategy("dense").error().message.find("dense") != std::string::npos);
}
