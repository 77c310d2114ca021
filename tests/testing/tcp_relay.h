// TcpRelay: a loopback TCP forwarder that a test puts between two processes so that it
// can cut the network between them (a partition) while both keep running: once cut, the
// relayed connections are reset and new ones refused, until it is resumed.
//
// Thread safety: construct, Cut and destroy from one test thread; it runs threads of its
// own, joined by the destructor.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace trellis::testing {

class TcpRelay {
 public:
  // Listens on 127.0.0.1 (a free port) and forwards every connection to 127.0.0.1:target.
  explicit TcpRelay(uint16_t target);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  uint16_t port() const { return port_; }
  // Resets every relayed connection and refuses new ones from now on.
  void Cut();
  // Relays new connections again after a Cut (the partition heals).
  void Resume();

 private:
  // Listens on 127.0.0.1:port_ (a free port while port_ is 0) and sets port_.
  void Listen();
  void Accept();
  // Copies bytes both ways between `a` and `b` until either closes or the relay is cut.
  void Pump(int a, int b);

  const uint16_t target_;
  uint16_t port_ = 0;
  int listener_ = -1;
  std::atomic<bool> cut_{false};
  std::mutex mu_;
  std::vector<std::thread> pumps_;  // Guarded by mu_.
  std::thread acceptor_;
};

}  // namespace trellis::testing
