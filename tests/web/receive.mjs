// A person who has never seen a terminal, in Chromium against the real xgwd:
// signs in (password + TOTP code), sees the list waiting for them by the
// sender's name, unlocks their kept key with its passphrase, opens the list
// (decrypted and verified in the page), saves it and confirms receipt. A
// modified and a cut-short download show an error and no data. Any Content
// Security Policy violation or script error fails the run; axe-core checks
// each view for WCAG 2.1 A/AA problems.
//
// Driven by tests/web/web_browser_test.cc, which sets the world up and
// passes everything in the environment (never on the command line): what
// browser.mjs takes, and
//   XGW_NAME, XGW_PASSWORD, XGW_CODE, XGW_PASSPHRASE, XGW_EXCHANGE,
//   XGW_SENDER_NAME, XGW_ROWS, XGW_OUT (a directory of the test's own for
//   the saved list).
// Prints one line per step; never a value from the list.
import { join } from "node:path";
import { checkAccessibility, env, fail, gatewayRequest, run, shot as screenshot, step } from "./browser.mjs";

// Opens the list with the content download rewritten by `mangle` (or not):
// the test stands between the page and the gateway, as an attacker on the
// way (or a broken proxy) would.
const kContent = "**/api/v1/exchanges/*/content";
async function openListIn(page, context, mangle) {
  await context.unroute(kContent);
  if (mangle) {
    await context.route(kContent, async (route) => {
      try {
        const response = await gatewayRequest("GET", route.request().url(), await route.request().allHeaders());
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

await run(async (page, context) => {
  const shot = (name) => screenshot(page, `receive-${name}`);
  const openList = (mangle) => openListIn(page, context, mangle);
  // Sign in.
  await page.goto(env.XGW_URL + "/");
  await page.waitForSelector("#signin");
  await shot("1-sign-in");
  await checkAccessibility(page, "sign-in");
  await page.fill("input[name=name]", env.XGW_NAME);
  await page.fill("input[name=password]", "not the password");
  await page.fill("input[name=code]", "000000");
  await page.click("#signin button[type=submit]");
  await page.waitForSelector(".message.bad");
  step("a wrong password is refused in the page");
  // Keyboard only: Tab to the form, type, Enter.
  await page.fill("input[name=name]", "");
  await page.fill("input[name=password]", "");
  await page.fill("input[name=code]", "");
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate(() => document.activeElement && document.activeElement.name === "name")) break;
  }
  await page.keyboard.type(env.XGW_NAME);
  await page.keyboard.press("Tab");
  await page.keyboard.type(env.XGW_PASSWORD);
  await page.keyboard.press("Tab");
  await page.keyboard.type(env.XGW_CODE);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#inbox");
  step("signed in with the keyboard only");
  const inbox = await page.textContent("#inbox");
  if (!inbox.includes(env.XGW_SENDER_NAME)) fail("the inbox does not name the sender");
  else step("signed in; the inbox names the sender");
  await shot("2-inbox");
  await checkAccessibility(page, "inbox");
  // In Dutch, then back.
  await page.selectOption("#language", "nl");
  await page.waitForSelector("main h1 >> text=Lijsten voor mij");
  await shot("2-inbox-nl");
  await page.selectOption("#language", "fr");
  await page.waitForSelector("main h1 >> text=Listes pour moi");
  await page.selectOption("#language", "en");
  await page.waitForSelector("main h1 >> text=Lists for me");
  step("the page speaks Dutch, French and English");

  // A modified download: an error, no table, nothing to save.
  await openList((b) => {
    const copy = Buffer.from(b);
    copy[copy.length - 40] ^= 0x01;
    return copy;
  });
  await page.waitForSelector("#unlock");
  await shot("3-unlock");
  await checkAccessibility(page, "unlock");
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
  await checkAccessibility(page, "list");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#save")]);
  await download.saveAs(join(env.XGW_OUT, "saved-list"));
  step("the list is saved");

  // Report a problem by row and column (never a value).
  await page.click("#report");
  await page.waitForSelector("#report-dialog[open]");
  await page.selectOption("#report-dialog select[name=kind]", "other");
  await page.fill("#report-dialog input[name=row]", "2");
  await page.selectOption("#report-dialog select[name=column]", { index: 1 });
  await shot("6-report");
  await page.click("#report-send");
  await page.waitForSelector("main .message.good >> text=Reported");
  step("a problem with row 2 is reported");

  // Confirm receipt, after the warning.
  await page.click("#ack");
  await page.waitForSelector("#ack-dialog[open]");
  await shot("7-ack-warning");
  await page.click("#ack-confirm");
  await page.waitForSelector("main .message.good >> text=Receipt confirmed");
  step("receipt confirmed");

});
