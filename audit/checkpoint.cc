#include "audit/checkpoint.h"

#include <charconv>

#include "crypto/hash.h"

namespace xgw {

std::string FormatCheckpoint(const Checkpoint& c) {
  std::string out = c.origin + "\n" + std::to_string(c.size) + "\n" + Base64Encode(c.root) + "\n";
  for (const auto& e : c.extensions) out += e + "\n";
  return out;
}

Result<Checkpoint> ParseCheckpoint(std::string_view body) {
  if (body.empty() || body.back() != '\n') return Fail(ErrorCode::kFormat, "checkpoint must end with a newline");
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < body.size()) {
    const size_t nl = body.find('\n', start);
    lines.push_back(body.substr(start, nl - start));
    start = nl + 1;
  }
  if (lines.size() < 3) return Fail(ErrorCode::kFormat, "checkpoint needs origin, size and root lines");
  Checkpoint c;
  if (lines[0].empty()) return Fail(ErrorCode::kFormat, "checkpoint origin is empty");
  c.origin = std::string(lines[0]);
  const std::string_view size = lines[1];
  if (size.empty() || (size.size() > 1 && size[0] == '0')) {
    return Fail(ErrorCode::kFormat, "checkpoint size must be decimal without leading zeros");
  }
  auto [ptr, ec] = std::from_chars(size.data(), size.data() + size.size(), c.size);
  if (ec != std::errc() || ptr != size.data() + size.size()) {
    return Fail(ErrorCode::kFormat, "checkpoint size must be a decimal number below 2^64");
  }
  auto root = HashFromBase64(lines[2]);
  if (!root) return Fail(ErrorCode::kFormat, "checkpoint root must be base64 of 32 bytes");
  c.root = *root;
  for (size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) return Fail(ErrorCode::kFormat, "checkpoint extension line is empty");
    c.extensions.emplace_back(lines[i]);
  }
  return c;
}

Result<std::string> SignCheckpoint(const Checkpoint& checkpoint, const NoteSigner& signer) {
  if (signer.name != checkpoint.origin) {
    return Fail(ErrorCode::kInvalidArgument, "checkpoint signer name must equal the origin");
  }
  const std::string body = FormatCheckpoint(checkpoint);
  XGW_CHECK(ParseCheckpoint(body));
  return SignNote(body, std::span(&signer, 1));
}

Result<Checkpoint> OpenCheckpoint(std::string_view note, const NoteVerifier& verifier) {
  XGW_TRY(OpenedNote opened, OpenNote(note, std::span(&verifier, 1)));
  XGW_TRY(Checkpoint c, ParseCheckpoint(opened.body));
  if (c.origin != verifier.name) {
    return Fail(ErrorCode::kSignature, "checkpoint origin does not match the verifier key name");
  }
  return c;
}

}  // namespace xgw
