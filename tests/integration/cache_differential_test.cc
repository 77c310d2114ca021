// Differential test: the same raw command sequences go to memcached 1.6 (the Debian
// package, started here) and to `trellis cache`, and the replies must match byte for
// byte, after normalising only what legitimately differs: CAS values, versions and the
// timing fields of `me`. Each case runs on a fresh connection after flush_all; a trailing
// meta get with a unique opaque marks the end of its replies (or the server closes the
// connection). Not `mn`: memcached flushes at every mn, so a case holding one would end
// the read early.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "testing/daemon_process.h"
#include "testing/held_port.h"
#include "testing/loopback_client.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::LoopbackClient;

std::string Normalise(std::string reply) {
  static const std::regex value_cas(R"((VALUE \S+ \d+ \d+) \d+\r\n)");
  static const std::regex meta_cas(R"(( c)\d+)");
  static const std::regex version(R"(VERSION \S+)");
  static const std::regex me(R"((ME \S+) exp=\S+ la=\d+ cas=\d+ fetch=(\w+) cls=\d+ size=\d+)");
  reply = std::regex_replace(reply, value_cas, "$1 <cas>\r\n");
  reply = std::regex_replace(reply, meta_cas, "$1<cas>");
  reply = std::regex_replace(reply, version, "VERSION <version>");
  return std::regex_replace(reply, me, "$1 fetch=$2");
}

// Sends `commands` on a fresh connection (after a flush) and returns the replies. A case
// may say "<cas>" for the CAS that the server reported last (a meta " c<N>" flag): the
// lines before the one that says it are sent and answered first, then it is replaced.
std::string RunCase(uint16_t port, const std::string& commands) {
  {
    LoopbackClient flush(port);
    flush.Send("flush_all\r\n");
    flush.ReadUntil("OK\r\n");
  }
  LoopbackClient client(port);
  std::string replies;
  std::string rest = commands;
  for (size_t at; (at = rest.find("<cas>")) != std::string::npos;) {
    const size_t line =
        rest.rfind("\r\n", at) == std::string::npos ? 0 : rest.rfind("\r\n", at) + 2;
    client.Send(rest.substr(0, line) + "mg __end__ Ocasmark\r\n");
    rest = rest.substr(line);
    at -= line;
    replies += client.ReadUntil("EN Ocasmark\r\n", 3s);
    static const std::regex meta_cas(R"( c(\d+))");
    std::string cas = "none";
    for (auto it = std::sregex_iterator(replies.begin(), replies.end(), meta_cas);
         it != std::sregex_iterator(); ++it) {
      cas = (*it)[1];
    }
    rest = rest.substr(0, at) + cas + rest.substr(at + 5);
  }
  client.Send(rest + "mg __end__ Odiffend\r\n");
  return replies + client.ReadUntil("EN Odiffend\r\n", 3s);
}

std::vector<std::string> Cases() {
  std::vector<std::string> cases;
  const std::string big_key(250, 'k');
  const std::string huge_key(251, 'k');
  // Storage commands, each over an absent and a present key, quiet and not.
  for (const char* cmd : {"set", "add", "replace", "append", "prepend"}) {
    const std::string c = cmd;
    for (const std::string& prefix : {std::string(), std::string("set k 1 0 3\r\nold\r\n")}) {
      cases.push_back(prefix + c + " k 5 0 3\r\nnew\r\nget k\r\n");
      cases.push_back(prefix + c + " k 5 0 3 noreply\r\nnew\r\nget k\r\n");
      cases.push_back(prefix + c + " k 5 0 0\r\n\r\ngets k\r\n");
    }
    cases.push_back(c + " k abc 0 1\r\nx\r\n");
    cases.push_back(c + " k -1 0 1\r\nx\r\n");
    cases.push_back(c + " k 4294967296 0 1\r\nx\r\nget k\r\n");
    cases.push_back(c + " k 0 abc 1\r\nx\r\n");
    cases.push_back(c + " k 0 0 -1\r\nx\r\n");
    cases.push_back(c + " k 0 0 abc\r\nx\r\n");
    cases.push_back(c + " k 0 0 1\r\nxyz\r\nget k\r\n");
    cases.push_back(c + " k 0 0 1 noreply\r\nxyz\r\nget k\r\n");
    cases.push_back(c + " k 0 0\r\n");
    cases.push_back(c + " k 0 0 1 noreply extra\r\nx\r\n");
    cases.push_back(c + " " + big_key + " 0 0 1\r\nx\r\nget " + big_key + "\r\n");
    cases.push_back(c + " " + huge_key + " 0 0 1\r\nx\r\n");
    cases.push_back(c + " k 0 -1 1\r\nx\r\nget k\r\n");
    cases.push_back(c + " k 0 0 2097152\r\n" + std::string(2097152, 'v') + "\r\nget k\r\n");
    cases.push_back("set k 0 0 3\r\nold\r\n" + c + " k 0 0 2097152\r\n" +
                    std::string(2097152, 'v') + "\r\nget k\r\n");
  }
  // cas.
  cases.push_back("cas k 0 0 1 1\r\nx\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\ncas k 0 0 1 12345678\r\ny\r\nget k\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\ncas k 0 0 1 abc\r\ny\r\n");
  cases.push_back("cas k 0 0 1 1 noreply\r\nx\r\n");
  cases.push_back("cas k 0 0 1\r\nx\r\n");
  // Retrieval.
  for (const char* get : {"get", "gets", "gat 0", "gats 0", "gat 100"}) {
    const std::string g = get;
    cases.push_back(g + " missing\r\n");
    cases.push_back("set a 1 0 1\r\nA\r\nset b 2 0 2\r\nBB\r\n" + g + " a missing b a\r\n");
    cases.push_back(g + " " + huge_key + "\r\n");
    cases.push_back(g + "\r\n");
    std::string many = "set k7 0 0 1\r\n7\r\n" + g;
    for (int i = 0; i < 40; ++i) {
      many += " k" + std::to_string(i % 10);
    }
    cases.push_back(many + "\r\n");
  }
  cases.push_back("gat abc k\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\ngat -1 k\r\nget k\r\n");
  cases.push_back("get  k   \r\n");
  cases.push_back("bget k\r\n");
  // incr / decr.
  for (const char* op : {"incr", "decr"}) {
    const std::string o = op;
    cases.push_back(o + " k 1\r\n");
    cases.push_back("set k 0 0 2\r\n10\r\n" + o + " k 1\r\nget k\r\n");
    cases.push_back("set k 0 0 2\r\n10\r\n" + o + " k 1 noreply\r\nget k\r\n");
    cases.push_back("set k 0 0 2\r\nab\r\n" + o + " k 1\r\n");
    cases.push_back("set k 0 0 2\r\n10\r\n" + o + " k abc\r\n");
    cases.push_back("set k 0 0 2\r\n10\r\n" + o + " k -1\r\n");
    cases.push_back("set k 0 0 20\r\n18446744073709551615\r\n" + o + " k 1\r\nget k\r\n");
    cases.push_back("set k 0 0 3\r\n100\r\n" + o + " k 95\r\nget k\r\n");
    cases.push_back("set k 0 0 1\r\n5\r\n" + o + " k 10\r\nget k\r\n");
    cases.push_back(o + " k\r\n");
    cases.push_back(o + " " + huge_key + " 1\r\n");
    // The stored value is read as strtoull reads it, and a shorter result is padded with
    // spaces to the old length. (Not a value of only whitespace: memcached's strtoull then
    // reads on past the item, into whatever the slab holds next.)
    for (const std::string& value : std::vector<std::string>{
             "  10", "10  ", " 999", "  999", "99", "1 2 ", "+10", "-0", "-10", "\n\t10",
             std::string("10\0x", 4), "000000000000000000000000000005", "-18446744073709551615",
             "18446744073709551616", "10ab", "0x10"}) {
      cases.push_back("set k 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n" + o +
                      " k 1\r\nget k\r\n");
    }
    cases.push_back("set k 0 0 4\r\n  10\r\n" + o + " k 100\r\nget k\r\n");
    cases.push_back("set k 0 0 4\r\n  10\r\n" + o + " k 18446744073709551615\r\nget k\r\n");
    cases.push_back("set k 0 0 0\r\n\r\n" + o + " k 1\r\n");
    cases.push_back("set k 0 0 1\r\n5\r\n" + o + " k " + std::string(70, '0') + "1\r\nget k\r\n");
  }
  cases.push_back("set k " + std::string(70, '0') + "7 0 1\r\n1\r\nmg k f\r\n");
  cases.push_back("set n 0 0 4\r\n  10\r\nma n v\r\nmg n v\r\n");
  cases.push_back("set n 0 0 4\r\n 999\r\nma n v D1\r\nmg n v\r\n");
  cases.push_back("set n 0 0 0\r\n\r\nma n C1\r\n");
  // delete.
  cases.push_back("delete k\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\ndelete k\r\nget k\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\ndelete k 0\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\ndelete k 1\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\ndelete k noreply\r\nget k\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\ndelete k 0 noreply\r\nget k\r\n");
  cases.push_back("delete k 0 noreply extra\r\n");
  cases.push_back("delete\r\n");
  cases.push_back("delete " + huge_key + "\r\n");
  // touch.
  cases.push_back("touch k 10\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\ntouch k 10\r\nget k\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\ntouch k abc\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\ntouch k -1\r\nget k\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\ntouch k 10 noreply\r\nget k\r\n");
  cases.push_back("touch k\r\n");
  // flush_all, verbosity, version, misc.
  cases.push_back("set k 0 0 1\r\nx\r\nflush_all\r\nget k\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\nflush_all noreply\r\nget k\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\nflush_all 0\r\nget k\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\nflush_all -1\r\nget k\r\n");
  cases.push_back("flush_all abc\r\n");
  cases.push_back("set k 0 0 1\r\nx\r\nflush_all 100\r\nget k\r\n");
  cases.push_back("flush_all 1 2 3\r\n");
  cases.push_back("verbosity 1\r\n");
  cases.push_back("verbosity 1 noreply\r\n");
  cases.push_back("verbosity\r\n");
  cases.push_back("verbosity abc\r\n");
  cases.push_back("version\r\n");
  cases.push_back("nonsense\r\n");
  cases.push_back("\r\n");
  cases.push_back("a\r\n");
  cases.push_back("   \r\n");
  cases.push_back("GET\r\n");
  cases.push_back("get k\n");
  cases.push_back(std::string("get k\0junk\r\n", 12));
  cases.push_back("set k 0 0 1\nx\r\nget k\n");
  cases.push_back("shutdown\r\n");
  cases.push_back("GET / HTTP/1.1\r\n");
  cases.push_back("quit\r\nget k\r\n");
  cases.push_back(std::string(3000, 'x'));
  cases.push_back("get " + std::string(3000, 'x') + "\r\n");
  cases.push_back("get k\r\nget k\r\nget k\r\n");
  // Meta commands.
  const std::string set_k = "set k 7 0 5\r\nhello\r\n";
  for (const char* flags : {"", " v", " k", " f", " s", " t", " v f s k", " Oabc", " Oabc k v",
                            " q", " q v", " c", " h", " h v", " u v", " x", " v v"}) {
    cases.push_back(std::string("mg k") + flags + "\r\n");
    cases.push_back(set_k + "mg k" + flags + "\r\n");
  }
  cases.push_back(set_k + "mg k h\r\nmg k h\r\n");
  cases.push_back("mg\r\n");
  cases.push_back("mg " + huge_key + " v\r\n");
  cases.push_back("mg k Oabcdefghijabcdefghijabcdefghijabcdefghij\r\n");
  cases.push_back(set_k + "mg k v Oabcdefghijabcdefghijabcdefghijabcdefghij\r\n");
  cases.push_back("mg k Tabc\r\n");
  cases.push_back(set_k + "mg k v T0 t\r\n");
  cases.push_back("mg k N0 v t\r\nmg k v\r\n");
  cases.push_back("mg k 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\r\n");
  cases.push_back("ms k 2 F5\r\nhi\r\nmg a2V5 b v k\r\n");
  cases.push_back("ms a2V5 2 b\r\nhi\r\nmg k v\r\nmg a2V5 b k v\r\n");
  cases.push_back("mg !!! b\r\n");
  for (const char* flags : {"", " q", " k", " Oxy", " F9 T0", " MS", " ME", " MA", " MP", " MR",
                            " MZ", " M", " c q", " C1", " I"}) {
    cases.push_back(std::string("ms k 2") + flags + "\r\nhi\r\nmg k v f\r\n");
    cases.push_back(set_k + "ms k 2" + flags + "\r\nhi\r\nmg k v f\r\n");
  }
  // ms with I (invalidate) and a CAS: lower than the item's stores the value as stale,
  // keeping the TTL and win token of the item it replaces; equal is a plain store; higher
  // is refused. Stale item (md I) or not.
  for (const char* before : {"", "md k I\r\n", "md k I\r\nmg k\r\n"}) {
    const std::string prefix = set_k + before;
    cases.push_back(prefix + "ms k 2 I C1\r\nhi\r\nmg k v f t\r\nmg k v\r\n");
    cases.push_back(prefix + "ms k 2 I C18446744073709551615\r\nhi\r\nmg k v\r\n");
    cases.push_back(prefix + "mg k c\r\nms k 2 I C<cas>\r\nhi\r\nmg k v\r\n");
    cases.push_back(prefix + "ms k 2 C1\r\nhi\r\nmg k v\r\n");
    cases.push_back(prefix + "mg k c\r\nms k 2 C<cas>\r\nhi\r\nmg k v\r\n");
  }
  for (const char* flags : {" MS", " MR", " MA", " MP", " ME", " q", " c k Oxx", " F3", " T100"}) {
    cases.push_back(set_k + "md k I\r\nms k 2 I C1" + flags + "\r\nhi\r\nmg k v f t\r\n");
  }
  cases.push_back("ms k 2 I C1\r\nhi\r\nmg k v\r\n");
  cases.push_back("ms k\r\nhi\r\n");
  cases.push_back("ms k abc\r\nhi\r\n");
  cases.push_back("ms k -1\r\nhi\r\n");
  cases.push_back("ms k 2\r\nhiya\r\n");
  cases.push_back("ms k 2 q\r\nhiya\r\n");
  cases.push_back("ms k 2 Q\r\nhi\r\nmg k v\r\n");
  cases.push_back("ms k 2097152 T0\r\n" + std::string(2097152, 'v') + "\r\nmg k\r\n");
  cases.push_back(set_k + "ms k 2097152 MA\r\n" + std::string(2097152, 'v') + "\r\nmg k v\r\n");
  for (const char* flags : {"", " q", " k", " Oxy", " C1", " I", " I T30", " x", " Z"}) {
    cases.push_back(std::string("md k") + flags + "\r\nmg k v\r\n");
    cases.push_back(set_k + "md k" + flags + "\r\nmg k v\r\n");
  }
  for (const char* flags : {"", " v", " q", " N0", " N0 J13 v", " D5 v", " MD v", " M- D100 v",
                            " MX", " Dabc", " Oxy k v", " C1", " t v", " c"}) {
    cases.push_back(std::string("ma n") + flags + "\r\nmg n v\r\n");
    cases.push_back("set n 0 0 2\r\n10\r\nma n" + std::string(flags) + "\r\nmg n v\r\n");
  }
  cases.push_back("set n 0 0 1\r\nx\r\nma n\r\n");
  cases.push_back("me k\r\n");
  cases.push_back(set_k + "me k\r\n");
  cases.push_back("me\r\n");
  cases.push_back("mz k\r\n");
  cases.push_back("mn\r\nversion\r\n");
  cases.push_back(set_k + "mg k q v\r\nmg missing q v\r\nmg k k q\r\n");
  return cases;
}

class CacheDifferentialTest : public ::testing::Test {
 protected:
  CacheDifferentialTest()
      : memcached_port_(memcached_hold_.port()),
        memcached_({"-p", std::to_string(memcached_port_), "-l", "127.0.0.1", "-U", "0", "-t", "1",
                    "-m", "64", "-u", geteuid() == 0 ? "root" : ""},
                   "/usr/bin/memcached", memcached_hold_),
        trellis_({"cache", "--listen", "127.0.0.1:0", "--threads", "1", "--memory", "64"}),
        second_node_({"cache", "--listen", "127.0.0.1:0", "--threads", "1", "--memory", "64"}) {
    trellis_port_ = trellis_.WaitForListening("cache");
    const uint16_t second_port = second_node_.WaitForListening("cache");
    access_ = std::make_unique<testing::DaemonProcess>(
        std::vector<std::string>{"access", "--listen", "127.0.0.1:0", "--threads", "2", "--group",
                                 "a=127.0.0.1:" + std::to_string(trellis_port_), "--group",
                                 "b=127.0.0.1:" + std::to_string(second_port)});
    access_port_ = access_->WaitForListening("access");
    EXPECT_TRUE(testing::WaitForPort(memcached_port_)) << memcached_.Log();
  }

  // Runs every case against memcached and `port`; returns the number that differ.
  int CompareWithMemcached(uint16_t port, const std::string& name) {
    const std::vector<std::string> cases = Cases();
    EXPECT_GE(cases.size(), 200u);
    int mismatches = 0;
    for (const std::string& commands : cases) {
      const std::string expected = Normalise(RunCase(memcached_port_, commands));
      const std::string actual = Normalise(RunCase(port, commands));
      if (expected != actual) {
        ++mismatches;
        ADD_FAILURE() << "commands:\n"
                      << commands.substr(0, 300) << "\nmemcached:\n"
                      << expected.substr(0, 600) << "\n"
                      << name << ":\n"
                      << actual.substr(0, 600);
      }
    }
    return mismatches;
  }

  testing::HeldPort memcached_hold_;  // Released as memcached starts: it binds alone.
  uint16_t memcached_port_;
  testing::DaemonProcess memcached_;
  testing::DaemonProcess trellis_;
  testing::DaemonProcess second_node_;
  std::unique_ptr<testing::DaemonProcess> access_;  // In front of both nodes.
  uint16_t trellis_port_ = 0;
  uint16_t access_port_ = 0;
};

TEST_F(CacheDifferentialTest, RepliesMatchMemcachedByteForByte) {
  EXPECT_EQ(CompareWithMemcached(trellis_port_, "trellis cache"), 0);
}

// The same cases through the access proxy, in front of two nodes: bad input, quiet
// modes and multi-key gets come back as from one memcached.
TEST_F(CacheDifferentialTest, RepliesThroughAccessMatchMemcachedByteForByte) {
  EXPECT_EQ(CompareWithMemcached(access_port_, "trellis access"), 0);
}

}  // namespace
}  // namespace trellis
