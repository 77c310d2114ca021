// `trellis volume`: the block store's volumes (docs/block.md): create one with its
// redundancy, list them, show one's placement, delete one. Creating and deleting need an
// admin token (by default the one `trellis up` wrote to ./trellis-data/admin.token).
#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "daemon/flags.h"
#include "master/client/master_client.h"

namespace trellis::cli {
namespace {

namespace asio = boost::asio;

struct VolumeFlags {
  daemon::OperatorFlags master;
  bool json = false;
  std::string name;
  uint64_t size = 0;
  std::string redundancy = "replica:3";
  uint64_t block_size = master::kDefaultVolumeBlockSize;
};

std::string Bytes(uint64_t bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

void PrintVolume(const master::VolumeState& volume) {
  fmt::print("volume      {} (id {})\nsize        {} ({} bytes), blocks of {}\n", volume.name,
             volume.id, Bytes(volume.size), volume.size, volume.block_size);
  fmt::print("redundancy  {} (usable {:.0f}% of the space it takes)\n",
             master::FormatRedundancy(volume.redundancy), volume.redundancy.usable_ratio() * 100);
  fmt::print("generation  {}\nchunks      {} of {}\n", volume.generation, volume.chunks.size(),
             Bytes(volume.chunk_size));
  for (size_t i = 0; i < volume.chunks.size(); ++i) {
    std::string stale;
    for (const std::string& node : volume.chunks[i].stale) {
      stale += " " + node;
    }
    fmt::print("  {:>5}  {}{}\n", i, fmt::join(volume.chunks[i].nodes, " "),
               stale.empty() ? "" : "  stale:" + stale);
  }
}

asio::awaitable<base::Status> ActOnVolumes(master::MasterClient& client, const std::string& action,
                                           const VolumeFlags& flags) {
  if (action == "create") {
    TRELLIS_CO_TRY(const master::Redundancy redundancy, master::ParseRedundancy(flags.redundancy));
    const master::VolumeRequest request{flags.name, flags.size, redundancy,
                                        static_cast<uint32_t>(flags.block_size)};
    TRELLIS_CO_TRY(master::VolumeState created, co_await client.CreateVolume(request));
    if (flags.json) {
      fmt::print("{}\n", master::ToJson(created).dump());
    } else {
      fmt::print("volume {} created: {}, {}, {} chunks\n", created.name, Bytes(created.size),
                 master::FormatRedundancy(created.redundancy), created.chunks.size());
    }
    co_return base::Status();
  }
  if (action == "list") {
    TRELLIS_CO_TRY(master::VolumeList list, co_await client.ListVolumes());
    if (flags.json) {
      fmt::print("{}\n", master::ToJson(list).dump());
      co_return base::Status();
    }
    fmt::print("{:<24} {:>12} {:>10} {:>7} {:>11}\n", "NAME", "SIZE", "REDUNDANCY", "BLOCK",
               "GENERATION");
    for (const master::VolumeState& volume : list.volumes) {
      fmt::print("{:<24} {:>12} {:>10} {:>7} {:>11}\n", volume.name, Bytes(volume.size),
                 master::FormatRedundancy(volume.redundancy), volume.block_size, volume.generation);
    }
    co_return base::Status();
  }
  if (action == "status") {
    TRELLIS_CO_TRY(master::VolumeState volume, co_await client.GetVolume(flags.name));
    if (flags.json) {
      fmt::print("{}\n", master::ToJson(volume).dump());
    } else {
      PrintVolume(volume);
    }
    co_return base::Status();
  }
  co_return co_await client.DeleteVolume(flags.name);
}

}  // namespace

Command AddVolumeCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "volume",
      "create, list, show and delete the block store's volumes, served over NBD by `trellis "
      "nbd` (docs/block.md)");
  app->require_subcommand(1);
  app->fallthrough();
  auto flags = std::make_shared<VolumeFlags>();
  daemon::AddOperatorFlags(*app, flags->master);
  app->add_flag("--json", flags->json, "print JSON");
  auto action = std::make_shared<std::string>();
  CLI::App* create = app->add_subcommand(
      "create",
      "create a volume: its chunks' pieces are placed on distinct storage nodes; needs an "
      "admin token");
  create
      ->add_option("NAME", flags->name, "its name, the NBD export's: 1-64 of a-z, A-Z, 0-9, . _ -")
      ->required();
  create->add_option("--size", flags->size, "its size (512M, 10G): a whole number of blocks")
      ->transform(CLI::AsSizeValue(/*kb_is_1000=*/false))
      ->required();
  create
      ->add_option("--redundancy", flags->redundancy,
                   "replica:N (N whole copies, a majority acknowledging each write) or ec:K+M "
                   "(K data and M parity pieces)")
      ->capture_default_str();
  create
      ->add_option("--block-size", flags->block_size,
                   "the unit of I/O and of checksums: a power of two from 512 to 64K")
      ->transform(CLI::AsSizeValue(/*kb_is_1000=*/false))
      ->capture_default_str();
  create->callback([action] { *action = "create"; });
  app->add_subcommand("list", "the volumes: name, size, redundancy, block size, generation")
      ->callback([action] { *action = "list"; });
  CLI::App* status = app->add_subcommand(
      "status", "a volume's layout: every chunk's nodes, and the pieces waiting for repair");
  status->add_option("NAME", flags->name, "the volume's name")->required();
  status->callback([action] { *action = "status"; });
  CLI::App* remove = app->add_subcommand("delete", "delete a volume; needs an admin token");
  remove->add_option("NAME", flags->name, "the volume's name")->required();
  remove->callback([action] { *action = "delete"; });
  return {app, [app, flags, action] {
            return daemon::ActOnMaster(*app, flags->master, [&](master::MasterClient& client) {
              return ActOnVolumes(client, *action, *flags);
            });
          }};
}

}  // namespace trellis::cli
