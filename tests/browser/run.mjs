// Walks through the ward view as a nurse would, in headless Chromium, and checks
// accessibility with axe-core. Driven by tests/browser_chromium.rs, which starts the server
// and passes everything in the environment:
//   BASE_URL (http://127.0.0.1:PORT), LOGIN_USER, LOGIN_CODE, BED (bed to search for),
//   EXPECT (JSON list of texts the patient page must show: allergy, policy, medication),
//   CHROMIUM (executable), OUT (directory for mar.pdf, patient.pdf, mar.png, patient.png).
// Exits non-zero, with the reasons on stderr, when anything fails. No network but BASE_URL.

import { chromium } from "playwright-core";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing environment variable ${k}`);
  return v;
};
const base = env("BASE_URL");
const out = env("OUT");
const expect = JSON.parse(env("EXPECT"));
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const failures = [];
const fail = (m) => {
  failures.push(m);
  console.error(`FAIL: ${m}`);
};
const step = (m) => console.error(`step: ${m}`);

const profile = mkdtempSync(join(tmpdir(), "noodepd-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env("CHROMIUM"),
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  locale: "nl-NL",
  viewport: { width: 1280, height: 900 },
});

try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15000);
  // Hostile data must never run: any dialog is a script that got through.
  page.on("dialog", async (d) => {
    fail(`a script ran and opened a dialog: ${d.message()}`);
    await d.dismiss();
  });
  // Any CSP violation means the page wants something the policy forbids.
  page.on("console", (msg) => {
    const t = msg.text();
    if (/Content Security Policy|Refused to/i.test(t)) fail(`CSP violation on ${page.url()}: ${t}`);
  });
  // Nothing may be loaded from anywhere but the server itself.
  page.on("request", (req) => {
    const u = req.url();
    if (!u.startsWith(base) && !u.startsWith("data:")) fail(`request outside the appliance: ${u}`);
  });

  const axe = async (name) => {
    await page.evaluate(axeSource);
    const res = await page.evaluate(async () => {
      // eslint-disable-next-line no-undef
      const r = await axe.run(document, { resultTypes: ["violations"] });
      return r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
      }));
    });
    const bad = res.filter((v) => v.impact === "serious" || v.impact === "critical");
    for (const v of res) console.error(`axe ${name}: ${v.impact} ${v.id}: ${v.help} @ ${v.nodes.join(", ")}`);
    for (const v of bad) fail(`axe ${name}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(", ")}`);
    return res.length;
  };

  step("login page");
  let resp = await page.goto(`${base}/login`);
  if (resp.status() !== 200) fail(`/login answered ${resp.status()}`);
  await axe("login");
  await page.locator('input[name="user"]').fill(env("LOGIN_USER"));
  await page.locator('input[name="code"]').fill(env("LOGIN_CODE"));
  await Promise.all([
    page.waitForNavigation(),
    page.locator('form[action="/login"] button[type="submit"], form[action="/login"] input[type="submit"], form[action="/login"] button').first().click(),
  ]);
  if (new URL(page.url()).pathname !== "/") {
    const shown = (await page.locator("body").innerText()).slice(0, 1500);
    fail(`after login the browser is at ${page.url()}, expected /; the page says: ${shown}`);
  }

  step("ward overview");
  await axe("overview");
  await page.screenshot({ path: join(out, "overview.png"), fullPage: true });

  step(`search for bed ${env("BED")}`);
  const q = page.locator('input[name="q"]');
  await q.fill(env("BED"));
  await Promise.all([page.waitForNavigation(), q.press("Enter")]);
  const links = page.locator('a[href^="/patient/"]');
  const hrefs = new Set(await links.evaluateAll((as) => as.map((a) => a.getAttribute("href"))));
  if (hrefs.size !== 1) fail(`search for bed ${env("BED")} found ${hrefs.size} patients, expected 1: ${[...hrefs]}`);

  step("patient page");
  await Promise.all([page.waitForNavigation(), links.first().click()]);
  const patientPath = new URL(page.url()).pathname;
  if (!patientPath.startsWith("/patient/")) fail(`clicking the result led to ${page.url()}`);
  const text = await page.locator("body").innerText();
  for (const want of expect) {
    if (!text.includes(want)) fail(`the patient page does not show ${JSON.stringify(want)}`);
  }
  await axe("patient");
  await page.screenshot({ path: join(out, "patient.png"), fullPage: true });
  // Ctrl+P of the patient page: every sheet must say whose it is (checked on patient.pdf).
  await page.emulateMedia({ media: "print" });
  await page.pdf({ path: join(out, "patient.pdf"), format: "A4", printBackground: true });
  await page.emulateMedia({ media: "screen" });

  step("MAR print view");
  const key = patientPath.slice("/patient/".length);
  // The pages link the MAR as /patient/KEY/mar; /print/mar/KEY is the same view.
  const marLink = page.locator(`a[href="/patient/${key}/mar"], a[href="/print/mar/${key}"]`);
  if ((await marLink.count()) === 0) {
    fail("the patient page has no link to its MAR print view");
    resp = await page.goto(`${base}/print/mar/${key}`);
  } else {
    await Promise.all([page.waitForNavigation(), marLink.first().click()]);
  }
  const marPath = new URL(page.url()).pathname;
  if (marPath !== `/patient/${key}/mar` && marPath !== `/print/mar/${key}`) fail(`MAR view at ${page.url()}`);
  const marText = await page.locator("body").innerText();
  for (const want of expect.slice(-1)) {
    if (!marText.includes(want)) fail(`the MAR does not show ${JSON.stringify(want)}`);
  }
  await axe("mar");
  await page.emulateMedia({ media: "print" });
  await page.pdf({ path: join(out, "mar.pdf"), format: "A4", printBackground: true });
  await page.screenshot({ path: join(out, "mar.png"), fullPage: true });
} catch (e) {
  fail(`${e.stack || e}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

if (failures.length > 0) {
  console.error(`${failures.length} failure(s)`);
  process.exit(1);
}
console.error("browser walk-through passed");
