// A person's first visit, in Chromium against the real xgwd, with nothing
// but the invitation code an operator gave them: enrols (password, the QR
// code for the authenticator app, a code from it, the recovery codes), signs
// in, makes their key in the page with a passphrase and saves the locked
// key. tests/web/web_browser_test.cc then checks that xgw accepts that key:
// it restores it, signs and sends a list with it.
//
// Environment (besides what browser.mjs takes): XGW_INVITATION,
// XGW_SIGNIN_NAME, XGW_PASSWORD, XGW_PASSPHRASE, XGW_OUT (a directory of the
// test's own: recovery-codes.txt, key.age, fingerprint.txt, totp-secret.txt).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkAccessibility, env, fail, run, saveDownload, shot as screenshot, step, totpCode } from "./browser.mjs";

await run(async (page) => {
  const shot = (name) => screenshot(page, `first-run-${name}`);
  await page.goto(env.XGW_URL + "/");
  await page.click("#enrol-link");
  await page.waitForSelector("#enrol");
  await shot("1-enrol");
  await checkAccessibility(page, "enrolment");

  // Two different passwords: refused in the page, nothing sent.
  await page.fill("#enrol input[name=code]", env.XGW_INVITATION);
  await page.fill("#enrol input[name=password]", env.XGW_PASSWORD);
  await page.fill("#enrol input[name=again]", env.XGW_PASSWORD + "x");
  await page.click("#enrol button[type=submit]");
  await page.waitForSelector("main .message.bad[role=alert]");
  step("two different passwords are refused");
  await page.fill("#enrol input[name=again]", env.XGW_PASSWORD);
  await page.click("#enrol button[type=submit]");

  // The authenticator app: the QR code, and the key to type instead.
  await page.waitForSelector("#enrol-confirm svg.qr");
  const secret = (await page.textContent("#totp-secret")).trim();
  // Kept in the test's own directory, as the person's authenticator app keeps it, for sent.mjs.
  writeFileSync(join(env.XGW_OUT, "totp-secret.txt"), secret + "\n");
  await shot("2-authenticator");
  await checkAccessibility(page, "authenticator");
  await page.fill("#enrol-confirm input[name=totp]", "000000");
  await page.click("#enrol-confirm button[type=submit]");
  await page.waitForSelector("main .message.bad[role=alert]");
  step("a wrong code from the app is refused");
  await page.fill("#enrol-confirm input[name=totp]", await totpCode(secret));
  await page.click("#enrol-confirm button[type=submit]");

  // The recovery codes, shown once and saved.
  await page.waitForSelector("#recovery-codes");
  const codes = await page.$$eval("#recovery-codes li", (items) => items.length);
  if (codes !== 10) fail(`${codes} recovery codes shown, not 10`);
  else step("enrolled; ten recovery codes shown");
  await shot("3-recovery-codes");
  await checkAccessibility(page, "recovery codes");
  await saveDownload(page, "main .actions button.secondary", "recovery-codes.txt");
  if (readFileSync(join(env.XGW_OUT, "recovery-codes.txt"), "utf8").trim().split("\n").length !== 10) {
    fail("the saved file does not hold the ten codes");
  }

  // Sign in: the name is filled in; a person without a key is asked to make one.
  await page.click("#enrol-done");
  await page.waitForSelector("#signin");
  if ((await page.inputValue("#signin input[name=name]")) !== env.XGW_SIGNIN_NAME) fail("the sign-in name is not filled in");
  await page.fill("#signin input[name=password]", env.XGW_PASSWORD);
  await page.fill("#signin input[name=code]", await totpCode(secret));
  await page.click("#signin button[type=submit]");
  await page.waitForSelector("#create-key");
  step("signed in; asked to make a key");
  await shot("4-make-key");
  await checkAccessibility(page, "make key");

  await page.fill("#create-key input[name=passphrase]", env.XGW_PASSPHRASE);
  await page.fill("#create-key input[name=again]", env.XGW_PASSPHRASE + "x");
  await page.click("#create-key button[type=submit]");
  await page.waitForSelector("main .message.bad[role=alert]");
  step("two different passphrases are refused");
  await page.fill("#create-key input[name=passphrase]", env.XGW_PASSPHRASE);
  await page.fill("#create-key input[name=again]", env.XGW_PASSPHRASE);
  await page.click("#create-key button[type=submit]");
  await page.waitForSelector("#key-fingerprint", { timeout: 60_000 });
  writeFileSync(join(env.XGW_OUT, "fingerprint.txt"), (await page.textContent("#key-fingerprint")).trim());
  step("the key is made, registered and kept locked on the gateway");
  await shot("5-key-made");
  await checkAccessibility(page, "key made");
  await saveDownload(page, "#key-download", "key.age");
  step("the locked key is saved");

  await page.click("a[href='#/inbox']");
  await page.waitForSelector("main >> text=No list is waiting for you.");
  step("the inbox is empty");
});
