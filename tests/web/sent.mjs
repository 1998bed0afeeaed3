// A sender in Chromium against the real xgwd: signs in and sees the list
// their organisation sent (sent with xgw by tests/web/web_browser_test.cc):
// when, under which protocol, how many rows, its state and until when it is
// kept.
//
// Environment (besides what browser.mjs takes): XGW_NAME, XGW_PASSWORD,
// XGW_TOTP_SECRET, XGW_EXCHANGE, XGW_ROWS.
import { checkAccessibility, env, fail, run, shot as screenshot, signIn, step } from "./browser.mjs";

await run(async (page) => {
  await signIn(page, env.XGW_NAME, env.XGW_PASSWORD, env.XGW_TOTP_SECRET);
  await page.click("nav a[href='#/sent']");
  const row = `#sent tr[data-exchange='${env.XGW_EXCHANGE}']`;
  await page.waitForSelector(row);
  const cells = await page.$$eval(`${row} td`, (tds) => tds.map((td) => td.textContent));
  if (cells[2] !== env.XGW_ROWS) fail(`the sent list shows ${cells[2]} rows, not ${env.XGW_ROWS}`);
  else if (!/waiting|receipt confirmed|deleted/.test(cells[3])) fail(`unexpected state ${cells[3]}`);
  else if (!cells[5]) fail("the sent list does not say until when it is kept");
  else step("the sender sees the list sent, its rows, its state and until when it is kept");
  await screenshot(page, "sent-1-sent-lists");
  await checkAccessibility(page, "sent lists");
});
