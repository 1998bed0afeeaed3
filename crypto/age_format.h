// The age v1 header format (C2SP age spec, "Header"): stanzas, canonical
// unpadded base64, header parsing and encoding, plus the buffered line reader
// the header and armor parsers share. Used by crypto/age.cc and crypto/armor.cc;
// most callers want crypto/age.h instead.
#ifndef XGW_CRYPTO_AGE_FORMAT_H_
#define XGW_CRYPTO_AGE_FORMAT_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "crypto/io.h"

namespace xgw::age {

// One recipient stanza: "-> type arg..." followed by its base64 body.
struct Stanza {
  std::string type;
  std::vector<std::string> args;
  std::vector<uint8_t> body;
};

// Canonical standard base64 without padding (the header's encoding).
std::string RawBase64Encode(std::span<const uint8_t> data);
// Strict: no padding, no whitespace, zero trailing bits; nullopt otherwise.
std::optional<std::vector<uint8_t>> RawBase64Decode(std::string_view text);

// Strict padded standard base64 of at most `out.size()` decoded bytes into
// `out`; returns the decoded length, or nullopt on any non-canonical input.
std::optional<size_t> PaddedBase64DecodeInto(std::string_view text, std::span<uint8_t> out);
// Padded base64 of `data` into `out` (4 * ceil(n / 3) chars); returns length.
size_t PaddedBase64EncodeInto(std::span<const uint8_t> data, char* out);

// A ByteSource with a fixed read-ahead buffer, line reading and peeking.
// Large reads on an empty buffer go straight to the underlying source.
// Not thread-safe; `src` must outlive it.
class BufferedReader final : public ByteSource {
 public:
  explicit BufferedReader(ByteSource& src, size_t capacity = 64 * 1024);
  Result<size_t> Read(std::span<uint8_t> buf) override;
  // Reads one line including its '\n'. Returns an empty view at end of
  // stream. A view not ending in '\n' is the last line of the stream or, when
  // it has `max_len` bytes, the start of a longer line (callers reject it).
  // REQUIRES: max_len <= capacity. The view is valid until the next call.
  Result<std::string_view> ReadLine(size_t max_len);
  // Buffers up to `n` bytes (fewer only at end of stream) without consuming.
  // REQUIRES: n <= capacity.
  Result<std::span<const uint8_t>> Peek(size_t n);

 private:
  Result<bool> Fill();  // reads more; false at end of stream
  ByteSource& src_;
  std::vector<uint8_t> buf_;
  size_t begin_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
};

struct Header {
  std::vector<Stanza> stanzas;
  std::array<uint8_t, 32> mac{};
  std::string mac_input;  // header bytes up to and including "---"
};

// Parses a header up to and including the MAC line; the payload follows in
// `in`. Fails with kHeader on anything non-canonical (errors of `in` itself,
// e.g. kArmor or kIo, pass through).
Result<Header> ParseHeader(BufferedReader& in);

// The header text up to and including "---" (the MAC input).
std::string EncodeHeaderWithoutMac(std::span<const Stanza> stanzas);

}  // namespace xgw::age

#endif  // XGW_CRYPTO_AGE_FORMAT_H_
