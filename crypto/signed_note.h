// C2SP signed notes (c2sp.org/signed-note) with Ed25519 signatures.
//
// A note is a UTF-8 text body ending in "\n", a blank line, and one or more
// signature lines "— <name> <base64(key ID || signature)>\n" ("—" is U+2014).
// The key ID of an Ed25519 key is the first 4 bytes (big-endian) of
// SHA-256(name || 0x0A || 0x01 || public key). A verifier key is written
// "<name>+<8 hex digits key ID>+<base64(0x01 || public key)>".
//
// Opening a note checks every signature whose (name, key ID) matches a
// given verifier; signatures by unknown keys are ignored, a bad signature by
// a known key rejects the note, and at least one known signature is required.
#ifndef XGW_CRYPTO_SIGNED_NOTE_H_
#define XGW_CRYPTO_SIGNED_NOTE_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "crypto/secret.h"
#include "crypto/sign.h"

namespace xgw {

struct NoteVerifier {
  std::string name;
  uint32_t key_id = 0;
  Ed25519PublicKey key{};
};

// A signer borrows its key; the key must outlive it.
struct NoteSigner {
  std::string name;
  const Ed25519SecretKey* key = nullptr;
};

// kFormat unless `name` is non-empty, valid UTF-8, and has no '+', no
// whitespace and no control characters.
Result<void> CheckNoteKeyName(std::string_view name);
uint32_t NoteKeyId(std::string_view name, const Ed25519PublicKey& key);

// "<name>+<hex id>+<base64(0x01 || key)>". REQUIRES: CheckNoteKeyName(name).
std::string FormatVerifierKey(std::string_view name, const Ed25519PublicKey& key);
// kKey if malformed, of another algorithm, or if the key ID does not match.
Result<NoteVerifier> ParseVerifierKey(std::string_view text);
NoteVerifier VerifierFor(const NoteSigner& signer);

// Go-compatible signer key text "PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>".
SecretBuffer FormatSignerKey(std::string_view name, const Ed25519SecretKey& key);
// Returns the name and the key.
Result<std::pair<std::string, Ed25519SecretKey>> ParseSignerKey(std::string_view text);

// Signs `body` (must be valid note text: UTF-8, ends in "\n", no control
// characters but "\n") with each signer, in order. Returns the whole note.
Result<std::string> SignNote(std::string_view body, std::span<const NoteSigner> signers);

struct OpenedNote {
  std::string body;                       // the text before the blank line, with its "\n"
  std::vector<std::string> verified_by;   // names of the known keys that signed
};

// kFormat for a malformed note, kSignature if a known key's signature fails
// or no known key signed.
Result<OpenedNote> OpenNote(std::string_view note, std::span<const NoteVerifier> verifiers);

}  // namespace xgw

#endif  // XGW_CRYPTO_SIGNED_NOTE_H_
