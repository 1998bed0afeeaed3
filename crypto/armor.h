// age ASCII armor (C2SP age spec, "ASCII armor"): strict PEM-like encoding
// with "-----BEGIN AGE ENCRYPTED FILE-----", 64-column padded base64 lines,
// LF or CRLF line ends, and whitespace tolerated only before the first line
// and after the last. Both directions stream through fixed buffers.
#ifndef XGW_CRYPTO_ARMOR_H_
#define XGW_CRYPTO_ARMOR_H_

#include <cstdint>
#include <span>
#include <vector>

#include "crypto/age_format.h"
#include "crypto/io.h"

namespace xgw::age {

inline constexpr std::string_view kArmorHeader = "-----BEGIN AGE ENCRYPTED FILE-----";
inline constexpr std::string_view kArmorFooter = "-----END AGE ENCRYPTED FILE-----";

// Encodes everything written to it into `out` (which must outlive it).
// Close() writes the final line and the footer and flushes `out`.
class ArmorWriter final : public ByteSink {
 public:
  explicit ArmorWriter(ByteSink& out);
  Result<void> Write(std::span<const uint8_t> data) override;
  Result<void> Close();

 private:
  Result<void> Emit(std::span<const uint8_t> bytes, bool final_line);
  Result<void> FlushOut();
  ByteSink& out_;
  std::vector<char> outbuf_;
  size_t outlen_ = 0;
  uint8_t pending_[48];
  size_t pending_len_ = 0;
  bool started_ = false;
  bool closed_ = false;
};

// Decodes an armored stream read from `in` (which must outlive it). Every
// malformation, including non-whitespace after the footer, fails with kArmor;
// errors are sticky.
class ArmorReader final : public ByteSource {
 public:
  explicit ArmorReader(BufferedReader& in) : in_(in) {}
  Result<size_t> Read(std::span<uint8_t> buf) override;

 private:
  Result<std::string_view> GetLine();
  Result<void> Start();
  Result<size_t> DecodeLine(std::span<uint8_t> out);  // one body line
  Result<void> DrainTrailing();
  BufferedReader& in_;
  bool started_ = false;
  bool done_ = false;
  bool failed_ = false;
  Error error_{};
  uint8_t line_[48];
  size_t line_pos_ = 0;
  size_t line_len_ = 0;
};

}  // namespace xgw::age

#endif  // XGW_CRYPTO_ARMOR_H_
