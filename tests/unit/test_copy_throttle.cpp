// The daemon-wide copy rate (copy/throttle.hpp): while N copies hold a share each is paced at
// limit / N; when one goes the others speed up; RateLimiter takes one share for its lifetime.
// The split is asserted exactly; the pacing itself with timing, within generous bounds.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "copy/throttle.hpp"
#include "copy/unit_io.hpp"

using namespace volmig;

namespace {

constexpr uint64_t MiB = 1 << 20;

// Pushes `bytes` through `share` in 256 KiB requests from `workers` threads (as a copy's workers
// do); returns the seconds it took.
double push(SharedRate::Share& share, uint64_t bytes, unsigned workers = 2) {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> left{bytes};
    const auto started = std::chrono::steady_clock::now();
    run_workers(workers, [&](unsigned) {
        while (true) {
            uint64_t have = left.load();
            if (have == 0) break;
            const uint64_t take = std::min<uint64_t>(have, 256 << 10);
            if (!left.compare_exchange_weak(have, have - take)) continue;
            share.acquire(take, stop);
        }
    });
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

}  // namespace

TEST_CASE("shared rate: each of N shares is paced at limit / N, and the others get more when one goes") {
    SharedRate rate(12 * MiB);
    CHECK(rate.shares() == 0);
    auto a = std::make_unique<SharedRate::Share>(rate);
    CHECK(a->rate() == 12 * MiB);
    auto b = std::make_unique<SharedRate::Share>(rate);
    auto c = std::make_unique<SharedRate::Share>(rate);
    CHECK(rate.shares() == 3);
    CHECK(a->rate() == 4 * MiB);
    CHECK(c->rate() == 4 * MiB);
    c.reset();
    CHECK(rate.shares() == 2);
    CHECK(a->rate() == 6 * MiB);
    CHECK(b->rate() == 6 * MiB);
    b.reset();
    CHECK(a->rate() == 12 * MiB);

    SharedRate unlimited(0);
    SharedRate::Share free_share(unlimited);
    CHECK(free_share.rate() == 0);
    std::atomic<bool> stop{false};
    const auto t0 = std::chrono::steady_clock::now();
    free_share.acquire(1ull << 40, stop);  // no limit: returns at once
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(100));
}

TEST_CASE("shared rate: a RateLimiter holds one share for its lifetime, none when the shared limit is 0") {
    SharedRate rate(8 * MiB);
    {
        RateLimiter first(0, &rate);
        RateLimiter second(0, &rate);
        CHECK(rate.shares() == 2);
    }
    CHECK(rate.shares() == 0);
    SharedRate off(0);
    RateLimiter limiter(0, &off);
    CHECK(off.shares() == 0);
    RateLimiter own(0);  // no shared rate at all, as `volmig copy` runs
    std::atomic<bool> stop{false};
    own.acquire(1ull << 40, stop);
}

TEST_CASE("shared rate: two copies at once take about as long as each other and together about total / limit, one alone about half") {
    // 16 MiB/s shared; each copy moves 8 MiB. Two at once: each at 8 MiB/s, about 1 s both. One
    // alone: 16 MiB/s, about 0.5 s (less the ~100 ms burst a fresh bucket allows).
    SharedRate rate(16 * MiB);
    double t1 = 0, t2 = 0;
    {
        SharedRate::Share one(rate), two(rate);
        std::thread other([&] { t2 = push(two, 8 * MiB); });
        t1 = push(one, 8 * MiB);
        other.join();
    }
    double alone = 0;
    {
        SharedRate::Share only(rate);
        alone = push(only, 8 * MiB);
    }
    MESSAGE("two at once: " << t1 << " s and " << t2 << " s; alone: " << alone << " s");
    CHECK(t1 > 0.7);
    CHECK(t1 < 1.6);
    CHECK(t2 > 0.7);
    CHECK(t2 < 1.6);
    CHECK(std::max(t1, t2) / std::min(t1, t2) < 1.3);
    CHECK(alone < 0.7 * std::min(t1, t2));
    CHECK(alone > 0.25);
}

TEST_CASE("shared rate: when one copy ends, the one still running speeds up") {
    // 16 MiB/s shared. The short copy (4 MiB) ends after about 0.5 s at 8 MiB/s; the long one
    // (12 MiB) has moved about 4 MiB by then and does its other 8 MiB at 16 MiB/s: about 1 s in
    // all, where staying at 8 MiB/s would take 1.5 s.
    SharedRate rate(16 * MiB);
    double long_copy = 0, short_copy = 0;
    auto long_share = std::make_unique<SharedRate::Share>(rate);
    auto short_share = std::make_unique<SharedRate::Share>(rate);
    std::thread other([&] {
        short_copy = push(*short_share, 4 * MiB);
        short_share.reset();  // the copy ends: its share goes
    });
    long_copy = push(*long_share, 12 * MiB);
    other.join();
    MESSAGE("short copy " << short_copy << " s, long copy " << long_copy << " s");
    CHECK(short_copy > 0.3);
    CHECK(short_copy < 0.9);
    CHECK(long_copy < 1.3);
    CHECK(long_copy > 0.7);
}
