#include "proto/mysql/packet.h"

#include <algorithm>

namespace trellis::proto::mysql {

namespace {

// The payload length a packet header announces. REQUIRES: header.size() >= 4.
size_t AnnouncedLength(std::string_view header) {
  return static_cast<uint8_t>(header[0]) |
         static_cast<size_t>(static_cast<uint8_t>(header[1])) << 8 |
         static_cast<size_t>(static_cast<uint8_t>(header[2])) << 16;
}

}  // namespace

FrameStatus ReadFrame(std::string_view input, Frame* frame) {
  if (input.size() < kPacketHeaderBytes) {
    return FrameStatus::kNeedMore;
  }
  const size_t length = AnnouncedLength(input);
  if (input.size() < kPacketHeaderBytes + length) {
    return FrameStatus::kNeedMore;
  }
  frame->sequence = static_cast<uint8_t>(input[3]);
  frame->payload = input.substr(kPacketHeaderBytes, length);
  frame->bytes = kPacketHeaderBytes + length;
  frame->continues = length == kMaxPacketPayload;
  return FrameStatus::kOk;
}

MessageStatus ReadMessage(std::string_view input, size_t max_payload, Message* message) {
  message->payload.clear();
  size_t used = 0;
  for (;;) {
    const std::string_view rest = input.substr(used);
    if (rest.size() >= kPacketHeaderBytes &&
        message->payload.size() + AnnouncedLength(rest) > max_payload) {
      return MessageStatus::kTooLarge;  // Known from the header, before the payload comes.
    }
    Frame frame;
    if (ReadFrame(rest, &frame) == FrameStatus::kNeedMore) {
      return MessageStatus::kNeedMore;
    }
    message->payload.append(frame.payload);
    message->sequence = frame.sequence;
    used += frame.bytes;
    if (!frame.continues) {
      message->bytes = used;
      return MessageStatus::kOk;
    }
  }
}

uint8_t AppendMessage(std::string& out, uint8_t sequence, std::string_view payload) {
  for (;;) {
    const size_t length = std::min(payload.size(), kMaxPacketPayload);
    out.push_back(static_cast<char>(length & 0xFF));
    out.push_back(static_cast<char>((length >> 8) & 0xFF));
    out.push_back(static_cast<char>((length >> 16) & 0xFF));
    out.push_back(static_cast<char>(sequence++));
    out.append(payload.substr(0, length));
    payload.remove_prefix(length);
    if (length < kMaxPacketPayload) {
      return sequence;
    }
  }
}

}  // namespace trellis::proto::mysql
