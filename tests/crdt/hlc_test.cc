// Hybrid logical clock: monotonic, follows physical time, absorbs remote
// timestamps, survives a clock going backwards and logical overflow.
#include <gtest/gtest.h>

#include "conect/crdt/hlc.h"

namespace conect {
namespace {

TEST(Hlc, PacksMillisAndLogical) {
  Hlc h = Hlc::make(123456789, 42);
  EXPECT_EQ(h.millis(), 123456789u);
  EXPECT_EQ(h.logical(), 42);
  EXPECT_LT(Hlc::make(5, 0xffff), Hlc::make(6, 0));
}

TEST(Hlc, FollowsPhysicalTimeWhenItAdvances) {
  HlcClock c;
  EXPECT_EQ(c.tick(1000), Hlc::make(1000, 0));
  EXPECT_EQ(c.tick(1005), Hlc::make(1005, 0));
  EXPECT_EQ(c.last(), Hlc::make(1005, 0));
}

TEST(Hlc, StrictlyMonotonicWhenTimeStandsStillOrGoesBack) {
  HlcClock c;
  Hlc prev = c.tick(5000);
  for (std::uint64_t now : {5000u, 5000u, 4000u, 1u, 0u, 4999u}) {
    Hlc h = c.tick(now);
    EXPECT_GT(h, prev) << "now=" << now;
    EXPECT_EQ(h.millis(), 5000u);  // never behind what it already issued
    prev = h;
  }
  EXPECT_EQ(prev.logical(), 6);
  EXPECT_EQ(c.tick(5001), Hlc::make(5001, 0));
}

TEST(Hlc, ObserveMakesLaterTicksExceedRemoteTimestamps) {
  HlcClock c;
  c.tick(1000);
  Hlc remote = Hlc::make(9000, 7);
  c.observe(remote);
  Hlc h = c.tick(1001);  // local clock far behind the remote one
  EXPECT_GT(h, remote);
  EXPECT_EQ(h, Hlc::make(9000, 8));
  c.observe(Hlc::make(10, 0));  // an older remote timestamp changes nothing
  EXPECT_EQ(c.last(), h);
  EXPECT_GT(c.tick(0), h);
}

TEST(Hlc, LogicalOverflowBorrowsAMillisecond) {
  HlcClock c(Hlc::make(7000, 0xfffe));
  Hlc a = c.tick(7000);
  EXPECT_EQ(a, Hlc::make(7000, 0xffff));
  Hlc b = c.tick(7000);
  EXPECT_EQ(b, Hlc::make(7001, 0));
  EXPECT_GT(b, a);
  HlcClock d;
  d.observe(Hlc::make(50, 0xffff));
  EXPECT_EQ(d.tick(3), Hlc::make(51, 0));
}

TEST(Hlc, ResumesFromAPersistedTimestamp) {
  Hlc persisted = Hlc::make(8000, 3);
  HlcClock c(persisted);
  EXPECT_GT(c.tick(100), persisted);  // a restart with a clock set back never reuses one
}

}  // namespace
}  // namespace conect
