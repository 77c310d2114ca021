#include "testing/tcp_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace trellis::testing {

namespace {

constexpr int kPollMs = 20;  // How soon the threads notice a cut.

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// Closes with a reset, as a network that drops the connection would look to its ends
// once they next send.
void Reset(int fd) {
  linger abort{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
  close(fd);
}

}  // namespace

TcpRelay::TcpRelay(uint16_t target) : target_(target) {
  Listen();
  acceptor_ = std::thread([this] { Accept(); });
}

void TcpRelay::Listen() {
  // CLOEXEC: processes the test starts later must not inherit (and keep open) the port.
  listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int yes = 1;
  sockaddr_in address = Loopback(port_);
  socklen_t length = sizeof(address);
  if (listener_ < 0 || setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes)) != 0 ||
      bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      listen(listener_, 64) != 0 ||
      getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("TcpRelay: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
}

TcpRelay::~TcpRelay() {
  Cut();
  acceptor_.join();
  std::lock_guard lock(mu_);
  for (std::thread& pump : pumps_) {
    pump.join();
  }
}

void TcpRelay::Cut() { cut_ = true; }

void TcpRelay::Resume() {
  acceptor_.join();  // It stops once cut, and closes the port.
  cut_ = false;
  Listen();  // The same port again.
  acceptor_ = std::thread([this] { Accept(); });
}

void TcpRelay::Accept() {
  while (!cut_) {
    pollfd ready{listener_, POLLIN, 0};
    if (poll(&ready, 1, kPollMs) <= 0) {
      continue;
    }
    const int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      continue;
    }
    const int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = Loopback(target_);
    if (server < 0 ||
        connect(server, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      Reset(client);
      if (server >= 0) {
        close(server);
      }
      continue;
    }
    std::lock_guard lock(mu_);
    pumps_.emplace_back([this, client, server] { Pump(client, server); });
  }
  Reset(listener_);  // From now on connecting is refused.
}

void TcpRelay::Pump(int a, int b) {
  char buffer[64 * 1024];
  bool open = true;
  while (open && !cut_) {
    pollfd ready[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    if (poll(ready, 2, kPollMs) <= 0) {
      continue;
    }
    for (int i = 0; i < 2 && open; ++i) {
      if (ready[i].revents == 0) {
        continue;
      }
      const ssize_t got = read(ready[i].fd, buffer, sizeof(buffer));
      const int to = ready[i].fd == a ? b : a;
      open = got > 0;
      for (ssize_t sent = 0; open && sent < got;) {
        const ssize_t n = send(to, buffer + sent, static_cast<size_t>(got - sent), MSG_NOSIGNAL);
        open = n > 0;
        sent += n;
      }
    }
  }
  if (cut_) {
    Reset(a);
    Reset(b);
  } else {  // One end closed: everything it sent has been passed on.
    close(a);
    close(b);
  }
}

}  // namespace trellis::testing
