// Runs in a Web Worker in headless Chromium (bench/web/page_crypto.mjs): the
// page's age library (age-encryption, as web/src bundles it) encrypting a
// generated list of `size` bytes as a stream to one X25519 recipient, then
// decrypting it as a stream and hashing the plaintext, exactly as the
// receiving page does before it shows anything (web/src/key-worker.js).
import { Decrypter, Encrypter } from "age-encryption";
import { sha256 } from "@noble/hashes/sha2.js";

const kChunk = 1 << 20;

function plaintext(size) {
  let made = 0;
  return new ReadableStream({
    pull(controller) {
      if (made >= size) return controller.close();
      const chunk = new Uint8Array(Math.min(kChunk, size - made));
      for (let i = 0; i < chunk.length; i += 65536) crypto.getRandomValues(chunk.subarray(i, i + 65536));
      made += chunk.length;
      controller.enqueue(chunk);
    },
  });
}

async function drain(stream, each) {
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    each(value);
  }
}

async function run({ size, recipient, identity }) {
  const e = new Encrypter();
  e.addRecipient(recipient);
  const ciphertext = [];
  let t0 = performance.now();
  await drain(await e.encrypt(plaintext(size)), (c) => ciphertext.push(c));
  const encryptSeconds = (performance.now() - t0) / 1000;

  const d = new Decrypter();
  d.addIdentity(identity);
  const hash = sha256.create();
  let plain = 0;
  t0 = performance.now();
  const source = new ReadableStream({
    pull(controller) {
      if (ciphertext.length === 0) return controller.close();
      controller.enqueue(ciphertext.shift());
    },
  });
  await drain(await d.decrypt(source), (c) => {
    plain += c.length;
    hash.update(c);
  });
  hash.digest();
  const decryptSeconds = (performance.now() - t0) / 1000;
  return { encryptSeconds, decryptSeconds, plain };
}

self.onmessage = ({ data }) =>
  run(data).then((r) => self.postMessage(r), (e) => self.postMessage({ error: String(e) }));
