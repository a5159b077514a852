// Two (or more) in-process conect nodes with real keys, and helpers that run
// the handshake between them frame by frame, as a transport would.
#pragma once

#include <gtest/gtest.h>
#include <sodium.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "conect/crdt/identity.h"
#include "conect/net/secure_channel.h"

namespace conect::net::testing {

struct TestNode {
  KeyPair identity;
  FederationId federation;
  PeerCredentials credentials;
  std::set<NodeId> roster;

  static TestNode make(const FederationId& federation) {
    KeyPair id = KeyPair::generate();
    auto noise = NoiseStaticKey::generate();
    EXPECT_TRUE(noise.ok());
    return TestNode{id, federation, PeerCredentials(id, std::move(*noise), federation), {}};
  }
  const NodeId& id() const { return identity.public_key(); }
  std::function<bool(const NodeId&)> roster_check() const {
    return [roster = roster](const NodeId& n) { return roster.count(n) > 0; };
  }
};

inline FederationId random_federation() {
  FederationId f;
  randombytes_buf(f.data(), f.size());
  return f;
}

inline HandshakeDriver dialler(const TestNode& self, const NodeId& expected,
                               std::size_t max_frame = kDefaultMaxFrameBytes) {
  HandshakeOptions o;
  o.role = NoiseRole::initiator;
  o.expected_peer = expected;
  o.is_member = self.roster_check();
  o.max_frame_bytes = max_frame;
  auto d = HandshakeDriver::create(self.credentials, std::move(o));
  EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.error().message());
  return std::move(d).value();
}

inline HandshakeDriver acceptor(const TestNode& self, std::size_t max_frame = kDefaultMaxFrameBytes) {
  HandshakeOptions o;
  o.role = NoiseRole::responder;
  o.is_member = self.roster_check();
  o.max_frame_bytes = max_frame;
  auto d = HandshakeDriver::create(self.credentials, std::move(o));
  EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.error().message());
  return std::move(d).value();
}

// Every frame of one handshake, as it crossed the wire.
struct Transcript {
  std::string m1, m2, m3, initiator_header, responder_header;
};

// The first failure of a handshake run: which side, and the error.
struct HandshakeRun {
  std::optional<Error> initiator_error;
  std::optional<Error> responder_error;
  Transcript wire;
  bool ok() const { return !initiator_error && !responder_error; }
  // The one error that ended the run (a test helper for assertions).
  Error error() const { return initiator_error ? *initiator_error : responder_error.value_or(Error()); }
};

// Runs messages 1-3 between two drivers. `tamper(i, bytes)` may change
// message i (1..3) in transit.
inline HandshakeRun run_handshake(HandshakeDriver& init, HandshakeDriver& resp,
                                  const std::function<void(int, std::string&)>& tamper = {}) {
  HandshakeRun run;
  auto fix = [&](int i, std::string& m) {
    if (tamper) tamper(i, m);
  };
  auto out1 = init.start();
  if (!out1) return run.initiator_error = out1.error(), run;
  EXPECT_TRUE(resp.start().ok());
  run.wire.m1 = out1->at(0);
  fix(1, run.wire.m1);
  auto out2 = resp.receive(run.wire.m1);
  if (!out2) return run.responder_error = out2.error(), run;
  run.wire.m2 = out2->at(0);
  fix(2, run.wire.m2);
  auto out3 = init.receive(run.wire.m2);
  if (!out3) return run.initiator_error = out3.error(), run;
  EXPECT_EQ(out3->size(), 2u);
  run.wire.m3 = out3->at(0);
  run.wire.initiator_header = out3->at(1);
  fix(3, run.wire.m3);
  auto out4 = resp.receive(run.wire.m3);
  if (!out4) return run.responder_error = out4.error(), run;
  EXPECT_EQ(out4->size(), 1u);
  run.wire.responder_header = out4->at(0);
  return run;
}

// A completed link: both channels, each having opened the other's header.
struct Link {
  SecureChannel initiator;
  SecureChannel responder;
  Transcript wire;
};

inline Link connect(const TestNode& a, const TestNode& b, std::size_t max_frame = kDefaultMaxFrameBytes) {
  auto init = dialler(a, b.id(), max_frame);
  auto resp = acceptor(b, max_frame);
  auto run = run_handshake(init, resp);
  EXPECT_TRUE(run.ok()) << run.error().message();
  auto ic = init.take_channel();
  auto rc = resp.take_channel();
  EXPECT_TRUE(ic.ok() && rc.ok());
  auto h1 = rc->open(run.wire.initiator_header);
  auto h2 = ic->open(run.wire.responder_header);
  EXPECT_TRUE(h1.ok() && h1->kind == FrameKind::stream_header);
  EXPECT_TRUE(h2.ok() && h2->kind == FrameKind::stream_header);
  return Link{std::move(*ic), std::move(*rc), run.wire};
}

// Two members of one federation on each other's rosters.
struct Pair {
  FederationId federation = random_federation();
  TestNode alice = TestNode::make(federation);
  TestNode bob = TestNode::make(federation);
  Pair() {
    alice.roster.insert(bob.id());
    bob.roster.insert(alice.id());
  }
};

}  // namespace conect::net::testing
