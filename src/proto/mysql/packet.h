// MySQL packet framing: every message travels in packets of a 3-byte little-endian payload
// length, a 1-byte sequence number and the payload. A message of 0xFFFFFF bytes or more
// is split: each packet of exactly 0xFFFFFF bytes continues in the next one, and a
// shorter packet (empty if need be) ends the message. Sequence numbers count up (mod 256)
// through a command and its response, from 0 at the command.
//
// A proxy relays packets as they come and reads only the first packet of each message
// (the command byte, the first bytes of a response): ReadFrame gives it one packet at a
// time, with whether the next packet continues the same message. ReadMessage joins the
// packets of a whole message for the parsers of small messages (handshakes).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace trellis::proto::mysql {

inline constexpr size_t kPacketHeaderBytes = 4;
inline constexpr size_t kMaxPacketPayload = 0xFFFFFF;

struct Frame {
  uint8_t sequence = 0;
  std::string_view payload;  // Points into the input.
  size_t bytes = 0;          // Header and payload: what to consume.
  bool continues = false;    // The payload is 0xFFFFFF bytes: the next packet continues it.
};

enum class FrameStatus {
  kOk,        // *frame holds the first packet of the input.
  kNeedMore,  // The input holds no whole packet yet.
};

FrameStatus ReadFrame(std::string_view input, Frame* frame);

struct Message {
  uint8_t sequence = 0;  // The last packet's.
  std::string payload;   // The packets' payloads joined.
  size_t bytes = 0;      // What to consume.
};

enum class MessageStatus {
  kOk,        // *message holds the first message of the input.
  kNeedMore,  // The input holds no whole message yet.
  kTooLarge,  // Longer than `max_payload`: the peer is not to be believed.
};

MessageStatus ReadMessage(std::string_view input, size_t max_payload, Message* message);

// Appends `payload` as a message starting at `sequence`, split as the protocol wants.
// Returns the sequence number of the packet after it.
uint8_t AppendMessage(std::string& out, uint8_t sequence, std::string_view payload);

}  // namespace trellis::proto::mysql
