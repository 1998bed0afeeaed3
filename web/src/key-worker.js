// The page's Web Worker for a person's keys: it makes a new key (create) or
// unwraps the kept one with the passphrase (unlock); the private keys never
// leave this worker, and the passphrase never leaves the device. It also
// opens lists: it downloads one, decrypts it and verifies it before anything
// reaches the page: the manifest's signature, the size and the SHA-256 of
// the whole list. age releases plaintext chunk by chunk before the final one
// is authenticated, so the chunks stay here until the stream ended without
// error and the digest matched.
import { Decrypter, armor } from "age-encryption";
import { parseCsv, decodeText } from "./csv.js";
import { fingerprintOf, newIdentityFile, verifyKeyOf, wrapWithPassphrase } from "./keys.js";
import { ListDigest, VerifyError, verifyManifest } from "./verify.js";

const kTableRows = 1000;  // rows shown in the page; saving gives them all
let identities = [];

async function unlock({ file, passphrase }) {
  const d = new Decrypter();
  d.addPassphrase(passphrase);
  let text;
  try {
    text = await d.decrypt(armor.decode(file), "text");
  } catch {
    throw new VerifyError("passphrase");
  }
  const keys = text.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("AGE-SECRET-KEY-1"));
  if (keys.length === 0) throw new VerifyError("no-key");
  identities = keys;
  return { keys: keys.length };
}

// A new key for the person: kept here, unlocked; the page registers its
// public halves and keeps the wrapped file on the gateway.
async function create({ passphrase }) {
  const { identity, recipient, text } = await newIdentityFile();
  const file = await wrapWithPassphrase(text, passphrase);
  identities = [identity];
  return { age_recipient: recipient, ed25519_verify_key: verifyKeyOf(identity), fingerprint: fingerprintOf(recipient), file };
}

async function getJson(path) {
  const r = await fetch(path, { credentials: "same-origin" });
  if (!r.ok) throw new VerifyError(r.status === 410 ? "gone" : r.status === 401 ? "signed-out" : "download");
  return r.json();
}

// Tells the gateway, as `xgw receive` does, that a delivered list failed
// verification (both DPOs see it); never with anything from the list.
async function report(id, code, csrf) {
  try {
    await fetch(`/api/v1/exchanges/${id}/violations`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ code, details: [code] }),
    });
  } catch {
    // The refusal stands whether or not the report arrived.
  }
}

const kViolationOf = { signature: "signature_invalid", hash: "hash_mismatch", size: "hash_mismatch", damaged: "decrypt_failed" };

async function open({ id, csrf }) {
  if (identities.length === 0) throw new VerifyError("locked");
  const meta = await getJson(`/api/v1/exchanges/${id}`);
  const manifest = meta.manifest;
  try {
    await verifyManifest(manifest, meta.manifest_signature, meta.sender_ed25519_verify_key);
    const response = await fetch(`/api/v1/exchanges/${id}/content`, { credentials: "same-origin" });
    if (!response.ok) throw new VerifyError(response.status === 410 ? "gone" : "download");
    const d = new Decrypter();
    for (const key of identities) d.addIdentity(key);
    let plain;
    try {
      plain = await d.decrypt(response.body);
    } catch {
      throw new VerifyError("not-for-you");
    }
    const digest = new ListDigest(manifest);
    const chunks = [];
    const reader = plain.getReader();
    for (;;) {
      let step;
      try {
        step = await reader.read();
      } catch {
        throw new VerifyError("damaged");  // a modified or cut-short file
      }
      if (step.done) break;
      digest.update(step.value);
      chunks.push(step.value);
    }
    digest.finish();
    const bytes = new Uint8Array(digest.size);
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    const table = manifest.list_format === "csv" ? parseCsv(decodeText(bytes), kTableRows + 1) : null;
    return { result: { manifest, table, bytes }, transfer: [bytes.buffer] };
  } catch (e) {
    if (e instanceof VerifyError && kViolationOf[e.code]) await report(id, kViolationOf[e.code], csrf);
    throw e;
  }
}

const handlers = { create, unlock, open };

self.onmessage = async ({ data }) => {
  const { seq, type } = data;
  const progress = (...values) => self.postMessage({ seq, progress: values });
  try {
    const out = await handlers[type](data, progress);
    const { result, transfer } = out && out.transfer ? out : { result: out, transfer: [] };
    self.postMessage({ seq, ok: true, result }, transfer);
  } catch (e) {
    // A code and, for a refusal, the gateway's problem document: never a
    // value from the list, never a key.
    const problem = e.problem;
    self.postMessage({ seq, ok: false, code: e instanceof VerifyError ? e.code : "failed", problem });
  }
};
