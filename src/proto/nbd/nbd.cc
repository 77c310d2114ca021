#include "proto/nbd/nbd.h"

#include <algorithm>

#include "base/byte_order.h"

namespace trellis::proto::nbd {
namespace {

constexpr uint64_t kNbdMagic = 0x4e42444d41474943;     // "NBDMAGIC"
constexpr uint64_t kOptionMagic = 0x49484156454F5054;  // "IHAVEOPT"
constexpr uint64_t kReplyMagic = 0x0003e889045565a9;   // Option replies.
constexpr uint32_t kRequestMagic = 0x25609513;
constexpr uint32_t kSimpleReplyMagic = 0x67446698;
constexpr uint32_t kStructuredReplyMagic = 0x668e33ef;
constexpr uint16_t kReplyFlagDone = 0x1;
constexpr uint16_t kReplyTypeOffsetData = 1;
constexpr uint16_t kReplyTypeError = 0x8001;
constexpr size_t kOptionHeaderBytes = 16;

void AppendOptionReply(uint32_t option, uint32_t type, std::string_view data, std::string* out) {
  base::AppendBig(kReplyMagic, out);
  base::AppendBig(option, out);
  base::AppendBig(type, out);
  base::AppendBig(static_cast<uint32_t>(data.size()), out);
  out->append(data);
}

void AppendInfo(uint32_t option, uint16_t type, std::string_view payload, std::string* out) {
  std::string data;
  base::AppendBig(type, &data);
  data.append(payload);
  AppendOptionReply(option, kRepInfo, data, out);
}

}  // namespace

std::string Greeting() {
  std::string out;
  base::AppendBig(kNbdMagic, &out);
  base::AppendBig(kOptionMagic, &out);
  base::AppendBig(static_cast<uint16_t>(kFlagFixedNewstyle | kFlagNoZeroes), &out);
  return out;
}

Negotiation::Step Negotiation::Fail(std::string why) {
  error_ = std::move(why);
  return Step::kClose;
}

Negotiation::Step Negotiation::Feed(std::string_view input, size_t* consumed, std::string* output) {
  for (;;) {
    const std::string_view rest = input.substr(*consumed);
    if (!have_client_flags_) {
      if (rest.size() < 4) {
        return Step::kNeedMore;
      }
      const uint32_t flags = base::LoadBig<uint32_t>(rest, 0);
      if ((flags & ~uint32_t{kFlagFixedNewstyle | kFlagNoZeroes}) != 0) {
        return Fail("unknown client flags");
      }
      no_zeroes_ = (flags & kFlagNoZeroes) != 0;
      have_client_flags_ = true;
      *consumed += 4;
      continue;
    }
    if (rest.size() < kOptionHeaderBytes) {
      return Step::kNeedMore;
    }
    if (base::LoadBig<uint64_t>(rest, 0) != kOptionMagic) {
      return Fail("an option without IHAVEOPT");
    }
    const uint32_t option = base::LoadBig<uint32_t>(rest, 8);
    const uint32_t length = base::LoadBig<uint32_t>(rest, 12);
    if (length > kMaxOptionBytes) {
      return Fail("an option of " + std::to_string(length) + " bytes");
    }
    if (rest.size() < kOptionHeaderBytes + length) {
      return Step::kNeedMore;
    }
    *consumed += kOptionHeaderBytes + length;
    // One option per call: the caller may look up what the next one names first (Peek).
    return Option(option, rest.substr(kOptionHeaderBytes, length), output);
  }
}

Negotiation::Upcoming Negotiation::Peek(std::string_view input) const {
  Upcoming upcoming;
  const size_t start = have_client_flags_ ? 0 : 4;
  if (input.size() < start + kOptionHeaderBytes ||
      base::LoadBig<uint64_t>(input, start) != kOptionMagic) {
    return upcoming;
  }
  const uint32_t option = base::LoadBig<uint32_t>(input, start + 8);
  const uint32_t length = base::LoadBig<uint32_t>(input, start + 12);
  if (length > kMaxOptionBytes || input.size() < start + kOptionHeaderBytes + length) {
    return upcoming;
  }
  const std::string_view data = input.substr(start + kOptionHeaderBytes, length);
  if (option == kOptList) {
    upcoming.list = true;
  } else if (option == kOptExportName && data.size() <= kMaxNameBytes) {
    upcoming.export_name = std::string(data);
    upcoming.opens = true;
  } else if ((option == kOptInfo || option == kOptGo) && data.size() >= 6 &&
             base::LoadBig<uint32_t>(data, 0) <= std::min<size_t>(data.size() - 6, kMaxNameBytes)) {
    upcoming.export_name = std::string(data.substr(4, base::LoadBig<uint32_t>(data, 0)));
    upcoming.opens = option == kOptGo;
  }
  return upcoming;
}

Negotiation::Step Negotiation::Option(uint32_t option, std::string_view data, std::string* output) {
  switch (option) {
    case kOptExportName: {
      if (data.size() > kMaxNameBytes) {
        return Fail("an export name of " + std::to_string(data.size()) + " bytes");
      }
      const std::optional<Export> found = lookup_(data);
      if (!found) {
        return Fail("no export '" + std::string(data) + "'");  // EXPORT_NAME has no error reply.
      }
      export_name_ = std::string(data);
      chosen_ = *found;
      base::AppendBig(chosen_.size, output);
      base::AppendBig(chosen_.flags, output);
      if (!no_zeroes_) {
        output->append(124, '\0');
      }
      return Step::kTransmission;
    }
    case kOptAbort:
      AppendOptionReply(option, kRepAck, {}, output);
      return Step::kClose;
    case kOptList: {
      if (!data.empty()) {
        AppendOptionReply(option, kRepErrInvalid, "LIST takes no data", output);
        return Step::kNeedMore;
      }
      for (const std::string& name : list_()) {
        std::string entry;
        base::AppendBig(static_cast<uint32_t>(name.size()), &entry);
        entry.append(name);
        AppendOptionReply(option, kRepServer, entry, output);
      }
      AppendOptionReply(option, kRepAck, {}, output);
      return Step::kNeedMore;
    }
    case kOptStartTls:
      AppendOptionReply(option, kRepErrPolicy, "this server does not speak TLS", output);
      return Step::kNeedMore;
    case kOptInfo:
    case kOptGo:
      return InfoOrGo(option, data, output);
    case kOptStructuredReply:
      if (!data.empty()) {
        AppendOptionReply(option, kRepErrInvalid, "STRUCTURED_REPLY takes no data", output);
        return Step::kNeedMore;
      }
      structured_ = true;
      AppendOptionReply(option, kRepAck, {}, output);
      return Step::kNeedMore;
    default:
      AppendOptionReply(option, kRepErrUnsup, {}, output);
      return Step::kNeedMore;
  }
}

Negotiation::Step Negotiation::InfoOrGo(uint32_t option, std::string_view data,
                                        std::string* output) {
  // u32 name length, name, u16 count, u16 info types.
  if (data.size() < 6 || base::LoadBig<uint32_t>(data, 0) > data.size() - 6 ||
      base::LoadBig<uint32_t>(data, 0) > kMaxNameBytes) {
    AppendOptionReply(option, kRepErrInvalid, "malformed request", output);
    return Step::kNeedMore;
  }
  const uint32_t name_length = base::LoadBig<uint32_t>(data, 0);
  const std::string_view name = data.substr(4, name_length);
  const uint16_t count = base::LoadBig<uint16_t>(data, 4 + name_length);
  if (data.size() != 6 + name_length + size_t{2} * count) {
    AppendOptionReply(option, kRepErrInvalid, "malformed request", output);
    return Step::kNeedMore;
  }
  const std::optional<Export> found = lookup_(name);
  if (!found) {
    AppendOptionReply(option, kRepErrUnknown, "no export '" + std::string(name) + "'", output);
    return Step::kNeedMore;
  }
  std::string payload;
  base::AppendBig(found->size, &payload);
  base::AppendBig(found->flags, &payload);
  AppendInfo(option, kInfoExport, payload, output);
  for (uint16_t i = 0; i < count; ++i) {
    const uint16_t type = base::LoadBig<uint16_t>(data, 6 + name_length + size_t{2} * i);
    if (type == kInfoName) {
      AppendInfo(option, kInfoName, name, output);
    } else if (type == kInfoDescription) {
      AppendInfo(option, kInfoDescription, found->description, output);
    }
  }
  // Always: a client that did not ask still learns the sizes it must keep to.
  std::string sizes;
  base::AppendBig(found->min_block, &sizes);
  base::AppendBig(found->preferred_block, &sizes);
  base::AppendBig(kMaxPayload, &sizes);
  AppendInfo(option, kInfoBlockSize, sizes, output);
  AppendOptionReply(option, kRepAck, {}, output);
  if (option == kOptInfo) {
    return Step::kNeedMore;
  }
  export_name_ = std::string(name);
  chosen_ = *found;
  return Step::kTransmission;
}

ParseStatus ParseRequest(std::string_view input, Request* request) {
  if (input.size() < kRequestBytes) {
    // A bad magic is known as soon as its bytes are in.
    return input.size() >= 4 && base::LoadBig<uint32_t>(input, 0) != kRequestMagic
               ? ParseStatus::kBadMagic
               : ParseStatus::kIncomplete;
  }
  if (base::LoadBig<uint32_t>(input, 0) != kRequestMagic) {
    return ParseStatus::kBadMagic;
  }
  request->flags = base::LoadBig<uint16_t>(input, 4);
  request->type = base::LoadBig<uint16_t>(input, 6);
  request->cookie = base::LoadBig<uint64_t>(input, 8);
  request->offset = base::LoadBig<uint64_t>(input, 16);
  request->length = base::LoadBig<uint32_t>(input, 24);
  return ParseStatus::kOk;
}

void AppendRequest(const Request& request, std::string* out) {
  base::AppendBig(kRequestMagic, out);
  base::AppendBig(request.flags, out);
  base::AppendBig(request.type, out);
  base::AppendBig(request.cookie, out);
  base::AppendBig(request.offset, out);
  base::AppendBig(request.length, out);
}

void AppendSimpleReply(uint32_t error, uint64_t cookie, std::string* out) {
  base::AppendBig(kSimpleReplyMagic, out);
  base::AppendBig(error, out);
  base::AppendBig(cookie, out);
}

void AppendReadChunkHeader(uint64_t cookie, uint64_t offset, uint32_t length, std::string* out) {
  base::AppendBig(kStructuredReplyMagic, out);
  base::AppendBig(kReplyFlagDone, out);
  base::AppendBig(kReplyTypeOffsetData, out);
  base::AppendBig(cookie, out);
  base::AppendBig(length + uint32_t{8}, out);
  base::AppendBig(offset, out);
}

void AppendErrorChunk(uint64_t cookie, uint32_t error, std::string_view message, std::string* out) {
  message = message.substr(0, 4096);
  base::AppendBig(kStructuredReplyMagic, out);
  base::AppendBig(kReplyFlagDone, out);
  base::AppendBig(kReplyTypeError, out);
  base::AppendBig(cookie, out);
  base::AppendBig(static_cast<uint32_t>(6 + message.size()), out);
  base::AppendBig(error, out);
  base::AppendBig(static_cast<uint16_t>(message.size()), out);
  out->append(message);
}

void AppendReply(const Request& request, bool structured, uint32_t error, std::string* out) {
  if (structured && request.type == kCmdRead && error != 0) {
    AppendErrorChunk(request.cookie, error, {}, out);
  } else {
    AppendSimpleReply(error, request.cookie, out);
  }
}

}  // namespace trellis::proto::nbd
