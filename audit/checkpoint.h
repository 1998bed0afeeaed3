// C2SP tlog-checkpoint bodies (c2sp.org/tlog-checkpoint) signed as C2SP
// signed notes with Ed25519:
//
//   <origin>\n<tree size in decimal>\n<base64 root hash>\n[extension lines\n]
//
// xgw's convention: the signing key's name equals the origin, so a verifier
// key string alone says which log a checkpoint belongs to.
#ifndef XGW_GATEWAY_AUDIT_CHECKPOINT_H_
#define XGW_GATEWAY_AUDIT_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/error.h"
#include "crypto/merkle.h"
#include "crypto/signed_note.h"

namespace xgw {

struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  MerkleHash root{};
  std::vector<std::string> extensions;  // non-empty lines, no newline inside
};

// The note body. REQUIRES: a valid origin and extensions (see ParseCheckpoint).
std::string FormatCheckpoint(const Checkpoint& checkpoint);
// kFormat unless `body` is a well-formed checkpoint body: non-empty origin,
// size in decimal without leading zeros, base64 of a 32-byte hash, non-empty
// extension lines, a final newline.
Result<Checkpoint> ParseCheckpoint(std::string_view body);

// Signs with `signer` (whose name must equal the origin).
Result<std::string> SignCheckpoint(const Checkpoint& checkpoint, const NoteSigner& signer);
// Opens a signed checkpoint note: the note must carry a valid signature by
// `verifier`, and the checkpoint's origin must equal the verifier's name.
Result<Checkpoint> OpenCheckpoint(std::string_view note, const NoteVerifier& verifier);

}  // namespace xgw

#endif  // XGW_GATEWAY_AUDIT_CHECKPOINT_H_
