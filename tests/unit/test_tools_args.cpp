#include <doctest/doctest.h>

#include "tools/volmig/args.hpp"

using namespace volmig;
using namespace volmig::cli;

TEST_CASE("args: flags, values in both spellings, positionals and --") {
    ArgSpec spec{{"json", "verify"}, {"strategy", "block-size"}};
    auto r = parse_args({"a", "--json", "--strategy", "sparse", "--block-size=64K", "b", "--", "--verify"}, spec, "copy");
    REQUIRE(r.ok());
    CHECK(r->has("json"));
    CHECK_FALSE(r->has("verify"));
    CHECK(r->value("strategy") == "sparse");
    CHECK(r->value("block-size") == "64K");
    CHECK(r->positionals == std::vector<std::string>{"a", "b", "--verify"});
}

TEST_CASE("args: unknown options, missing values and values on flags are errors naming the option") {
    ArgSpec spec{{"json"}, {"strategy"}};
    auto unknown = parse_args({"--frobnicate"}, spec, "copy");
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().message.find("--frobnicate") != std::string::npos);
    CHECK(unknown.error().kind == ErrorKind::invalid);
    auto missing = parse_args({"--strategy"}, spec, "copy");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message.find("needs a value") != std::string::npos);
    auto flag_value = parse_args({"--json=yes"}, spec, "copy");
    REQUIRE_FALSE(flag_value.ok());
    auto short_opt = parse_args({"-x"}, spec, "copy");
    REQUIRE_FALSE(short_opt.ok());
}

TEST_CASE("exit codes follow the error kind") {
    CHECK(exit_code_for(Error{"x", ErrorKind::invalid}) == kExitUsage);
    CHECK(exit_code_for(Error{"x", ErrorKind::refused}) == kExitRefused);
    CHECK(exit_code_for(Error{"x", ErrorKind::not_found}) == kExitRefused);
    CHECK(exit_code_for(Error{"x", ErrorKind::io}) == kExitIo);
    CHECK(exit_code_for(Error{"x", ErrorKind::mismatch}) == kExitMismatch);
    CHECK(exit_code_for(Error{"x", ErrorKind::cancelled}) == kExitCancelled);
    CHECK(exit_code_for(Error{"x"}) == kExitFailed);
}
