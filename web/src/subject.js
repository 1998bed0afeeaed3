// A data subject's keyed fingerprint, computed in the DPO's page exactly as
// policy/manifest.cc's SubjectLookupValue computes it: the identifier
// normalised as policy/validators.cc does (separators dropped, leading zeros
// a spreadsheet lost put back, check digits checked), then
// HMAC-SHA-256(organisation key, "<type>:<normalised>") in hex. The number and
// the key never leave the page; the gateway only compares the fingerprint.

// policy/validators.cc Trim: ASCII whitespace and U+00A0 at both ends.
function trim(s) {
  return s.replace(/^[ \t\r\n\v\f\u00a0]+|[ \t\r\n\v\f\u00a0]+$/g, "");
}

// DigitsInto: exactly `len` digits, allowing ' . - /' between them; without
// separators, up to 4 leading zeros may be missing.
function digits(raw, len) {
  let out = "";
  let separators = false;
  for (const c of trim(raw)) {
    if (c >= "0" && c <= "9") out += c;
    else if (c === " " || c === "." || c === "-" || c === "/") separators = true;
    else return null;
    if (out.length > len) return null;
  }
  if (out.length < len) {
    if (separators || out.length === 0 || len - out.length > 4) return null;
    out = "0".repeat(len - out.length) + out;
  }
  return out;
}

function beNationalNumber(raw) {
  const d = digits(raw, 11);
  if (!d) return null;
  const mm = Number(d.slice(2, 4));
  const dd = Number(d.slice(4, 6));
  const monthOk = mm <= 12 || (mm >= 20 && mm <= 32) || (mm >= 40 && mm <= 52);
  if (!monthOk || dd > 31) return null;
  const base = BigInt(d.slice(0, 9));
  const check = BigInt(d.slice(9, 11));
  const ok = 97n - (base % 97n) === check || 97n - ((2000000000n + base) % 97n) === check;
  return ok ? d : null;
}

function nlBsn(raw) {
  const d = digits(raw, 9);
  if (!d) return null;
  let sum = 0;
  for (let i = 0; i < 8; i++) sum += Number(d[i]) * (9 - i);
  sum -= Number(d[8]);
  return sum % 11 === 0 && d !== "000000000" ? d : null;
}

const kNormalisers = { be_national_number: beNationalNumber, nl_bsn: nlBsn };

// crypto/subject_key.cc ReadSubjectKey: 32 raw bytes, or 64 hex digits and line ends.
export function parseSubjectKey(bytes) {
  if (bytes.length === 32) return bytes.slice();
  const text = new TextDecoder().decode(bytes).replace(/[\r\n]+$/, "");
  if (!/^[0-9a-fA-F]{64}$/.test(text)) return null;
  return Uint8Array.from(text.match(/../g), (h) => parseInt(h, 16));
}

// The 64-hex-digit lookup value, or null if `raw` is not a valid identifier of `type`.
export async function subjectLookupValue(key, type, raw) {
  const normalised = kNormalisers[type] && kNormalisers[type](raw);
  if (!normalised) return null;
  const hmacKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", hmacKey, new TextEncoder().encode(`${type}:${normalised}`)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}
