// What the browser tests share: Debian's Chromium through playwright-core
// (from web/node_modules), trusting exactly the test gateway's key; every
// Content Security Policy violation, script error or console error counted
// as a problem; axe-core's WCAG 2.1 A/AA rules run on a view; screenshots;
// requests to the test gateway from the test itself (its CA trusted); TOTP
// codes by the gateway's test clock. The settings come in the environment
// (never on a command line): XGW_URL, XGW_SPKI, XGW_CACERT, XGW_WEB_DIR,
// XGW_SCREENSHOTS, XGW_OPERATOR_TOKEN.
import { createHmac } from "node:crypto";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";

export const env = process.env;
const require = createRequire(join(env.XGW_WEB_DIR, "package.json"));
const { chromium } = require("playwright-core");
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export const problems = [];
export function fail(what) {
  problems.push(what);
  console.log(`FAIL ${what}`);
}
export function step(what) {
  console.log(`ok   ${what}`);
}

export async function openBrowser() {
  const browser = await chromium.launch({
    executablePath: env.XGW_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [`--ignore-certificate-errors-spki-list=${env.XGW_SPKI}`, "--no-sandbox"],
  });
  const context = await browser.newContext({ acceptDownloads: true, locale: "en-GB" });
  const page = await context.newPage();
  page.on("console", (m) => {
    const text = m.text();
    if (/Content Security Policy|Refused to/i.test(text)) fail(`CSP: ${text.slice(0, 200)}`);
    // A refused request is logged by Chromium itself; the page handles it.
    else if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(text)) {
      fail(`console error: ${text.slice(0, 200)}`);
    }
  });
  page.on("pageerror", (e) => fail(`script error: ${String(e).slice(0, 200)}`));
  // Violations the page itself sees, before any script of it runs.
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective));
  });
  return { browser, context, page };
}

export async function shot(page, name) {
  await page.screenshot({ path: join(env.XGW_SCREENSHOTS, `${name}.png`), fullPage: true });
}

export async function checkAccessibility(page, view) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () =>
    await window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }));
  for (const v of result.violations) fail(`axe ${view}: ${v.id} (${v.nodes.length} elements)`);
  if (result.violations.length === 0) step(`axe: no WCAG 2.1 AA violations on ${view}`);
}

export async function checkNoCspViolations(page) {
  const csp = await page.evaluate(() => window.__csp);
  if (csp.length) fail(`CSP violations seen by the page: ${csp.join(", ")}`);
}

// A request from the test to the test gateway (its CA trusted).
export function gatewayRequest(method, url, headers = {}, body = undefined) {
  return new Promise((resolve, reject) => {
    const request = https.request(url, { method, headers, ca: readFileSync(env.XGW_CACERT) }, (response) => {
      const chunks = [];
      response.on("data", (c) => chunks.push(c));
      response.on("end", () =>
        resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on("error", reject);
    });
    request.on("error", reject);
    if (body !== undefined) request.write(body);
    request.end();
  });
}

function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, "").toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// The code an authenticator app would show for `secret` now, by the
// gateway's test clock, moved on one step first so that no earlier sign-in
// used it (RFC 6238: HMAC-SHA-1, 30 s, 6 digits).
export async function totpCode(secret) {
  const auth = { Authorization: `Bearer ${env.XGW_OPERATOR_TOKEN}`, "Content-Type": "application/json" };
  const moved = await gatewayRequest("POST", `${env.XGW_URL}/api/v1/admin/clock`, auth,
    JSON.stringify({ advance_seconds: 30 }));
  if (moved.status !== 200) throw new Error(`the test clock did not move (${moved.status})`);
  const now = await gatewayRequest("GET", `${env.XGW_URL}/api/v1/admin/clock`, auth);
  const seconds = Math.floor(Date.parse(JSON.parse(now.body.toString()).now) / 1000);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(seconds / 30)));
  const mac = createHmac("sha1", base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const number = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(number).padStart(6, "0");
}

// Signs in through the sign-in form with a fresh code of `secret`.
export async function signIn(page, name, password, secret) {
  await page.goto(env.XGW_URL + "/");
  await page.fill("#signin input[name=name]", name);
  await page.fill("#signin input[name=password]", password);
  await page.fill("#signin input[name=code]", await totpCode(secret));
  await page.click("#signin button[type=submit]");
  await page.waitForSelector("nav a[href='#/inbox']");
}

// Clicks `selector` and saves what it downloads as XGW_OUT/`name`.
export async function saveDownload(page, selector, name) {
  const [download] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
  await download.saveAs(join(env.XGW_OUT, name));
}

// Runs `steps(page, context)`; a step that throws is a problem (with a
// screenshot). Exits 0 only if nothing went wrong.
export async function run(steps) {
  const { browser, context, page } = await openBrowser();
  try {
    await steps(page, context);
    await checkNoCspViolations(page);
  } catch (e) {
    fail(`step failed: ${String(e).split("\n")[0].slice(0, 300)}`);
    await shot(page, "failure").catch(() => {});
  } finally {
    await browser.close();
  }
  console.log(problems.length ? `${problems.length} problem(s)` : "all steps passed");
  process.exit(problems.length ? 1 : 0);
}
