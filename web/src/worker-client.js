// The page's side of its Web Worker (web/src/key-worker.js), which holds the
// person's keys: requests and answers by sequence number, progress reports
// on the way, and forgetting the keys (the worker ends) at sign-out.
/* global XGW_KEY_WORKER */
let worker = null;
let unlocked = false;
let seq = 0;
const pending = new Map();

export class WorkerFailure extends Error {
  constructor(code, problem) {
    super(code);
    this.code = code;
    this.problem = problem;  // the gateway's problem document for a refusal
  }
}

// Runs `type` in the worker; `onProgress(...values)` for its progress reports.
export function callWorker(type, args = {}, onProgress = () => {}) {
  if (!worker) {
    worker = new Worker(XGW_KEY_WORKER, { type: "module", name: "keys" });
    worker.onmessage = ({ data }) => {
      const p = pending.get(data.seq);
      if (!p) return;
      if (data.progress) return p.onProgress(...data.progress);
      pending.delete(data.seq);
      if (data.ok) p.resolve(data.result);
      else p.reject(new WorkerFailure(data.code, data.problem));
    };
  }
  return new Promise((resolve, reject) => {
    const s = ++seq;
    pending.set(s, { resolve, reject, onProgress });
    worker.postMessage({ seq: s, type, ...args });
  });
}

export function keysUnlocked() {
  return unlocked;
}

export function setKeysUnlocked() {
  unlocked = true;
}

export function forgetKeys() {
  if (worker) worker.terminate();
  worker = null;
  unlocked = false;
  for (const p of pending.values()) p.reject(new WorkerFailure("signed-out"));
  pending.clear();
}
