// A person who has never seen a terminal, in Chromium against the real xgwd:
// signs in (password + TOTP code), sees the list waiting for them by the
// sender's name, unlocks their kept key with its passphrase, opens the list
// (decrypted and verified in the page), saves it and confirms receipt. A
// modified and a cut-short download show an error and no data. Any Content
// Security Policy violation or script error fails the run; axe-core checks
// each view for WCAG 2.1 A/AA problems.
//
// Driven by tests/web/web_browser_test.cc, which sets the world up and
// passes everything in the environment (never on the command line):
//   XGW_URL, XGW_SPKI (base64 SHA-256 of the server's key, for Chromium),
//   XGW_CACERT (the test CA, for the test's own requests),
//   XGW_NAME, XGW_PASSWORD, XGW_CODE, XGW_PASSPHRASE, XGW_EXCHANGE,
//   XGW_SENDER_NAME, XGW_ROWS, XGW_OUT (a directory of the test's own for
//   the saved list), XGW_SCREENSHOTS (where the screenshots go),
//   XGW_WEB_DIR (web/, whose node_modules hold playwright-core and axe-core).
// Prints one line per step; never a value from the list.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";

const env = process.env;
const require = createRequire(join(env.XGW_WEB_DIR, "package.json"));
const { chromium } = require("playwright-core");
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const problems = [];
function fail(what) {
  problems.push(what);
  console.log(`FAIL ${what}`);
}
function step(what) {
  console.log(`ok   ${what}`);
}

const browser = await chromium.launch({
  executablePath: env.XGW_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Trust exactly the test gateway's key, as a pinned certificate would be.
  args: [`--ignore-certificate-errors-spki-list=${env.XGW_SPKI}`, "--no-sandbox"],
});
const context = await browser.newContext({ acceptDownloads: true, locale: "en-GB" });
const page = await context.newPage();

page.on("console", (m) => {
  const text = m.text();
  if (/Content Security Policy|Refused to/i.test(text)) fail(`CSP: ${text.slice(0, 200)}`);
  else if (m.type() === "error" && !/status of 40[134]/.test(text)) fail(`console error: ${text.slice(0, 200)}`);
});
page.on("pageerror", (e) => fail(`script error: ${String(e).slice(0, 200)}`));
// Violations the page itself sees, workers included, before any script of it runs.
await context.addInitScript(() => {
  window.__csp = [];
  document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective));
});

async function shot(name) {
  await page.screenshot({ path: join(env.XGW_SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function checkAccessibility(view) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () =>
    await window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }));
  for (const v of result.violations) fail(`axe ${view}: ${v.id} (${v.nodes.length} elements)`);
  if (result.violations.length === 0) step(`axe: no WCAG 2.1 AA violations on ${view}`);
}

// GETs `url` from the test gateway, trusting its CA, with the browser's headers.
function fetchFromGateway(url, headers) {
  return new Promise((resolve, reject) => {
    const request = https.request(url, { headers, ca: readFileSync(env.XGW_CACERT) }, (response) => {
      const chunks = [];
      response.on("data", (c) => chunks.push(c));
      response.on("end", () =>
        resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end();
  });
}

// Opens the list with the content download rewritten by `mangle` (or not):
// the test stands between the page and the gateway, as an attacker on the
// way (or a broken proxy) would.
const kContent = "**/api/v1/exchanges/*/content";
async function openList(mangle) {
  await context.unroute(kContent);
  if (mangle) {
    await context.route(kContent, async (route) => {
      try {
        const response = await fetchFromGateway(route.request().url(), await route.request().allHeaders());
        const headers = { ...response.headers };
        delete headers["content-length"];
        await route.fulfill({ status: response.status, headers, body: mangle(response.body) });
      } catch (e) {
        fail(`the test's download proxy failed: ${e.code || "error"}`);  // never the request: it holds the cookie
        await route.abort();
      }
    });
  }
  await page.goto(`${env.XGW_URL}/#/inbox`);
  await page.waitForSelector("#inbox");
  await page.click(`#inbox a[href="#/open/${env.XGW_EXCHANGE}"]`);
}

try {
  // Sign in.
  await page.goto(env.XGW_URL + "/");
  await page.waitForSelector("#signin");
  await shot("1-sign-in");
  await checkAccessibility("sign-in");
  await page.fill("input[name=name]", env.XGW_NAME);
  await page.fill("input[name=password]", "not the password");
  await page.fill("input[name=code]", "000000");
  await page.click("#signin button[type=submit]");
  await page.waitForSelector(".message.bad");
  step("a wrong password is refused in the page");
  await page.fill("input[name=password]", env.XGW_PASSWORD);
  await page.fill("input[name=code]", env.XGW_CODE);
  await page.click("#signin button[type=submit]");
  await page.waitForSelector("#inbox");
  const inbox = await page.textContent("#inbox");
  if (!inbox.includes(env.XGW_SENDER_NAME)) fail("the inbox does not name the sender");
  else step("signed in; the inbox names the sender");
  await shot("2-inbox");
  await checkAccessibility("inbox");

  // A modified download: an error, no table, nothing to save.
  await openList((b) => {
    const copy = Buffer.from(b);
    copy[copy.length - 40] ^= 0x01;
    return copy;
  });
  await page.waitForSelector("#unlock");
  await shot("3-unlock");
  await checkAccessibility("unlock");
  await page.fill("input[name=passphrase]", "not my passphrase");
  await page.click("#unlock button[type=submit]");
  await page.waitForSelector("main .message.bad[role=alert]");
  step("a wrong passphrase does not unlock the key");
  await page.fill("input[name=passphrase]", env.XGW_PASSPHRASE);
  await page.click("#unlock button[type=submit]");
  await page.waitForSelector("main .message.bad[role=alert]");
  if ((await page.$("#list")) || (await page.$("#save"))) fail("a modified list was shown");
  else step("a modified download shows an error and no data");
  await shot("4-modified");

  // A cut-short download: the same.
  await openList((b) => b.subarray(0, b.length - 100));
  await page.waitForSelector("main .message.bad[role=alert]");
  if ((await page.$("#list")) || (await page.$("#save"))) fail("a cut-short list was shown");
  else step("a cut-short download shows an error and no data");

  // The real list: verified, shown, saved.
  await openList(null);
  await page.waitForSelector("#list");
  const bodyRows = await page.$$eval("#list tbody tr", (rows) => rows.length);
  if (String(bodyRows) !== env.XGW_ROWS) fail(`the table shows ${bodyRows} rows, not ${env.XGW_ROWS}`);
  else step(`the list is verified and shown: ${bodyRows} rows`);
  await shot("5-list");
  await checkAccessibility("list");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#save")]);
  await download.saveAs(join(env.XGW_OUT, "saved-list"));
  step("the list is saved");

  // Confirm receipt, after the warning.
  await page.click("#ack");
  await page.waitForSelector("#ack-dialog[open]");
  await shot("6-ack-warning");
  await page.click("#ack-confirm");
  await page.waitForSelector("main .message.good >> text=Receipt confirmed");
  step("receipt confirmed");

  const csp = await page.evaluate(() => window.__csp);
  if (csp.length) fail(`CSP violations seen by the page: ${csp.join(", ")}`);
} catch (e) {
  fail(`step failed: ${String(e).split("\n")[0].slice(0, 300)}`);
  await shot("failure").catch(() => {});
} finally {
  await browser.close();
}
console.log(problems.length ? `${problems.length} problem(s)` : "all steps passed");
process.exit(problems.length ? 1 : 0);
