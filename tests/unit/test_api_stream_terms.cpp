// api/stream_sender.cpp offer_stream_terms: how many slice streams a source offers, by
// migration_streams and the peer's measured round trip; check_stream_terms refuses an answer
// that takes more than was offered.
#include <doctest/doctest.h>

#include "api/migration_steps.hpp"

using namespace volmig;

TEST_CASE("stream terms: auto offers one stream to a near peer, the most to a far or unmeasured one, a number as set") {
    DaemonConfig config;
    PrepareRequest offer;
    offer.block_size = 4096;
    using us = std::chrono::microseconds;
    offer_stream_terms(config, 1 << 20, us(300), offer);
    CHECK(offer.streams == 1);
    offer_stream_terms(config, 1 << 20, us(20000), offer);
    CHECK(offer.streams == 4);
    offer_stream_terms(config, 1 << 20, us(0), offer);
    CHECK(offer.streams == 4);
    config.migration_streams_auto = false;
    config.migration_streams = 3;
    offer_stream_terms(config, 1 << 20, us(300), offer);
    CHECK(offer.streams == 3);

    PreparedReceiver answer;
    answer.checkpoint_bytes = 1 << 20;
    answer.streams = 4;
    CHECK_FALSE(check_stream_terms("peer", offer, answer).ok());
    answer.streams = 3;
    CHECK(check_stream_terms("peer", offer, answer).ok());
}
