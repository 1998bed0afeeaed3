// What the receiving page checks before it shows or saves anything: the
// manifest's Ed25519 signature (over its canonical JSON, as policy/ and the
// CLI compute it) and the list's size and SHA-256 against the manifest.
import { sha256 } from "@noble/hashes/sha2.js";

// RFC 8785-style canonical JSON, as policy/canonical_json.cc writes it:
// members sorted by key, no whitespace, integers only.
export function canonicalJson(value) {
  if (Array.isArray(value)) return "[" + value.map(canonicalJson).join(",") + "]";
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalJson(value[k])).join(",") + "}";
  }
  if (typeof value === "number" && !Number.isInteger(value)) throw new VerifyError("manifest");
  return JSON.stringify(value);
}

export class VerifyError extends Error {
  constructor(code) {
    super(code);
    this.code = code;  // a key of the page's messages; never data from the list
  }
}

export function base64ToBytes(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Throws VerifyError("signature") unless `signatureB64` is the Ed25519
// signature of canonicalJson(manifest) by `verifyKeyB64`.
export async function verifyManifest(manifest, signatureB64, verifyKeyB64) {
  let ok = false;
  try {
    const key = await crypto.subtle.importKey("raw", base64ToBytes(verifyKeyB64), { name: "Ed25519" }, false, [
      "verify",
    ]);
    const signed = new TextEncoder().encode(canonicalJson(manifest));
    ok = await crypto.subtle.verify({ name: "Ed25519" }, key, base64ToBytes(signatureB64), signed);
  } catch {
    ok = false;
  }
  if (!ok) throw new VerifyError("signature");
}

// Counts and hashes a stream of plaintext chunks; `finish` throws unless they
// are exactly the manifest's byte_size and sha256.
export class ListDigest {
  constructor(manifest) {
    this.expectedSize = manifest.byte_size;
    this.expectedSha256 = manifest.sha256;
    this.size = 0;
    this.hash = sha256.create();
  }
  update(chunk) {
    this.size += chunk.length;
    if (this.size > this.expectedSize) throw new VerifyError("size");
    this.hash.update(chunk);
  }
  finish() {
    if (this.size !== this.expectedSize) throw new VerifyError("size");
    if (toHex(this.hash.digest()) !== this.expectedSha256) throw new VerifyError("hash");
  }
}
