#include "block/piece_store.h"

#include <fcntl.h>
#include <isa-l/crc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

namespace trellis::block {
namespace {

using proto::block::Op;
using proto::block::RequestHeader;

// A CRC entry: the block's CRC32C and kWritten; all zero for a block never written.
constexpr uint32_t kWritten = 0x57524954;  // "WRIT"
constexpr size_t kEntryBytes = 8;

struct CrcEntry {
  uint32_t crc;
  uint32_t mark;
};
static_assert(sizeof(CrcEntry) == kEntryBytes);

bool FullPwrite(int fd, const char* data, size_t size, off_t offset) {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, data, size, offset);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return true;
}

// Reads what there is; a short file reads as zeroes past its end.
bool FullPread(int fd, char* data, size_t size, off_t offset) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, data, size, offset);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return false;
    }
    if (n == 0) {
      std::memset(data, 0, size);
      return true;
    }
    data += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return true;
}

PieceStore::Status ErrnoStatus() {
  return errno == ENOSPC || errno == EDQUOT ? PieceStore::Status::kNoSpace
                                            : PieceStore::Status::kIoError;
}

}  // namespace

uint32_t Crc32c(std::string_view data) {
  // isa-l's iSCSI CRC without the final inversion that CRC32C specifies.
  return ~crc32_iscsi(reinterpret_cast<unsigned char*>(const_cast<char*>(data.data())),
                      static_cast<int>(data.size()), 0xFFFFFFFF);
}

PieceStore::Piece::~Piece() {
  if (data_fd >= 0) {
    ::close(data_fd);
  }
  if (crc_fd >= 0) {
    ::close(crc_fd);
  }
}

base::Result<std::unique_ptr<PieceStore>> PieceStore::Open(const std::filesystem::path& dir) {
  std::error_code error;
  const std::filesystem::path root = dir / "pieces";
  std::filesystem::create_directories(root, error);
  if (error) {
    return base::Error{root.string() + ": " + error.message()};
  }
  std::unique_ptr<PieceStore> store(new PieceStore(root));
  // What a killed node wrote may still be in the page cache only, and a flush after its
  // restart knows nothing of it: everything is made durable before it serves.
  if (const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
    ::syncfs(fd);
    ::close(fd);
  }
  for (const auto& entry : std::filesystem::directory_iterator(root, error)) {
    uint64_t volume = 0;
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.empty() ||
        name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    volume = std::stoull(name);
    std::ifstream file(entry.path() / "generation");
    uint64_t generation = 0;
    if (file >> generation) {
      store->generations_[volume] = generation;
    }
  }
  if (error) {
    return base::Error{root.string() + ": " + error.message()};
  }
  return store;
}

PieceStore::~PieceStore() = default;

PieceStore::Status PieceStore::CheckRange(const RequestHeader& header) {
  if (!(header.block_size >= 512 && header.block_size <= 65536 &&
        (header.block_size & (header.block_size - 1)) == 0) ||
      header.offset % header.block_size != 0 || header.length % header.block_size != 0 ||
      header.offset > kMaxPieceBytes || header.length > kMaxPieceBytes - header.offset) {
    return Status::kInvalid;
  }
  return Status::kOk;
}

PieceStore::Status PieceStore::Admit(uint64_t volume, uint64_t generation) {
  std::lock_guard lock(generation_mu_);
  uint64_t& newest = generations_[volume];
  if (generation < newest) {
    return Status::kStale;
  }
  if (generation == newest) {
    return Status::kOk;
  }
  // Durable before any write of the new generation is, so that a restart still refuses
  // the writer this one replaced.
  const std::filesystem::path dir = root_ / std::to_string(volume);
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  const std::string temp = (dir / "generation.tmp").string();
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const std::string text = std::to_string(generation) + "\n";
  const bool written = fd >= 0 && FullPwrite(fd, text.data(), text.size(), 0) && ::fsync(fd) == 0;
  if (fd >= 0) {
    ::close(fd);
  }
  if (!written || ::rename(temp.c_str(), (dir / "generation").c_str()) != 0) {
    spdlog::error("volume {}: recording generation {}: {}", volume, generation,
                  std::strerror(errno));
    return ErrnoStatus();
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  newest = generation;
  return Status::kOk;
}

std::shared_ptr<PieceStore::Piece> PieceStore::Find(uint64_t volume, uint32_t chunk, bool create,
                                                    Status* status) {
  const PieceKey key{volume, chunk};
  {
    std::lock_guard lock(mu_);
    if (auto it = pieces_.find(key); it != pieces_.end()) {
      return it->second;
    }
  }
  const std::filesystem::path dir = root_ / std::to_string(volume);
  const std::filesystem::path data_path = dir / std::to_string(chunk);
  std::error_code error;
  if (!create && !std::filesystem::exists(data_path, error)) {
    return nullptr;
  }
  if (create) {
    std::filesystem::create_directories(dir, error);
  }
  auto piece = std::make_shared<Piece>();
  const int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
  piece->data_fd = ::open(data_path.c_str(), flags, 0644);
  piece->crc_fd = ::open((data_path.string() + ".crc").c_str(), flags, 0644);
  if (piece->data_fd < 0 || piece->crc_fd < 0) {
    spdlog::error("opening piece {}/{}: {}", volume, chunk, std::strerror(errno));
    *status = ErrnoStatus();
    return nullptr;
  }
  std::lock_guard lock(mu_);
  auto [it, added] = pieces_.emplace(key, piece);
  if (added && create) {
    dirty_dirs_.insert(volume);
  }
  return it->second;  // Another thread's, if it opened the piece first.
}

void PieceStore::MarkDirty(const PieceKey& key) {
  std::lock_guard lock(mu_);
  dirty_.insert(key);
}

std::shared_ptr<PieceStore::Piece> PieceStore::ForChange(const RequestHeader& header, bool create,
                                                         Status* status) {
  *status = CheckRange(header);
  if (*status == Status::kOk) {
    *status = Admit(header.volume, header.generation);
  }
  return *status == Status::kOk ? Find(header.volume, header.chunk, create, status) : nullptr;
}

PieceStore::Status PieceStore::Write(const RequestHeader& header, std::string_view data) {
  if (data.size() != header.length) {
    return Status::kInvalid;
  }
  Status status = Status::kOk;
  const std::shared_ptr<Piece> piece = ForChange(header, true, &status);
  if (piece == nullptr) {
    return status;
  }
  const size_t blocks = header.length / header.block_size;
  std::vector<CrcEntry> entries(blocks);
  for (size_t i = 0; i < blocks; ++i) {
    entries[i] = {Crc32c(data.substr(i * header.block_size, header.block_size)), kWritten};
  }
  const off_t crc_offset = static_cast<off_t>(header.offset / header.block_size * kEntryBytes);
  {
    std::lock_guard lock(piece->mu);
    // Again under the piece's lock: a newer writer may have come since Admit, and its
    // writes must not be overwritten by this older one's.
    if (Fenced(header)) {
      return Status::kStale;
    }
    if (!FullPwrite(piece->data_fd, data.data(), data.size(), static_cast<off_t>(header.offset)) ||
        !FullPwrite(piece->crc_fd, reinterpret_cast<const char*>(entries.data()),
                    blocks * kEntryBytes, crc_offset)) {
      return ErrnoStatus();
    }
  }
  return Persist(header, *piece);
}

PieceStore::Status PieceStore::Persist(const RequestHeader& header, Piece& piece) {
  if ((header.flags & proto::block::kFlagFua) == 0) {
    MarkDirty({header.volume, header.chunk});
    return Status::kOk;
  }
  if (::fdatasync(piece.data_fd) != 0 || ::fdatasync(piece.crc_fd) != 0) {
    return ErrnoStatus();
  }
  // A piece made for this write is durable only once its directories are.
  bool new_piece = false;
  {
    std::lock_guard lock(mu_);
    new_piece = dirty_dirs_.erase(header.volume) > 0;
  }
  if (new_piece && !SyncDirectories(header.volume)) {
    std::lock_guard lock(mu_);
    dirty_dirs_.insert(header.volume);
    return Status::kIoError;
  }
  return Status::kOk;
}

bool PieceStore::SyncDirectories(uint64_t volume) const {
  bool synced = true;
  for (const std::filesystem::path& dir : {root_ / std::to_string(volume), root_}) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    synced = synced && fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) {
      ::close(fd);
    }
  }
  return synced;
}

bool PieceStore::Fenced(const RequestHeader& header) {
  std::lock_guard lock(generation_mu_);
  const auto it = generations_.find(header.volume);
  return it != generations_.end() && header.generation < it->second;
}

PieceStore::Status PieceStore::Zero(const RequestHeader& header) {
  Status status = Status::kOk;
  const std::shared_ptr<Piece> piece = ForChange(header, true, &status);
  if (piece == nullptr) {
    return status;
  }
  const off_t crc_offset = static_cast<off_t>(header.offset / header.block_size * kEntryBytes);
  const off_t crc_length = static_cast<off_t>(header.length / header.block_size * kEntryBytes);
  {
    // Blocks never written read as zeroes: clearing their CRC entries is the zeroing.
    // The data's space is given back, or with NO_HOLE kept (allocated as zeroes).
    std::lock_guard lock(piece->mu);
    if (Fenced(header)) {
      return Status::kStale;
    }
    const std::string cleared(static_cast<size_t>(crc_length), '\0');
    if (!FullPwrite(piece->crc_fd, cleared.data(), cleared.size(), crc_offset)) {
      return ErrnoStatus();
    }
    const bool keep = (header.flags & proto::block::kFlagNoHole) != 0;
    if (::fallocate(piece->data_fd,
                    keep ? FALLOC_FL_ZERO_RANGE : (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE),
                    static_cast<off_t>(header.offset), static_cast<off_t>(header.length)) != 0 &&
        keep) {
      return ErrnoStatus();  // The space promised is not there.
    }
  }
  return Persist(header, *piece);
}

PieceStore::Status PieceStore::Read(const RequestHeader& header, std::string* data) {
  if (Status range = CheckRange(header); range != Status::kOk) {
    return range;
  }
  data->assign(header.length, '\0');
  Status status = Status::kOk;
  const std::shared_ptr<Piece> piece = Find(header.volume, header.chunk, false, &status);
  if (piece == nullptr) {
    return status;  // kOk and zeroes: never written here.
  }
  const size_t blocks = header.length / header.block_size;
  std::vector<CrcEntry> entries(blocks);
  const off_t crc_offset = static_cast<off_t>(header.offset / header.block_size * kEntryBytes);
  {
    std::lock_guard lock(piece->mu);
    if (!FullPread(piece->crc_fd, reinterpret_cast<char*>(entries.data()), blocks * kEntryBytes,
                   crc_offset) ||
        !FullPread(piece->data_fd, data->data(), data->size(), static_cast<off_t>(header.offset))) {
      return ErrnoStatus();
    }
  }
  for (size_t i = 0; i < blocks; ++i) {
    char* block = data->data() + i * header.block_size;
    if (entries[i].mark != kWritten) {
      std::memset(block, 0, header.block_size);
    } else if (Crc32c({block, header.block_size}) != entries[i].crc) {
      spdlog::warn("piece {}/{}: block at {} fails its checksum", header.volume, header.chunk,
                   header.offset + i * header.block_size);
      return Status::kCorrupt;
    }
  }
  return Status::kOk;
}

PieceStore::Status PieceStore::Repair(const RequestHeader& header, std::string_view data,
                                      size_t* repaired) {
  *repaired = 0;
  if (data.size() != header.length) {
    return Status::kInvalid;
  }
  Status status = Status::kOk;
  const std::shared_ptr<Piece> piece = ForChange(header, false, &status);
  if (piece == nullptr) {
    return status;  // kOk: no piece here, nothing to mend.
  }
  const size_t blocks = header.length / header.block_size;
  std::vector<CrcEntry> entries(blocks);
  std::string stored(header.block_size, '\0');
  const off_t crc_offset = static_cast<off_t>(header.offset / header.block_size * kEntryBytes);
  std::lock_guard lock(piece->mu);
  if (Fenced(header)) {
    return Status::kStale;
  }
  if (!FullPread(piece->crc_fd, reinterpret_cast<char*>(entries.data()), blocks * kEntryBytes,
                 crc_offset)) {
    return ErrnoStatus();
  }
  for (size_t i = 0; i < blocks; ++i) {
    const off_t at = static_cast<off_t>(header.offset + i * header.block_size);
    if (entries[i].mark != kWritten) {
      continue;  // Zeroes, as written: nothing to mend.
    }
    if (!FullPread(piece->data_fd, stored.data(), stored.size(), at)) {
      return ErrnoStatus();
    }
    if (Crc32c(stored) == entries[i].crc) {
      continue;
    }
    const std::string_view good = data.substr(i * header.block_size, header.block_size);
    const CrcEntry entry{Crc32c(good), kWritten};
    if (!FullPwrite(piece->data_fd, good.data(), good.size(), at) ||
        !FullPwrite(piece->crc_fd, reinterpret_cast<const char*>(&entry), kEntryBytes,
                    crc_offset + static_cast<off_t>(i * kEntryBytes)) ||
        ::fdatasync(piece->data_fd) != 0 || ::fdatasync(piece->crc_fd) != 0) {
      return ErrnoStatus();
    }
    ++*repaired;
  }
  return Status::kOk;
}

PieceStore::Status PieceStore::Fence(uint64_t volume, uint64_t generation) {
  return Admit(volume, generation);
}

PieceStore::Status PieceStore::Flush() {
  std::vector<std::shared_ptr<Piece>> pieces;
  std::set<uint64_t> dirs;
  {
    std::lock_guard lock(mu_);
    for (const PieceKey& key : dirty_) {
      if (auto it = pieces_.find(key); it != pieces_.end()) {
        pieces.push_back(it->second);
      }
    }
    dirty_.clear();
    dirs.swap(dirty_dirs_);
  }
  Status status = Status::kOk;
  for (const std::shared_ptr<Piece>& piece : pieces) {
    if (::fdatasync(piece->data_fd) != 0 || ::fdatasync(piece->crc_fd) != 0) {
      status = ErrnoStatus();
    }
  }
  for (const uint64_t volume : dirs) {
    if (!SyncDirectories(volume)) {
      status = Status::kIoError;
    }
  }
  if (status != Status::kOk) {
    // What failed to sync must be synced again by the next flush.
    std::lock_guard lock(mu_);
    dirty_dirs_.insert(dirs.begin(), dirs.end());
  }
  return status;
}

PieceStore::Usage PieceStore::usage() const {
  Usage usage;
  std::error_code error;
  for (auto it = std::filesystem::recursive_directory_iterator(root_, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    struct stat info {};
    if (it->is_regular_file() && ::stat(it->path().c_str(), &info) == 0) {
      usage.bytes += static_cast<uint64_t>(info.st_blocks) * 512;
      const std::string name = it->path().filename().string();
      usage.pieces += name.find_first_not_of("0123456789") == std::string::npos ? 1 : 0;
    }
  }
  return usage;
}

}  // namespace trellis::block
