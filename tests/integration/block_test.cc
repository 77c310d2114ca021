// The block store (docs/block.md) with real processes: a master, three storage nodes and
// the NBD server, driven by Debian's NBD clients (nbdinfo, nbdcopy), qemu-img and fio.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "master/client/volume_state.h"
#include "testing/daemon_process.h"
#include "testing/loopback_client.h"
#include "testing/temp_dir.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::Eventually;

// Runs `program` with `args` to its end; its exit status (nullopt: it did not end in
// time) and its output.
struct Ran {
  std::optional<int> status;
  std::string output;
};
Ran RunToEnd(const std::string& program, std::vector<std::string> args,
             std::chrono::milliseconds timeout = 120s) {
  DaemonProcess process(std::move(args), program);
  Ran ran;
  ran.status = process.WaitExit(timeout);
  ran.output = process.Log();
  return ran;
}

// A counter's value in a /metrics text; -1 if absent.
int64_t Metric(uint16_t admin_port, const std::string& name) {
  const std::string body = testing::HttpGet(admin_port, "/metrics").body;
  std::smatch match;
  if (std::regex_search(body, match, std::regex("\n" + name + " ([0-9]+)"))) {
    return std::stoll(match[1].str());
  }
  return -1;
}

class BlockTest : public ::testing::Test {
 protected:
  // Storage nodes to start: enough for replica:3 here, for ec:4+2 in ErasureTest.
  virtual int NodeCount() const { return 3; }

  void SetUp() override {
    master_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "master", "--listen", "127.0.0.1:0", "--data", (dir_.path() / "master").string()});
    master_url_ = "http://127.0.0.1:" + std::to_string(master_->WaitForListening("master"));
    nodes_.resize(static_cast<size_t>(NodeCount()));
    node_admin_.resize(nodes_.size());
    for (int i = 0; i < NodeCount(); ++i) {
      StartNode(i);
    }
    nbd_ = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "nbd", "--listen", "127.0.0.1:0", "--master", master_url_, "--threads", "2"});
    nbd_port_ = nbd_->WaitForListening("nbd");
    ASSERT_TRUE(
        Eventually([&] { return Volume("list").find("\"volumes\"") != std::string::npos; }, 10s));
    ASSERT_TRUE(Eventually(
        [&] {
          const std::string services = testing::HttpGet(MasterPort(), "/v1/services").body;
          return std::count(services.begin(), services.end(), 'b') > 0 &&
                 CountOf(services, "\"kind\":\"blockd\"") == static_cast<size_t>(NodeCount());
        },
        10s));
  }

  static size_t CountOf(const std::string& text, const std::string& what) {
    size_t count = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
      ++count;
    }
    return count;
  }

  uint16_t MasterPort() const {
    return static_cast<uint16_t>(std::stoi(master_url_.substr(master_url_.rfind(':') + 1)));
  }

  void StartNode(int i) {
    nodes_[i] = std::make_unique<DaemonProcess>(std::vector<std::string>{
        "blockd", "--listen", "127.0.0.1:0", "--data", NodeDir(i).string(), "--master", master_url_,
        "--threads", "2", "--admin", "127.0.0.1:0"});
    nodes_[i]->WaitForListening("blockd");
    node_admin_[i] = nodes_[i]->WaitForListening("admin");
  }

  std::filesystem::path NodeDir(int i) const {
    return dir_.path() / ("blockd" + std::to_string(i));
  }

  // `trellis volume ARGS --json`'s output (its errors too).
  std::string Volume(const std::string& action, std::vector<std::string> more = {}) {
    std::vector<std::string> args{"volume", "--master", master_url_, "--json", action};
    args.insert(args.end(), more.begin(), more.end());
    Ran ran = RunToEnd(testing::TrellisBinary(), args, 30s);
    return ran.output;
  }

  master::VolumeState Create(const std::string& name, const std::string& size,
                             const std::string& redundancy) {
    const std::string out = Volume("create", {name, "--size", size, "--redundancy", redundancy});
    auto volume = master::ParseVolumeState(nlohmann::json::parse(out, nullptr, false));
    EXPECT_TRUE(volume.ok()) << out;
    return volume.ok() ? *volume : master::VolumeState{};
  }

  master::VolumeState Status(const std::string& name) {
    const std::string out = Volume("status", {name});
    auto volume = master::ParseVolumeState(nlohmann::json::parse(out, nullptr, false));
    EXPECT_TRUE(volume.ok()) << out;
    return volume.ok() ? *volume : master::VolumeState{};
  }

  std::string Uri(const std::string& volume) const {
    return "nbd://127.0.0.1:" + std::to_string(nbd_port_) + "/" + volume;
  }

  // The node index whose name is `name`.
  int NodeNamed(const std::string& name) const {
    for (int i = 0; i < NodeCount(); ++i) {
      std::ifstream file(NodeDir(i) / "node.name");
      std::string read;
      if (file >> read && read == name) {
        return i;
      }
    }
    return -1;
  }

  // fio's verify job on `volume`: random writes, then every block read back and checked;
  // its JSON report (null if it wrote none).
  nlohmann::json Fio(const std::string& volume, const std::string& size) {
    const std::string report = (dir_.path() / ("fio-" + volume + ".json")).string();
    const Ran fio =
        RunToEnd("/usr/bin/fio",
                 {"--name=verify", "--ioengine=nbd", "--uri=" + Uri(volume), "--rw=randwrite",
                  "--bs=4k", "--size=" + size, "--iodepth=16", "--verify=crc32c", "--do_verify=1",
                  "--verify_fatal=1", "--output-format=json", "--output=" + report},
                 300s);
    EXPECT_EQ(fio.status, 0) << fio.output;
    std::ifstream file(report);
    return nlohmann::json::parse(file, nullptr, false);
  }

  // fio's verify job on a new volume of `redundancy`, one storage node SIGKILLed once the
  // writes flow: fio sees no error and verifies every block, and the master has the dead
  // node's pieces (and only those) marked stale.
  void KillANodeUnderFio(const std::string& redundancy) {
    Create("k1", "256M", redundancy);
    DaemonProcess fio({"--name=verify", "--ioengine=nbd", "--uri=" + Uri("k1"), "--rw=randwrite",
                       "--bs=4k", "--size=192M", "--iodepth=16", "--verify=crc32c", "--do_verify=1",
                       "--verify_fatal=1", "--rate_iops=4000"},
                      "/usr/bin/fio");
    ASSERT_TRUE(
        Eventually([&] { return Metric(node_admin_[1], "trellis_blockd_pieces") > 0; }, 20s));
    std::this_thread::sleep_for(2s);  // Into the run: fio rate-limited, nothing to wait on.
    nodes_[1]->Signal(SIGKILL);
    const std::optional<int> status = fio.WaitExit(300s);
    ASSERT_EQ(status, 0) << fio.Log() << nbd_->Log();
    EXPECT_NE(fio.Log().find("err= 0"), std::string::npos) << fio.Log();
    std::ifstream name_file(NodeDir(1) / "node.name");
    std::string killed;
    name_file >> killed;
    size_t stale = 0;
    for (const master::ChunkPlacement& chunk : Status("k1").chunks) {
      for (const std::string& node : chunk.stale) {
        EXPECT_EQ(node, killed);
        ++stale;
      }
    }
    EXPECT_GT(stale, 0u);
  }

  testing::TempDir dir_;
  std::unique_ptr<DaemonProcess> master_;
  std::string master_url_;
  std::vector<std::unique_ptr<DaemonProcess>> nodes_;
  std::vector<uint16_t> node_admin_;
  std::unique_ptr<DaemonProcess> nbd_;
  uint16_t nbd_port_ = 0;
};

TEST_F(BlockTest, NbdinfoSeesTheVolumeAndNbdcopyRoundTripsAGibibyteBitExact) {
  Create("v1", "1G", "replica:3");
  const Ran info = RunToEnd("/usr/bin/nbdinfo", {"--json", Uri("v1")}, 30s);
  ASSERT_EQ(info.status, 0) << info.output;
  const nlohmann::json described = nlohmann::json::parse(info.output, nullptr, false);
  ASSERT_TRUE(described.contains("exports")) << info.output;
  EXPECT_EQ(described["exports"][0]["export-size"], 1ull << 30);
  EXPECT_EQ(described["exports"][0]["block_size_minimum"], 4096);
  EXPECT_EQ(described["exports"][0]["can_multi_conn"], true);

  const std::string source = (dir_.path() / "random.bin").string();
  const std::string back = (dir_.path() / "back.bin").string();
  ASSERT_EQ(RunToEnd("/bin/sh", {"-c", "head -c 1073741824 /dev/urandom > " + source}).status, 0);
  const Ran in = RunToEnd("/usr/bin/nbdcopy", {"--flush", source, Uri("v1")});
  ASSERT_EQ(in.status, 0) << in.output << nbd_->Log();
  const Ran out = RunToEnd("/usr/bin/nbdcopy", {Uri("v1"), back});
  ASSERT_EQ(out.status, 0) << out.output;
  EXPECT_EQ(RunToEnd("/usr/bin/cmp", {source, back}).status, 0);
  const Ran missing = RunToEnd("/usr/bin/nbdinfo", {Uri("nope")}, 30s);
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.output.find("nope"), std::string::npos) << missing.output;
}

TEST_F(BlockTest, QemuImgMakesAndChecksAQcow2ImageInsideAVolume) {
  Create("q1", "1G", "replica:3");
  const Ran made = RunToEnd("/usr/bin/qemu-img", {"create", "-f", "qcow2", Uri("q1"), "768M"});
  ASSERT_EQ(made.status, 0) << made.output;
  const Ran written =
      RunToEnd("/usr/bin/qemu-io", {"-f", "qcow2", "-c", "write -P 0x5a 1M 8M", Uri("q1")});
  ASSERT_EQ(written.status, 0) << written.output;
  const Ran read =
      RunToEnd("/usr/bin/qemu-io", {"-f", "qcow2", "-c", "read -P 0x5a 1M 8M", Uri("q1")});
  ASSERT_EQ(read.status, 0) << read.output;
  EXPECT_EQ(read.output.find("Pattern verification failed"), std::string::npos) << read.output;
  const Ran checked = RunToEnd("/usr/bin/qemu-img", {"check", Uri("q1")});
  ASSERT_EQ(checked.status, 0) << checked.output;
  EXPECT_NE(checked.output.find("No errors were found"), std::string::npos) << checked.output;
}

TEST_F(BlockTest, FioVerifiesRandomWritesOnAReplicatedVolume) {
  Create("f1", "256M", "replica:3");
  const nlohmann::json report = Fio("f1", "128M");
  ASSERT_TRUE(report.contains("jobs")) << report;
  EXPECT_EQ(report["jobs"][0]["error"], 0);
  EXPECT_GT(report["jobs"][0]["write"]["io_bytes"].get<int64_t>(), 0);
  // Zeroing (NO_HOLE and FUA, as qemu-io sends it) and a discard of whole chunks, larger
  // than one storage request: the range reads back as zeroes.
  const Ran zeroed =
      RunToEnd("/usr/bin/qemu-io", {"-f", "raw", "-c", "write -z 0 64M", "-c", "discard 64M 64M",
                                    "-c", "write -z 128M 64M", "-c", "read -P 0 0 64M", "-c",
                                    "read -P 0 128M 64M", Uri("f1")});
  ASSERT_EQ(zeroed.status, 0) << zeroed.output;
  EXPECT_EQ(zeroed.output.find("failed"), std::string::npos) << zeroed.output << nbd_->Log();
}

// The block whose byte round `round` flips.
std::streamoff Block(int round) { return 4096 * (1 + 5 * round); }

TEST_F(BlockTest, AFlippedByteIsCaughtServedFromAnotherCopyAndMended) {
  const master::VolumeState volume = Create("c1", "64M", "replica:3");
  const std::string source = (dir_.path() / "data.bin").string();
  ASSERT_EQ(RunToEnd("/bin/sh", {"-c", "head -c 67108864 /dev/urandom > " + source}).status, 0);
  ASSERT_EQ(RunToEnd("/usr/bin/nbdcopy", {"--flush", source, Uri("c1")}).status, 0);
  // Every copy's data file of chunk 0 is the same; flip a byte in each node's in turn,
  // in a different block each time, read that block three times on one connection (its
  // reads go to each copy first in turn), and the whole volume back through NBD.
  for (int round = 0; round < 3; ++round) {
    const std::filesystem::path piece = NodeDir(round) / "pieces" / std::to_string(volume.id) / "0";
    {
      std::fstream file(piece, std::ios::in | std::ios::out | std::ios::binary);
      ASSERT_TRUE(file.is_open()) << piece;
      const std::streamoff at = Block(round) + 7;
      file.seekg(at);
      const char was = static_cast<char>(file.get());
      file.seekp(at);
      file.put(static_cast<char>(was ^ 0x40));
    }
    const std::string read = "read " + std::to_string(Block(round)) + " 4096";
    const Ran reads = RunToEnd("/usr/bin/qemu-io",
                               {"-r", "-f", "raw", "-c", read, "-c", read, "-c", read, Uri("c1")});
    ASSERT_EQ(reads.status, 0) << reads.output;
    EXPECT_EQ(reads.output.find("error"), std::string::npos) << reads.output;
    const std::string back = (dir_.path() / ("back" + std::to_string(round))).string();
    const Ran out = RunToEnd("/usr/bin/nbdcopy", {Uri("c1"), back});
    ASSERT_EQ(out.status, 0) << out.output;
    EXPECT_EQ(RunToEnd("/usr/bin/cmp", {source, back}).status, 0);
    EXPECT_TRUE(Eventually(
        [&] { return Metric(node_admin_[round], "trellis_blockd_repaired_blocks_total") >= 1; },
        10s))
        << "node " << round;
  }
  // Mended: the three copies are the same bytes again.
  for (int i = 1; i < 3; ++i) {
    EXPECT_EQ(RunToEnd("/usr/bin/cmp",
                       {(NodeDir(0) / "pieces" / std::to_string(volume.id) / "0").string(),
                        (NodeDir(i) / "pieces" / std::to_string(volume.id) / "0").string()})
                  .status,
              0);
  }
  EXPECT_TRUE(Status("c1").chunks[0].stale.empty());
}

TEST_F(BlockTest, KillingAStorageNodeUnderFioLosesNoIoAndItsPiecesGoStale) {
  KillANodeUnderFio("replica:3");
}

TEST_F(BlockTest, ASecondWriterFencesTheFirst) {
  Create("w1", "64M", "replica:3");
  const std::string block = (dir_.path() / "block.bin").string();
  ASSERT_EQ(RunToEnd("/bin/sh", {"-c", "head -c 1048576 /dev/urandom > " + block}).status, 0);
  ASSERT_EQ(RunToEnd("/usr/bin/nbdcopy", {block, Uri("w1")}).status, 0);
  DaemonProcess second({"nbd", "--listen", "127.0.0.1:0", "--master", master_url_});
  const std::string uri =
      "nbd://127.0.0.1:" + std::to_string(second.WaitForListening("nbd")) + "/w1";
  ASSERT_EQ(RunToEnd("/usr/bin/nbdcopy", {block, uri}).status, 0);
  // The first server's writes are refused by the nodes now: the client sees an error.
  const Ran fenced = RunToEnd("/usr/bin/nbdcopy", {block, Uri("w1")});
  EXPECT_NE(fenced.status, 0);
  EXPECT_NE(fenced.output.find("Input/output error"), std::string::npos) << fenced.output;
}

class ErasureTest : public BlockTest {
 protected:
  int NodeCount() const override { return 6; }
};

TEST_F(ErasureTest, FioVerifiesRandomWritesOnAnErasureCodedVolume) {
  const master::VolumeState volume = Create("e1", "256M", "ec:4+2");
  EXPECT_EQ(volume.chunks[0].nodes.size(), 6u);
  const nlohmann::json report = Fio("e1", "128M");
  ASSERT_TRUE(report.contains("jobs")) << report;
  EXPECT_EQ(report["jobs"][0]["error"], 0);
  // Sequential copies too: whole stripes, coded without reading first.
  const std::string source = (dir_.path() / "data.bin").string();
  const std::string back = (dir_.path() / "back.bin").string();
  // 100 MiB: a whole number of the volume's blocks, the unit the server takes.
  ASSERT_EQ(RunToEnd("/bin/sh", {"-c", "head -c 104857600 /dev/urandom > " + source}).status, 0);
  ASSERT_EQ(RunToEnd("/usr/bin/nbdcopy", {source, Uri("e1")}).status, 0) << nbd_->Log();
  ASSERT_EQ(RunToEnd("/usr/bin/nbdcopy", {Uri("e1"), back}).status, 0);
  EXPECT_EQ(RunToEnd("/usr/bin/cmp", {"-n", "104857600", source, back}).status, 0);
}

TEST_F(ErasureTest, KillingAStorageNodeUnderFioLosesNoIoAndItsPiecesGoStale) {
  KillANodeUnderFio("ec:4+2");
}

TEST_F(ErasureTest, TwoNodesDownStillServeAThirdGivesErrorsNeverWrongDataAndItComesBack) {
  Create("e2", "64M", "ec:4+2");
  const std::string first = (dir_.path() / "first.bin").string();
  const std::string second = (dir_.path() / "second.bin").string();
  const std::string back = (dir_.path() / "back.bin").string();
  ASSERT_EQ(RunToEnd("/bin/sh", {"-c", "head -c 67108864 /dev/urandom > " + first}).status, 0);
  ASSERT_EQ(RunToEnd("/bin/sh", {"-c", "head -c 67108864 /dev/urandom > " + second}).status, 0);
  ASSERT_EQ(RunToEnd("/usr/bin/nbdcopy", {first, Uri("e2")}).status, 0) << nbd_->Log();

  nodes_[0]->Signal(SIGKILL);
  nodes_[3]->Signal(SIGKILL);
  // Two down: what was written reads back (decoded), and new writes are taken.
  ASSERT_EQ(RunToEnd("/usr/bin/nbdcopy", {Uri("e2"), back}).status, 0) << nbd_->Log();
  EXPECT_EQ(RunToEnd("/usr/bin/cmp", {first, back}).status, 0);
  ASSERT_EQ(RunToEnd("/usr/bin/nbdcopy", {second, Uri("e2")}).status, 0) << nbd_->Log();
  ASSERT_EQ(RunToEnd("/usr/bin/nbdcopy", {Uri("e2"), back}).status, 0);
  EXPECT_EQ(RunToEnd("/usr/bin/cmp", {second, back}).status, 0);

  // A third down: reads fail cleanly; nothing wrong is ever served.
  nodes_[5]->Signal(SIGKILL);
  ASSERT_TRUE(nodes_[5]->WaitExit(10s).has_value());
  const Ran failed = RunToEnd("/usr/bin/nbdcopy", {Uri("e2"), back});
  EXPECT_NE(failed.status, 0);
  EXPECT_NE(failed.output.find("Input/output error"), std::string::npos) << failed.output;

  // The third back: readable again, the second file's bytes exactly.
  nodes_[5].reset();
  StartNode(5);
  ASSERT_TRUE(Eventually(
      [&] {
        return RunToEnd("/usr/bin/nbdcopy", {Uri("e2"), back}, 60s).status == 0;
      },
      30s))
      << nbd_->Log();
  EXPECT_EQ(RunToEnd("/usr/bin/cmp", {second, back}).status, 0);
}

}  // namespace
}  // namespace trellis
