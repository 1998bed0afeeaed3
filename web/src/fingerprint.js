// A key's fingerprint as crypto/keyfile.cc's KeyFingerprint shows it
// ("3f2a 9c01 ..."): the first 16 bytes of SHA-256 of the age recipient, in
// groups of four hex digits. Computed here from the key a list is encrypted
// to, so a sender can compare it (by phone, say) with what the recipient sees.
import { sha256 } from "@noble/hashes/sha2.js";
import { toHex } from "./verify.js";

export function fingerprintOf(recipient) {
  const hex = toHex(sha256(new TextEncoder().encode(recipient)).subarray(0, 16));
  return hex.match(/.{4}/g).join(" ");
}
