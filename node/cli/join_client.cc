#include "join_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "conect/net/secure_channel.h"
#include "conect/node/invite.h"
#include "conect/node/ws_link.h"

namespace conect::cli {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace asio = boost::asio;

Result<v1::JoinResponse> run_join(const JoinAttempt& a) {
  auto url = node::parse_ws_url(a.invite.address());
  if (!url.ok()) return Error(Errc::malformed_body, "the invite's address: " + url.error().detail);
  const NodeId inviter = *NodeId::from_raw(a.invite.inviter());
  const FederationId federation = *FederationId::from_raw(a.invite.federation());
  net::PeerCredentials self(*a.key, *a.noise, federation);
  net::HandshakeOptions options;
  options.role = net::NoiseRole::initiator;
  options.expected_peer = inviter;
  options.is_member = [inviter](const NodeId& id) { return id == inviter; };
  options.identity_key = [inviter, key = invite_signing_key(a.invite)](const NodeId& id) {
    return id == inviter ? key : id;
  };
  auto driver = net::HandshakeDriver::create(self, options);
  if (!driver.ok()) return driver.error();

  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    websocket::stream<beast::tcp_stream> ws(io);
    beast::get_lowest_layer(ws).expires_after(a.timeout);
    auto endpoints = resolver.resolve(url->host, url->port);
    beast::get_lowest_layer(ws).connect(endpoints);
    ws.handshake(url->host + ":" + url->port, url->path);
    ws.binary(true);
    auto send = [&](const std::string& frame) { ws.write(asio::buffer(frame)); };
    auto receive = [&]() {
      beast::flat_buffer buf;
      ws.read(buf);
      return beast::buffers_to_string(buf.data());
    };
    auto first = driver->start();
    if (!first.ok()) return first.error();
    for (const auto& f : *first) send(f);
    while (!driver->is_complete()) {
      auto out = driver->receive(receive());
      if (!out.ok()) return out.error();
      for (const auto& f : *out) send(f);
    }
    auto channel = driver->take_channel();
    if (!channel.ok()) return channel.error();
    auto header = channel->open(receive());
    if (!header.ok()) return header.error();
    v1::JoinRequest request;
    request.set_invite_id(a.invite.invite_id());
    request.set_proof(
        invite_proof(blake2b256(a.invite.secret()).raw(), channel->handshake_hash().raw(), a.key->public_key()));
    request.set_card(a.card);
    auto sealed = channel->seal(request.SerializeAsString());
    if (!sealed.ok()) return sealed.error();
    send(*sealed);
    auto answer = channel->open(receive());
    if (!answer.ok()) return answer.error();
    v1::JoinResponse response;
    if (answer->kind != net::FrameKind::message || !response.ParseFromString(answer->plaintext))
      return Error(Errc::protocol_error, "the inviter's answer is not a join response");
    beast::error_code ignored;
    ws.close(websocket::close_code::normal, ignored);
    return response;
  } catch (const boost::system::system_error& e) {
    return Error(Errc::io_error, "cannot complete the join exchange with " + url->text() + ": " + e.code().message() +
                                     " (is the inviting node running and reachable at that address?)");
  }
}

}  // namespace conect::cli
