#include "db/file_compression.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "base/file.h"

namespace trellis::db {
namespace {

constexpr int kLevel = 3;

// The source, and the target written under a temporary name until Commit.
class FileCopy {
 public:
  static base::Result<std::unique_ptr<FileCopy>> Open(const std::filesystem::path& from,
                                                      const std::filesystem::path& to) {
    std::unique_ptr<FileCopy> copy(new FileCopy(from, to));
    copy->in_ = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (copy->in_ < 0) {
      return base::SystemError(from.string());
    }
    copy->out_ = ::open(copy->temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (copy->out_ < 0) {
      return base::SystemError(copy->temporary_.string());
    }
    return copy;
  }
  ~FileCopy() {
    if (in_ >= 0) {
      ::close(in_);
    }
    if (out_ >= 0) {
      ::close(out_);
      std::error_code ignored;
      std::filesystem::remove(temporary_, ignored);  // Not committed.
    }
  }

  // Up to `buffer.size()` bytes of the source; 0 at its end.
  base::Result<size_t> Read(std::vector<char>& buffer) {
    for (;;) {
      const ssize_t n = ::read(in_, buffer.data(), buffer.size());
      if (n >= 0) {
        return static_cast<size_t>(n);
      }
      if (errno != EINTR) {
        return base::SystemError(from_.string());
      }
    }
  }
  base::Status Write(const char* data, size_t size) {
    if (!base::WriteAll(out_, std::string_view(data, size))) {
      return base::SystemError(temporary_.string());
    }
    return {};
  }
  // The target, synced, under its name.
  base::Status Commit() {
    if (::fdatasync(out_) != 0) {
      return base::SystemError(temporary_.string());
    }
    ::close(std::exchange(out_, -1));
    std::error_code renamed;
    std::filesystem::rename(temporary_, to_, renamed);
    if (renamed) {
      return base::InvalidArgument(to_.string() + ": " + renamed.message());
    }
    return base::SyncDirectory(to_.parent_path());
  }

 private:
  FileCopy(std::filesystem::path from, std::filesystem::path to)
      : from_(std::move(from)), to_(std::move(to)), temporary_(to_.string() + ".partial") {}

  const std::filesystem::path from_;
  const std::filesystem::path to_;
  const std::filesystem::path temporary_;
  int in_ = -1;
  int out_ = -1;
};

base::Error ZstdError(const std::filesystem::path& file, size_t code) {
  return base::InvalidArgument(file.string() + ": zstd: " + ZSTD_getErrorName(code));
}

}  // namespace

base::Status CompressFile(const std::filesystem::path& from, const std::filesystem::path& to) {
  TRELLIS_TRY(std::unique_ptr<FileCopy> copy, FileCopy::Open(from, to));
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> context(ZSTD_createCCtx(), ZSTD_freeCCtx);
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_compressionLevel, kLevel);
  std::vector<char> in(ZSTD_CStreamInSize());
  std::vector<char> out(ZSTD_CStreamOutSize());
  for (;;) {
    TRELLIS_TRY(const size_t read, copy->Read(in));
    const bool last = read == 0;
    ZSTD_inBuffer input{in.data(), read, 0};
    for (bool finished = false; !finished;) {
      ZSTD_outBuffer output{out.data(), out.size(), 0};
      const size_t left =
          ZSTD_compressStream2(context.get(), &output, &input, last ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError(left)) {
        return ZstdError(from, left);
      }
      TRELLIS_TRY_STATUS(copy->Write(out.data(), output.pos));
      finished = last ? left == 0 : input.pos == input.size;
    }
    if (last) {
      return copy->Commit();
    }
  }
}

base::Status DecompressFile(const std::filesystem::path& from, const std::filesystem::path& to) {
  TRELLIS_TRY(std::unique_ptr<FileCopy> copy, FileCopy::Open(from, to));
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> context(ZSTD_createDCtx(), ZSTD_freeDCtx);
  std::vector<char> in(ZSTD_DStreamInSize());
  std::vector<char> out(ZSTD_DStreamOutSize());
  size_t left = 1;  // Until a frame has been read to its end.
  for (;;) {
    TRELLIS_TRY(const size_t read, copy->Read(in));
    if (read == 0) {
      break;
    }
    ZSTD_inBuffer input{in.data(), read, 0};
    while (input.pos < input.size) {
      ZSTD_outBuffer output{out.data(), out.size(), 0};
      left = ZSTD_decompressStream(context.get(), &output, &input);
      if (ZSTD_isError(left)) {
        return ZstdError(from, left);
      }
      TRELLIS_TRY_STATUS(copy->Write(out.data(), output.pos));
    }
  }
  if (left != 0) {
    return base::InvalidArgument(from.string() + ": ends in the middle of its data");
  }
  return copy->Commit();
}

}  // namespace trellis::db
