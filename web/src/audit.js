// What the DPO's page checks before it shows an audit event, as `xgw audit`
// does (client/cmd_audit.cc, audit/verify.cc): the checkpoint is a C2SP
// signed note by the gateway's verifier key (pinned in this browser at
// first use), consistent with the last checkpoint this browser saw (the log
// only grew), and every event is the leaf at its index under that
// checkpoint's root (an RFC 9162 inclusion proof). What is shown is parsed
// from the proven bytes, never from the gateway's rendering of them.
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { base64ToBytes } from "./verify.js";

export class AuditFailure extends Error {
  constructor(code, index) {
    super(code);
    this.code = code;    // a key of the page's messages
    this.index = index;  // the event's index, when one event failed
  }
}

const utf8 = new TextEncoder();

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export const leafHash = (bytes) => sha256(concat([0], bytes));
const nodeHash = (left, right) => sha256(concat([1], left, right));
const odd = (n) => n % 2 === 1;
const half = (n) => Math.floor(n / 2);

// RFC 9162 2.1.3.2: the root an inclusion proof leads to, or null.
export function rootFromInclusion(index, size, leaf, proof) {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return null;
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 ? r : null;
}

// RFC 9162 2.1.4.2: true if `proof` shows the tree of `first` leaves (root
// `firstRoot`) is a prefix of the tree of `second` leaves (`secondRoot`).
export function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  if (first > second) return false;
  if (first === second) return proof.length === 0 && equal(firstRoot, secondRoot);
  if (first === 0) return proof.length === 0;
  let path = proof;
  if (Number.isInteger(Math.log2(first))) path = [firstRoot, ...proof];
  if (path.length === 0) return false;
  let fn = first - 1;
  let sn = second - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equal(fr, firstRoot) && equal(sr, secondRoot);
}

// "<name>+<8 hex digits key id>+<base64(0x01 || Ed25519 key)>".
export function parseVerifierKey(text) {
  // The key's base64 may itself hold '+': split at the first two only.
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(text.trim());
  if (!m) throw new AuditFailure("verifier-key");
  const [, name, idHex, keyB64] = m;
  const key = base64ToBytes(keyB64);
  if (key.length !== 33 || key[0] !== 1) throw new AuditFailure("verifier-key");
  const pub = key.subarray(1);
  const id = sha256(concat(utf8.encode(name), [0x0a, 0x01], pub)).subarray(0, 4);
  if (Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("") !== idHex) throw new AuditFailure("verifier-key");
  return { name, id, pub, text: text.trim() };
}

// Opens a signed checkpoint note: the verifier's signature must be there and
// good. Returns {origin, size, root, note}.
export function openCheckpoint(note, verifier) {
  const split = note.indexOf("\n\n");
  if (split < 0) throw new AuditFailure("checkpoint");
  const body = note.slice(0, split + 1);
  let signed = false;
  for (const line of note.slice(split + 2).split("\n").filter(Boolean)) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new AuditFailure("checkpoint");
    if (m[1] !== verifier.name) continue;
    const raw = base64ToBytes(m[2]);
    if (raw.length !== 68 || !equal(raw.subarray(0, 4), verifier.id)) continue;
    if (!ed25519.verify(raw.subarray(4), utf8.encode(body), verifier.pub)) throw new AuditFailure("checkpoint-signature");
    signed = true;
  }
  if (!signed) throw new AuditFailure("checkpoint-signature");
  const [origin, size, rootB64] = body.split("\n");
  if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new AuditFailure("checkpoint");
  const root = base64ToBytes(rootB64);
  if (root.length !== 32) throw new AuditFailure("checkpoint");
  return { origin, size: Number(size), root, note };
}

// One item of GET /audit/events?tree_size=N, proven under `checkpoint`:
// the event parsed from the proven bytes.
export function proveEvent(item, checkpoint) {
  if (!item.inclusion_proof) throw new AuditFailure("unproven", item.index);
  const bytes = base64ToBytes(item.leaf_data);
  const root = rootFromInclusion(item.index, checkpoint.size, leafHash(bytes), item.inclusion_proof.map(base64ToBytes));
  if (!root || !equal(root, checkpoint.root)) throw new AuditFailure("event-not-in-log", item.index);
  try {
    return { index: item.index, event: JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) };
  } catch {
    throw new AuditFailure("event-not-in-log", item.index);
  }
}

const kDeletions = ["exchange.deleted_expiry", "exchange.deleted"];

// A deletion receipt checked offline, as VerifyDeletionReceipt does: the
// checkpoint's signature, a successful deletion event, its inclusion.
export function verifyReceipt(receipt, verifier) {
  if (receipt.format !== "xgw-deletion-receipt/v1") throw new AuditFailure("receipt");
  const checkpoint = openCheckpoint(receipt.checkpoint, verifier);
  const proven = proveEvent({
    index: receipt.index,
    leaf_data: btoa(String.fromCharCode(...utf8.encode(receipt.event))),
    inclusion_proof: receipt.inclusion_proof,
  }, checkpoint);
  if (!kDeletions.includes(proven.event.action) || proven.event.outcome !== "success") throw new AuditFailure("receipt");
  return { event: proven.event, checkpoint };
}
