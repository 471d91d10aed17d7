// copy/json_text: untrusted JSON values in messages stay short and serializable; UTF-8 text is told
// apart.
#include <doctest/doctest.h>

#include "copy/json_text.hpp"

using namespace volmig;
using nlohmann::json;

TEST_CASE(
    "json_for_message: scalars as themselves, strings quoted and cut, structures by their type") {
    CHECK(json_for_message(json(42)) == "42");
    CHECK(json_for_message(json(-1.5)) == "-1.5");
    CHECK(json_for_message(json(true)) == "true");
    CHECK(json_for_message(json(nullptr)) == "null");
    CHECK(json_for_message(json("big")) == "\"big\"");
    CHECK(json_for_message(json(std::string(101, 'a'))) == "\"" + std::string(100, 'a') + "\"...");
    CHECK(json_for_message(json(std::string(10, 'a')), 4) == "\"aaaa\"...");
    CHECK(json_for_message(json::object()) == "a JSON object");
    CHECK(json_for_message(json::parse(std::string(100000, '[') + std::string(100000, ']'))) ==
          "a JSON array");
}

TEST_CASE(
    "json_for_message: invalid UTF-8, or a character cut in two, is replaced and the text "
    "serializes") {
    const std::string cut =
        json_for_message(json("\xc3\xa9\xc3\xa9"), 3);  // "éé" cut inside the second é
    CHECK(cut == "\"\xc3\xa9\xef\xbf\xbd\"...");
    CHECK(json_for_message(json("\xe1\xe1")) == "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    CHECK_NOTHROW((void)json(json_for_message(json("\xff"))).dump());
}

TEST_CASE(
    "is_utf8_text: UTF-8 without NUL bytes; overlong forms, surrogates, code points past U+10FFFF "
    "and cut sequences are not") {
    for (const std::string good : {"", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x92\xbe",
                                   "\xf4\x8f\xbf\xbf", "tab\tand\nnewline"})
        CHECK_MESSAGE(is_utf8_text(good), good);
    for (const std::string& bad :
         {std::string("caf\xe9"), std::string("\xc0\xaf"), std::string("\xe0\x80\xaf"),
          std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80"), std::string("\xe2\x82"),
          std::string("\x80"), std::string("\xff"), std::string("a\0b", 3)})
        CHECK_MESSAGE(!is_utf8_text(bad), bad);
}
