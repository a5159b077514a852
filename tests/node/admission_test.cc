// Admission (node/daemon/src/admission.h): the door of the peer port.
#include "admission.h"

#include <gtest/gtest.h>

#include <set>

namespace conect::node {
namespace {

using Clock = Admission::Clock;
using Verdict = Admission::Verdict;

Admission::Limits limits(std::uint32_t per_minute, std::uint32_t per_address, std::uint32_t total,
                         std::size_t tracked = 10'000) {
  return {per_minute, per_address, total, tracked};
}

TEST(Admission, ThrottlesAnAddressPerMinuteAndForgivesAfterIt) {
  Admission a(limits(3, 100, 100));
  auto t = Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 3; ++i) {
    auto d = a.admit("10.0.0.1", t);
    EXPECT_EQ(d.verdict, Verdict::admitted);
    a.release(d.ticket);
  }
  EXPECT_EQ(a.admit("10.0.0.1", t).verdict, Verdict::throttled);
  EXPECT_EQ(a.admit("10.0.0.2", t).verdict, Verdict::admitted) << "another address has its own window";
  EXPECT_EQ(a.admit("10.0.0.1", t + std::chrono::seconds(61)).verdict, Verdict::admitted);
}

// Regression: past 10,000 addresses the table used to be cleared wholesale,
// so a flood from many addresses reset the count of the one being throttled.
TEST(Admission, AFloodFromManyAddressesDoesNotResetAThrottledOne) {
  Admission a(limits(2, 1000, 1000, 10'000));
  auto t = Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 3; ++i) a.release(a.admit("192.0.2.1", t).ticket);
  ASSERT_EQ(a.admit("192.0.2.1", t).verdict, Verdict::throttled);
  for (int i = 0; i < 20'000; ++i) {
    std::string ip =
        "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256);
    a.release(a.admit(ip, t).ticket);
    if (i % 1000 == 0) {
      EXPECT_EQ(a.admit("192.0.2.1", t).verdict, Verdict::throttled) << "after " << i << " other addresses";
    }
  }
  EXPECT_LE(a.tracked_addresses(), 10'000u) << "the table itself stays bounded";
}

TEST(Admission, CapsUnauthenticatedConnectionsPerAddress) {
  Admission a(limits(100, 2, 100));
  auto t = Clock::time_point{} + std::chrono::hours(1);
  auto first = a.admit("10.0.0.1", t);
  auto second = a.admit("10.0.0.1", t);
  EXPECT_EQ(second.verdict, Verdict::admitted);
  EXPECT_EQ(a.admit("10.0.0.1", t).verdict, Verdict::per_ip);
  a.release(first.ticket);  // it authenticated (or went away)
  EXPECT_EQ(a.admit("10.0.0.1", t).verdict, Verdict::admitted);
  a.release(first.ticket);  // twice is harmless
  EXPECT_EQ(a.unauthenticated(), 2u);
}

TEST(Admission, WhenFullEvictsTheOldestOfTheBusiestAddress) {
  Admission a(limits(100, 3, 5));
  auto t = Clock::time_point{} + std::chrono::hours(1);
  auto honest_early = a.admit("10.0.0.9", t);
  std::vector<std::uint64_t> flood;
  for (int i = 0; i < 3; ++i) flood.push_back(a.admit("10.0.0.1", t).ticket);
  auto other = a.admit("10.0.0.2", t);
  ASSERT_EQ(a.unauthenticated(), 5u);
  auto d = a.admit("10.0.0.3", t);
  EXPECT_EQ(d.verdict, Verdict::admitted);
  ASSERT_TRUE(d.evicted);
  EXPECT_EQ(*d.evicted, flood[0]) << "the flooding address loses its oldest first, not the honest early one";
  EXPECT_EQ(a.unauthenticated(), 5u) << "never more than the total";
  a.release(honest_early.ticket);
  a.release(other.ticket);
  EXPECT_FALSE(a.admit("10.0.0.4", t).evicted) << "a free slot needs no eviction";
}

TEST(Admission, CountsAnIpv6SlashSixtyFourAsOneAddress) {
  EXPECT_EQ(admission_address("2001:db8:1:2::5"), admission_address("2001:db8:1:2:ffff::1"));
  EXPECT_NE(admission_address("2001:db8:1:2::5"), admission_address("2001:db8:1:3::5"));
  EXPECT_EQ(admission_address("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(admission_address("192.0.2.7"), "192.0.2.7");
}

}  // namespace
}  // namespace conect::node
