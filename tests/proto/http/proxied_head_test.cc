#include "proto/http/proxied_head.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace trellis::proto::http {
namespace {

std::string Proxied(std::string_view head, ClientConnection connection) {
  std::string out = "before:";
  AppendProxiedHead(head, connection, out);
  return out;
}

TEST(ProxiedHeadTest, DropsTheServersConnectionFieldsAndKeepsTheRestInOrder) {
  EXPECT_EQ(Proxied("HTTP/1.1 200 OK\r\n"
                    "Server: nginx\r\n"
                    "Connection: keep-alive\r\n"
                    "Keep-Alive: timeout=5\r\n"
                    "Proxy-Connection: keep-alive\r\n"
                    "Content-Length: 2\r\n"
                    "\r\n",
                    ClientConnection::kAsDefault),
            "before:HTTP/1.1 200 OK\r\n"
            "Server: nginx\r\n"
            "Content-Length: 2\r\n"
            "\r\n");
}

TEST(ProxiedHeadTest, DropsTheFieldsTheConnectionOptionsName) {
  EXPECT_EQ(Proxied("HTTP/1.1 200 OK\r\n"
                    "x-secret: 1\r\n"
                    "X-Kept: 2\r\n"
                    "Connection: close,  X-SECRET \r\n"
                    "connection: x-other\r\n"
                    "X-Other: 3\r\n"
                    "Connection-Id: 4\r\n"
                    "\r\n",
                    ClientConnection::kAsDefault),
            "before:HTTP/1.1 200 OK\r\n"
            "X-Kept: 2\r\n"
            "Connection-Id: 4\r\n"
            "\r\n");
}

TEST(ProxiedHeadTest, KeepsTheFramingWhatTheOptionsSay) {
  EXPECT_EQ(Proxied("HTTP/1.1 200 OK\r\n"
                    "Connection: content-length, transfer-encoding\r\n"
                    "Content-Length: 2\r\n"
                    "\r\n",
                    ClientConnection::kAsDefault),
            "before:HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
}

TEST(ProxiedHeadTest, AddsTheProxysConnectionFieldBeforeTheEmptyLine) {
  const std::string_view head = "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n";
  EXPECT_EQ(Proxied(head, ClientConnection::kClose),
            "before:HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(Proxied(head, ClientConnection::kKeepAlive),
            "before:HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
}

TEST(ProxiedHeadTest, AFoldedLineGoesWithItsField) {
  EXPECT_EQ(Proxied("HTTP/1.1 200 OK\r\n"
                    "Connection: close,\r\n"
                    " X-Folded-Away\r\n"
                    "X-Folded-Away: a\r\n"
                    "\tb\r\n"
                    "X-Kept: c\r\n"
                    "\td\r\n"
                    "\r\n",
                    ClientConnection::kAsDefault),
            "before:HTTP/1.1 200 OK\r\n"
            "X-Kept: c\r\n"
            "\td\r\n"
            "\r\n");
}

TEST(ProxiedHeadTest, AStatusLineThatLooksLikeAFieldIsKept) {
  EXPECT_EQ(Proxied("Connection: x\r\n\r\n", ClientConnection::kAsDefault),
            "before:Connection: x\r\n\r\n");
}

}  // namespace
}  // namespace trellis::proto::http
