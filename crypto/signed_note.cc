#include "crypto/signed_note.h"

#include <algorithm>

#include "crypto/hash.h"

namespace xgw {
namespace {

constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";  // U+2014 EM DASH, space
constexpr uint8_t kAlgEd25519 = 0x01;
constexpr size_t kMaxNoteSize = 1 << 20;
constexpr size_t kMaxSignatures = 100;

// Decodes one UTF-8 code point at text[i]; returns its length or 0 if invalid
// (overlong forms, surrogates and values above U+10FFFF are invalid).
size_t DecodeUtf8(std::string_view text, size_t i, uint32_t& cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(text[i + k]); };
  const size_t left = text.size() - i;
  const uint8_t c = b(0);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  size_t len;
  uint32_t min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1Fu, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0Fu, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (left < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool IsUnicodeSpace(uint32_t cp) {
  return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

bool IsControl(uint32_t cp) { return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0); }

Result<void> CheckText(std::string_view text) {
  if (text.empty() || text.back() != '\n') {
    return Fail(ErrorCode::kFormat, "note text must end with a newline");
  }
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    const size_t n = DecodeUtf8(text, i, cp);
    if (n == 0) return Fail(ErrorCode::kFormat, "note text is not valid utf-8 at byte " + std::to_string(i));
    if (cp != '\n' && IsControl(cp)) {
      return Fail(ErrorCode::kFormat, "note text has a control character at byte " + std::to_string(i));
    }
    i += n;
  }
  return {};
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string Hex32(uint32_t v) {
  const uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                        static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  return HexEncode(b);
}

// Splits at the first `n - 1` separators; the last part keeps the rest
// (base64 key material may itself contain '+').
std::vector<std::string_view> SplitN(std::string_view s, char sep, size_t n) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < n) {
    const size_t p = s.find(sep);
    if (p == std::string_view::npos) break;
    out.push_back(s.substr(0, p));
    s.remove_prefix(p + 1);
  }
  out.push_back(s);
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    if (p == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, p - start));
    start = p + 1;
  }
}

Result<uint32_t> ParseHexId(std::string_view hex) {
  if (hex.size() != 8) return Fail(ErrorCode::kKey, "key id must be 8 hex digits");
  auto b = HexDecode(hex);
  if (!b) return Fail(ErrorCode::kKey, "key id must be 8 hex digits");
  return BigEndian32(b->data());
}

}  // namespace

Result<void> CheckNoteKeyName(std::string_view name) {
  if (name.empty()) return Fail(ErrorCode::kFormat, "key name is empty");
  for (size_t i = 0; i < name.size();) {
    uint32_t cp = 0;
    const size_t n = DecodeUtf8(name, i, cp);
    if (n == 0) return Fail(ErrorCode::kFormat, "key name is not valid utf-8");
    if (cp == '+' || IsUnicodeSpace(cp) || IsControl(cp)) {
      return Fail(ErrorCode::kFormat, "key name must not contain '+', spaces or control characters");
    }
    i += n;
  }
  return {};
}

uint32_t NoteKeyId(std::string_view name, const Ed25519PublicKey& key) {
  Sha256 h;
  h.Update(name);
  const uint8_t sep[2] = {0x0A, kAlgEd25519};
  h.Update(std::span<const uint8_t>(sep, 2));
  h.Update(key);
  const Sha256Digest d = h.Finish();
  return BigEndian32(d.data());
}

std::string FormatVerifierKey(std::string_view name, const Ed25519PublicKey& key) {
  std::vector<uint8_t> k(1, kAlgEd25519);
  k.insert(k.end(), key.begin(), key.end());
  return std::string(name) + "+" + Hex32(NoteKeyId(name, key)) + "+" + Base64Encode(k);
}

Result<NoteVerifier> ParseVerifierKey(std::string_view text) {
  auto parts = SplitN(text, '+', 3);
  if (parts.size() != 3) return Fail(ErrorCode::kKey, "verifier key must be name+keyid+key");
  if (!CheckNoteKeyName(parts[0])) return Fail(ErrorCode::kKey, "verifier key has an invalid name");
  XGW_TRY(uint32_t id, ParseHexId(parts[1]));
  auto k = Base64Decode(parts[2]);
  if (!k || k->size() != 33 || (*k)[0] != kAlgEd25519) {
    return Fail(ErrorCode::kKey, "verifier key is not an ed25519 key (expected base64 of 0x01 || 32 bytes)");
  }
  NoteVerifier v;
  v.name = std::string(parts[0]);
  std::copy(k->begin() + 1, k->end(), v.key.begin());
  v.key_id = NoteKeyId(v.name, v.key);
  if (v.key_id != id) return Fail(ErrorCode::kKey, "verifier key id does not match its name and key");
  return v;
}

NoteVerifier VerifierFor(const NoteSigner& signer) {
  NoteVerifier v;
  v.name = signer.name;
  v.key = signer.key->public_key();
  v.key_id = NoteKeyId(v.name, v.key);
  return v;
}

SecretBuffer FormatSignerKey(std::string_view name, const Ed25519SecretKey& key) {
  SecretBuffer seed = key.Seed();
  SecretBuffer raw(1 + seed.size());
  raw.data()[0] = kAlgEd25519;
  std::copy(seed.data(), seed.data() + seed.size(), raw.data() + 1);
  std::string b64 = Base64Encode(raw.span());
  std::string text = "PRIVATE+KEY+" + std::string(name) + "+" +
                     Hex32(NoteKeyId(name, key.public_key())) + "+" + b64;
  SecretBuffer out = SecretBuffer::CopyOf(text);
  WipeMemory(b64.data(), b64.size());
  WipeMemory(text.data(), text.size());
  return out;
}

Result<std::pair<std::string, Ed25519SecretKey>> ParseSignerKey(std::string_view text) {
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  auto parts = SplitN(text, '+', 5);
  if (parts.size() != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY") {
    return Fail(ErrorCode::kKey, "signer key must be PRIVATE+KEY+name+keyid+key");
  }
  if (!CheckNoteKeyName(parts[2])) return Fail(ErrorCode::kKey, "signer key has an invalid name");
  XGW_TRY(uint32_t id, ParseHexId(parts[3]));
  auto raw = Base64Decode(parts[4]);
  if (!raw || raw->size() != 33 || (*raw)[0] != kAlgEd25519) {
    if (raw) WipeMemory(raw->data(), raw->size());
    return Fail(ErrorCode::kKey, "signer key is not an ed25519 key");
  }
  auto key = Ed25519SecretKey::FromSeed(std::span<const uint8_t>(*raw).subspan(1));
  WipeMemory(raw->data(), raw->size());
  if (!key) return tl::unexpected(key.error());
  if (NoteKeyId(parts[2], key->public_key()) != id) {
    return Fail(ErrorCode::kKey, "signer key id does not match its name and key");
  }
  return std::pair<std::string, Ed25519SecretKey>(std::string(parts[2]), std::move(*key));
}

Result<std::string> SignNote(std::string_view body, std::span<const NoteSigner> signers) {
  XGW_CHECK(CheckText(body));
  if (signers.empty()) return Fail(ErrorCode::kInvalidArgument, "a note needs at least one signer");
  std::string note(body);
  note += "\n";
  for (const NoteSigner& s : signers) {
    XGW_CHECK(CheckNoteKeyName(s.name));
    if (s.key == nullptr) return Fail(ErrorCode::kInvalidArgument, "note signer has no key");
    const uint32_t id = NoteKeyId(s.name, s.key->public_key());
    const Ed25519Signature sig = s.key->Sign(body);
    std::vector<uint8_t> blob = {static_cast<uint8_t>(id >> 24), static_cast<uint8_t>(id >> 16),
                                 static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)};
    blob.insert(blob.end(), sig.begin(), sig.end());
    note += kSigPrefix;
    note += s.name;
    note += ' ';
    note += Base64Encode(blob);
    note += '\n';
  }
  return note;
}

Result<OpenedNote> OpenNote(std::string_view note, std::span<const NoteVerifier> verifiers) {
  if (note.size() > kMaxNoteSize) return Fail(ErrorCode::kFormat, "note is too large");
  const size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return Fail(ErrorCode::kFormat, "note has no signature block");
  std::string_view body = note.substr(0, split + 1);
  std::string_view sigs = note.substr(split + 2);
  XGW_CHECK(CheckText(body));
  if (sigs.empty() || sigs.back() != '\n') {
    return Fail(ErrorCode::kFormat, "note signature block must end with a newline");
  }
  sigs.remove_suffix(1);
  OpenedNote out;
  out.body = std::string(body);
  std::vector<std::pair<std::string_view, uint32_t>> seen;
  size_t count = 0;
  for (std::string_view line : Split(sigs, '\n')) {
    if (++count > kMaxSignatures) return Fail(ErrorCode::kFormat, "note has too many signatures");
    if (!line.starts_with(kSigPrefix)) {
      return Fail(ErrorCode::kFormat, "note signature line " + std::to_string(count) +
                                          " does not start with an em dash and a space");
    }
    line.remove_prefix(kSigPrefix.size());
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos) {
      return Fail(ErrorCode::kFormat, "note signature line " + std::to_string(count) + " has no signature");
    }
    std::string_view name = line.substr(0, sp);
    if (!CheckNoteKeyName(name)) {
      return Fail(ErrorCode::kFormat, "note signature line " + std::to_string(count) + " has an invalid key name");
    }
    auto blob = Base64Decode(line.substr(sp + 1));
    if (!blob || blob->size() < 5) {
      return Fail(ErrorCode::kFormat, "note signature line " + std::to_string(count) + " is not valid base64 of a key id and signature");
    }
    const uint32_t id = BigEndian32(blob->data());
    const NoteVerifier* v = nullptr;
    for (const NoteVerifier& cand : verifiers) {
      if (cand.name == name && cand.key_id == id) v = &cand;
    }
    if (v == nullptr) continue;  // unknown keys are ignored, as the spec requires
    for (const auto& [n, i] : seen) {
      if (n == name && i == id) return Fail(ErrorCode::kFormat, "note has two signatures by one key");
    }
    seen.emplace_back(name, id);
    if (blob->size() != 4 + 64) {
      return Fail(ErrorCode::kSignature, "note signature by a known key has the wrong length");
    }
    Ed25519Signature sig;
    std::copy(blob->begin() + 4, blob->end(), sig.begin());
    if (!VerifyEd25519(v->key, Bytes(body), sig)) {
      return Fail(ErrorCode::kSignature, "note signature by key " + std::string(name) + " does not verify");
    }
    out.verified_by.emplace_back(name);
  }
  if (out.verified_by.empty()) {
    return Fail(ErrorCode::kSignature, "note is not signed by any known key");
  }
  return out;
}

}  // namespace xgw
