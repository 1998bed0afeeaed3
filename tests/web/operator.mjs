// An operator in Chromium against the real xgwd: registers an organisation
// (a duplicate enterprise number is refused), a person in it, invites them
// (the one-time code is shown once), proposes a protocol from a JSON file
// (a broken one is refused with each problem at its path), accepts it for
// both parties, activates and suspends it.
//
// Environment (besides what browser.mjs takes): XGW_NAME, XGW_PASSWORD,
// XGW_TOTP_SECRET, XGW_PROTOCOL_FILE, XGW_BROKEN_PROTOCOL_FILE,
// XGW_PROTOCOL_ID, XGW_OUT (the test's own directory: invitation.txt).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkAccessibility, env, fail, run, shot as screenshot, signIn, step } from "./browser.mjs";

await run(async (page) => {
  const shot = (name) => screenshot(page, `operator-${name}`);
  await signIn(page, env.XGW_NAME, env.XGW_PASSWORD, env.XGW_TOTP_SECRET);
  await page.click("nav a[href='#/admin']");
  await page.waitForSelector("#orgs");
  if (!(await page.textContent("main")).includes("The gateway is running")) fail("the gateway's health is not shown");
  await shot("1-organisations");
  await checkAccessibility(page, "organisations");

  // A second organisation with an enterprise number already registered: refused.
  await page.fill("#new-org input[name=name]", "Another OCMW");
  await page.fill("#new-org input[name=number]", "0212.214.125");
  await page.click("#new-org button[type=submit]");
  await page.waitForSelector("#orgs-status .message.bad");
  step("a duplicate enterprise number is refused");
  await page.fill("#new-org input[name=name]", "Woonstad Testbed");
  await page.fill("#new-org input[name=number]", "0123.456.749");
  await page.click("#new-org button[type=submit]");
  await page.waitForSelector("#orgs-status .message.good");
  await page.waitForSelector("#orgs >> text=Woonstad Testbed");
  step("an organisation is registered");

  await page.click("#orgs tr:has-text('Woonstad Testbed') a");
  await page.waitForSelector("#new-person");
  await page.fill("#new-person input[name=name]", "Housing officer");
  await page.fill("#new-person input[name=roles]", "sender");
  await page.click("#new-person button[type=submit]");
  await page.waitForSelector("#people >> text=Housing officer");
  await page.fill("#people tr:has-text('Housing officer') input[name=signin]", "officer.woonstad");
  await page.click("#people tr:has-text('Housing officer') form button");
  await page.waitForSelector("#people-status .message.good >> text=xgwi_");
  const invitation = /xgwi_[a-z2-7]{52}/.exec(await page.textContent("#people-status"));
  if (!invitation) fail("no invitation code shown");
  else writeFileSync(join(env.XGW_OUT, "invitation.txt"), invitation[0] + "\n");
  step("a person is registered and invited; the code is shown once");
  await shot("2-people");
  await checkAccessibility(page, "people");

  // Protocols: a broken file is refused with its problems at their paths.
  await page.click("a[href='#/admin/protocols']");
  await page.waitForSelector("#propose");
  await page.setInputFiles("#protocol-file", env.XGW_BROKEN_PROTOCOL_FILE);
  await page.click("#propose button[type=submit]");
  await page.waitForSelector("#protocol-problems code");
  const paths = await page.$$eval("#protocol-problems code", (cells) => cells.map((c) => c.textContent));
  if (!paths.some((p) => p.includes("fields"))) fail(`the problems do not name the missing fields: ${paths.join(" ")}`);
  else step("a broken protocol is refused with its problems at their paths");
  await shot("3-protocol-problems");

  await page.setInputFiles("#protocol-file", env.XGW_PROTOCOL_FILE);
  await page.click("#propose button[type=submit]");
  await page.waitForSelector(`#protocols tr:has-text('${env.XGW_PROTOCOL_ID}')`);
  const row = `#protocols tr:has-text('${env.XGW_PROTOCOL_ID}')`;
  for (const party of ["Thuispunt Gent", "OCMW Gent"]) {
    await page.selectOption(`${row} select`, { label: party });
    await page.click(`${row} button:has-text('Accept for')`);
    await page.waitForSelector("#protocols-status .message.good >> text=Acceptance");
  }
  await page.click(`${row} button:has-text('Activate')`);
  await page.waitForSelector("#protocols-status .message.good >> text=is in force");
  step("the protocol is proposed, accepted by both parties and in force");
  await page.click(`${row} button:has-text('Suspend')`);
  await page.click("#confirm-yes");
  await page.waitForSelector("#protocols-status .message.good >> text=is suspended");
  step("the protocol is suspended after a confirmation");
  await shot("4-protocols");
  await checkAccessibility(page, "protocols");
});
