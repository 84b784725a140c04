// ConnectionDeadline (a lazily re-armed timer that closes the socket) and ReadBuffer.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>

#include <chrono>
#include <cstring>
#include <memory>

#include "switchboard/server/deadline.hpp"
#include "switchboard/server/read_buffer.hpp"

namespace net = boost::asio;
using tcp = net::ip::tcp;
using switchboard::server::ConnectionDeadline;
using switchboard::server::ReadBuffer;
using namespace std::chrono_literals;

namespace {

// A connected pair of loopback sockets; `client` never writes, so reads on `server` wait.
struct Pair {
  net::io_context io;
  tcp::socket server{io}, client{io};
  Pair() {
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::address_v4::loopback(), 0));
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
};

// Starts a read on `p.server` and runs the loop until it completes (or `limit` passes);
// returns how long the read waited and its error.
std::chrono::milliseconds wait_read(Pair& p, boost::system::error_code& ec,
                                    std::chrono::milliseconds limit = 2000ms) {
  char byte;
  bool done = false;
  auto begin = std::chrono::steady_clock::now();
  p.server.async_read_some(net::buffer(&byte, 1), [&](boost::system::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  p.io.restart();
  p.io.run_for(limit);
  EXPECT_TRUE(done);
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               begin);
}

TEST(ConnectionDeadline, ClosesTheSocketWhenItPasses) {
  Pair p;
  ConnectionDeadline deadline(p.io.get_executor(), p.server);
  deadline.expires_after(50ms);
  boost::system::error_code ec;
  auto waited = wait_read(p, ec);
  EXPECT_TRUE(ec);
  EXPECT_TRUE(deadline.expired());
  EXPECT_FALSE(p.server.is_open());
  EXPECT_GE(waited, 45ms);
  EXPECT_LT(waited, 1000ms);
}

TEST(ConnectionDeadline, MovedLaterBeforeItFiresWaitsForTheNewOne) {
  Pair p;
  ConnectionDeadline deadline(p.io.get_executor(), p.server);
  deadline.expires_after(30ms);   // arms the timer
  deadline.expires_after(200ms);  // only a field: the early wait re-arms itself
  boost::system::error_code ec;
  auto waited = wait_read(p, ec);
  EXPECT_TRUE(deadline.expired());
  EXPECT_GE(waited, 190ms);
}

TEST(ConnectionDeadline, MovedEarlierRearms) {
  Pair p;
  ConnectionDeadline deadline(p.io.get_executor(), p.server);
  deadline.expires_after(10s);
  deadline.expires_after(40ms);
  boost::system::error_code ec;
  auto waited = wait_read(p, ec);
  EXPECT_TRUE(deadline.expired());
  EXPECT_LT(waited, 1000ms);
}

TEST(ConnectionDeadline, NeverDoesNotFire) {
  Pair p;
  ConnectionDeadline deadline(p.io.get_executor(), p.server);
  deadline.expires_after(30ms);
  deadline.expires_never();
  char byte;
  bool done = false;
  p.server.async_read_some(net::buffer(&byte, 1),
                           [&](boost::system::error_code, std::size_t) { done = true; });
  p.io.run_for(150ms);
  EXPECT_FALSE(done);
  EXPECT_FALSE(deadline.expired());
  EXPECT_TRUE(p.server.is_open());
  // Set again after the stale wait fired: armed anew.
  deadline.expires_after(30ms);
  p.io.restart();
  p.io.run_for(1000ms);
  EXPECT_TRUE(done);
  EXPECT_TRUE(deadline.expired());
}

TEST(ConnectionDeadline, DestroyedWithAWaitPendingIsSafe) {
  Pair p;
  {
    ConnectionDeadline deadline(p.io.get_executor(), p.server);
    deadline.expires_after(20ms);
  }
  p.io.run_for(100ms);  // the cancelled wait runs after the deadline is gone
  EXPECT_TRUE(p.server.is_open());
}

TEST(ReadBuffer, ConsumesCompactsAndGrows) {
  ReadBuffer buffer(16);
  std::size_t room = 0;
  char* at = buffer.prepare(8, room);
  EXPECT_EQ(room, 16u);
  std::memcpy(at, "0123456789", 10);
  buffer.commit(10);
  buffer.consume(4);
  EXPECT_EQ(std::string_view(buffer.data(), buffer.size()), "456789");
  at = buffer.prepare(8, room);  // 6 left at the end: moved to the front
  EXPECT_EQ(room, 10u);
  EXPECT_EQ(std::string_view(buffer.data(), buffer.size()), "456789");
  std::memcpy(at, "abcdefghij", 10);
  buffer.commit(10);
  at = buffer.prepare(20, room);  // 16 kept, 20 more: grows
  EXPECT_GE(room, 20u);
  EXPECT_EQ(std::string_view(buffer.data(), buffer.size()), "456789abcdefghij");
  buffer.consume(buffer.size());
  EXPECT_TRUE(buffer.empty());
  buffer.prepare(1, room);
  EXPECT_GE(room, 36u);  // emptied: the whole (grown) block again
}

}  // namespace
