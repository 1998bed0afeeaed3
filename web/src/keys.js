// A person's keys, made on their own device, exactly as `xgw keygen
// --passphrase` and `xgw register-key` make them (crypto/keyfile.cc,
// client/exchange_crypto.cc): an age X25519 identity; the Ed25519 signing key
// derived from it with HKDF-SHA-256 (salt empty, info
// "xgw/v1/ed25519-signing-key"); the identity file wrapped with the
// passphrase as an armored age scrypt file, the only form the gateway keeps.
import { Encrypter, armor, generateX25519Identity, identityToRecipient } from "age-encryption";
import { bech32 } from "@scure/base";
import { ed25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
export { fingerprintOf } from "./fingerprint.js";

const kSigningKeyInfo = new TextEncoder().encode("xgw/v1/ed25519-signing-key");

function bytesToBase64(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

// The 32-byte Ed25519 seed of an "AGE-SECRET-KEY-1..." identity.
export function signingSeedOf(identity) {
  const { words } = bech32.decode(identity.toLowerCase(), 1024);
  const scalar = bech32.fromWords(words);
  const seed = hkdf(sha256, scalar, new Uint8Array(0), kSigningKeyInfo, 32);
  scalar.fill(0);
  return seed;
}

// Standard padded base64 of the Ed25519 public key, as the keys API takes it.
export function verifyKeyOf(identity) {
  const seed = signingSeedOf(identity);
  const key = bytesToBase64(ed25519.getPublicKey(seed));
  seed.fill(0);
  return key;
}


// A new identity and its file, in the format `xgw keygen` writes.
export async function newIdentityFile() {
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const created = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  const text = `# created: ${created}\n# public key: ${recipient}\n${identity}\n`;
  return { identity, recipient, text };
}

// The identity file wrapped with `passphrase`: armored age, one scrypt stanza.
export async function wrapWithPassphrase(text, passphrase) {
  const e = new Encrypter();
  e.setPassphrase(passphrase);
  return armor.encode(await e.encrypt(text));
}
