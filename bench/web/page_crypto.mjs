// The page's age encryption and decryption in headless Chromium (Debian's
// chromium, driven by playwright-core from web/node_modules), on a generated
// list of SIZE bytes; prints seconds and the peak memory of Chromium's
// processes. Usage: node page_crypto.mjs SIZE RECIPIENT IDENTITY_FILE
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const web = join(here, "..", "..", "web");
const require = createRequire(join(web, "package.json"));
const esbuild = require("esbuild");
const { chromium } = require("playwright-core");

const [size, recipient, identityFile] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const identity = readFileSync(identityFile, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-1"));
const bundle = await esbuild.build({
  entryPoints: [join(here, "bench-worker.js")], bundle: true, minify: true, format: "esm", write: false,
  nodePaths: [join(web, "node_modules")], logLevel: "warning",
});
const workerSource = bundle.outputFiles[0].text;

// The resident memory of every Chromium process, in KiB.
function chromiumRss() {
  const out = execFileSync("ps", ["-eo", "rss=,args="], { encoding: "utf8" });
  return out.split("\n").filter((l) => /chrom/.test(l) && !/page_crypto/.test(l))
    .reduce((sum, l) => sum + (parseInt(l.trim(), 10) || 0), 0);
}

const browser = await chromium.launch({ executablePath: process.env.XGW_CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
const context = await browser.newContext();
const page = await context.newPage();
page.on("console", (m) => console.error(`page: ${m.text()}`));
// Served by the script itself (nothing listens on port 9): a worker needs an
// origin, and WebCrypto a secure one, which localhost is.
await context.route("http://localhost:9/**", (route) => {
  const worker = route.request().url().endsWith("/worker.js");
  route.fulfill({ status: 200, contentType: worker ? "text/javascript" : "text/html", body: worker ? workerSource : "<!doctype html><title>bench</title>" });
});
await page.goto("http://localhost:9/");
const baseline = chromiumRss();
let peak = baseline;
const sampler = setInterval(() => { peak = Math.max(peak, chromiumRss()); }, 100);
const result = await page.evaluate(async ({ size, recipient, identity }) => {
  const worker = new Worker("/worker.js", { type: "module" });
  return await new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => (data.error ? reject(new Error(data.error)) : resolve(data));
    worker.onerror = (e) => reject(new Error(e.message));
    worker.postMessage({ size, recipient, identity });
  });
}, { size, recipient, identity });
clearInterval(sampler);
await browser.close();
if (result.plain !== size) throw new Error(`decrypted ${result.plain} bytes, not ${size}`);
console.log(JSON.stringify({ ...result, peakRssMiB: Math.round(peak / 1024), baselineRssMiB: Math.round(baseline / 1024) }));
