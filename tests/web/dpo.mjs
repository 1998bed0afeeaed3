// The DPO in Chromium against the real xgwd: signs in, opens an exchange's
// timeline in the audit log (each event proven in the page against the
// gateway's signed checkpoint), checks and saves its deletion receipt, saves
// the events as CSV; finds a person's lists by a fingerprint computed in the
// page. An event changed on its way, and a checkpoint whose
// signature does not hold, show an error and no events.
//
// Environment (besides what browser.mjs takes): XGW_NAME, XGW_PASSWORD,
// XGW_TOTP_SECRET, XGW_EXCHANGE, XGW_SUBJECT_KEY_FILE, XGW_SUBJECT_NUMBER,
// XGW_SUBJECT_EXCHANGE, XGW_OUT (a directory of the test's own:
// receipt.json, events.csv, actions.txt).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  checkAccessibility, env, fail, gatewayRequest, run, saveDownload, shot as screenshot, signIn, step,
} from "./browser.mjs";

// Rewrites the answers of `pattern` with `mangle(text)` on their way to the page.
async function tamper(context, pattern, mangle) {
  await context.route(pattern, async (route) => {
    try {
      const request = route.request();
      const response = await gatewayRequest(request.method(), request.url(), await request.allHeaders(),
        request.postDataBuffer() || undefined);
      const headers = { ...response.headers };
      delete headers["content-length"];
      await route.fulfill({ status: response.status, headers, body: mangle(response.body.toString()) });
    } catch (e) {
      fail(`the test's proxy failed: ${e.code || "error"}`);
      await route.abort();
    }
  });
}

await run(async (page, context) => {
  const shot = (name) => screenshot(page, `dpo-${name}`);
  const timeline = `${env.XGW_URL}/#/audit/exchange=${env.XGW_EXCHANGE}`;
  await signIn(page, env.XGW_NAME, env.XGW_PASSWORD, env.XGW_TOTP_SECRET);
  await page.waitForSelector("nav a[href='#/audit/']");
  step("the DPO signs in and sees the audit log in the menu");

  // An event changed on its way: nothing of the page is shown.
  await tamper(context, "**/api/v1/audit/events?*", (text) => {
    const doc = JSON.parse(text);
    const item = doc.items.find((i) => i.event && i.event.action === "exchange.downloaded");
    const bytes = Buffer.from(item.leaf_data, "base64").toString().replace('"success"', '"refused"');
    item.leaf_data = Buffer.from(bytes).toString("base64");
    return JSON.stringify(doc);
  });
  await page.goto(timeline);
  await page.waitForSelector("main .message.bad[role=alert] >> text=it was changed");
  if (await page.$("#audit")) fail("a changed event was shown");
  else step("an event changed on its way shows an error and no events");
  await shot("1-changed-event");
  await context.unroute("**/api/v1/audit/events?*");

  // A checkpoint whose signature does not hold (its size changed).
  await tamper(context, "**/api/v1/audit/checkpoint", (text) => text.replace(/\n(\d+)\n/, (_, n) => `\n${Number(n) + 1}\n`));
  await page.goto(`${env.XGW_URL}/#/inbox`);
  await page.goto(timeline);
  await page.waitForSelector("main .message.bad[role=alert] >> text=is not signed by its verifier key");
  if (await page.$("#audit")) fail("events were shown under a forged checkpoint");
  else step("a forged checkpoint shows an error and no events");
  await context.unroute("**/api/v1/audit/checkpoint");

  // The real timeline, proven; the receipt checked and saved; the CSV saved.
  await page.goto(`${env.XGW_URL}/#/inbox`);
  await page.goto(timeline);
  await page.waitForSelector("#audit");
  const actions = await page.$$eval("#audit tbody tr td:nth-child(3)", (cells) => cells.map((c) => c.textContent));
  writeFileSync(join(env.XGW_OUT, "actions.txt"), actions.join("\n") + "\n");
  step(`the exchange's timeline: ${actions.length} events, each proven`);
  await page.waitForSelector("#receipt .message.good");
  step("the deletion receipt is checked in the page");
  await shot("2-timeline");
  await checkAccessibility(page, "audit timeline");
  await saveDownload(page, "#receipt-save", "receipt.json");
  await saveDownload(page, "#audit-csv", "events.csv");
  step("the receipt and the events are saved");

  // A person's lists, found by a fingerprint computed in the page.
  await page.click("#subject-link");
  await page.waitForSelector("#subject");
  await page.setInputFiles("#subject input[name=key]", env.XGW_SUBJECT_KEY_FILE);
  await page.fill("#subject input[name=number]", "12345678901");
  await page.click("#subject button[type=submit]");
  await page.waitForSelector("#subject-status .message.bad");
  step("a number with wrong check digits is refused in the page");
  await page.setInputFiles("#subject input[name=key]", env.XGW_SUBJECT_KEY_FILE);
  await page.fill("#subject input[name=number]", env.XGW_SUBJECT_NUMBER);
  await page.click("#subject button[type=submit]");
  await page.waitForSelector("#subject-hits");
  const found = await page.textContent("#subject-hits");
  if (!found.includes(env.XGW_SUBJECT_EXCHANGE)) fail("the person's list was not found");
  else if (!found.includes("OCMW Gent")) fail("who opened the list is not named");
  else step("the person's list is found, with who opened it");
  if ((await page.inputValue("#subject input[name=number]")) !== "") fail("the number stays in the form");
  await shot("3-subject");
  await checkAccessibility(page, "subject lookup");
});
