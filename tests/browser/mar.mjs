// Prints the MAR of a generated 24-bed ward as a nurse would, in headless Chromium: the
// all-patients MAR with the previous day (mar-all.pdf), one patient's MAR (mar-one.pdf and
// mar-one.png at 1280 px, mar-one-800.png at 800 px), and checks the MAR page with
// axe-core (no violations at all). Driven by tests/browser_mar.rs, which starts the server
// and reads the PDFs; environment: BASE_URL, LOGIN_USER, LOGIN_CODE, CHROMIUM, OUT.
// Exits non-zero, with the reasons on stderr, when anything fails.

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
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const failures = [];
const fail = (m) => {
  failures.push(m);
  console.error(`FAIL: ${m}`);
};

const profile = mkdtempSync(join(tmpdir(), "noodepd-mar-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env("CHROMIUM"),
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  locale: "nl-NL",
  viewport: { width: 1280, height: 1024 },
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30000);
  page.on("console", (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) fail(`CSP violation: ${msg.text()}`);
  });
  await page.goto(`${base}/login`);
  await page.locator('input[name="user"]').fill(env("LOGIN_USER"));
  await page.locator('input[name="code"]').fill(env("LOGIN_CODE"));
  await Promise.all([page.waitForNavigation(), page.locator('form[action="/login"] button').first().click()]);
  const pdf = async (name) => {
    await page.emulateMedia({ media: "print" });
    await page.pdf({ path: join(out, name), format: "A4", landscape: true, printBackground: true, preferCSSPageSize: true });
    await page.emulateMedia({ media: "screen" });
  };
  // The all-patients MAR with the previous day.
  let resp = await page.goto(`${base}/print/mar?previous=1`);
  if (resp.status() !== 200) fail(`/print/mar answered ${resp.status()}`);
  await pdf("mar-all.pdf");
  // Every as-needed row has one cell per day column (never one block across the days,
  // whose entries a reader would take for the column above them), and on every sheet the
  // first as-needed row of a run has the row naming the entries' columns right above it.
  const prn = await page.evaluate(() => {
    const bad = [];
    let rows = 0;
    for (const sheet of document.querySelectorAll("table.mar-sheet")) {
      const days = sheet.querySelectorAll("th.mar-dayhead").length;
      for (const tr of sheet.querySelectorAll("tr.mar-prn")) {
        rows++;
        const cells = tr.querySelectorAll(":scope > td.mar-prncell").length;
        if (cells !== days) bad.push(`${cells} as-needed cells under ${days} days`);
        if (tr.querySelector("td[colspan] table.prntab")) bad.push("an as-needed table spans the days");
        const prev = tr.previousElementSibling;
        if (!prev || !(prev.matches("tr.mar-prn") || prev.matches("tr.mar-prn-head"))) bad.push("an as-needed row without its column names above");
      }
    }
    return { rows, bad };
  });
  if (prn.rows === 0) fail("no as-needed rows on the all-patients MAR");
  for (const b of prn.bad) fail(`as-needed: ${b}`);
  // One patient's MAR: the first bed's link on the overview.
  await page.goto(`${base}/`);
  const href = await page.locator("table.wardtable a.bedlink").first().getAttribute("href");
  resp = await page.goto(`${base}${href}/mar`);
  if (resp.status() !== 200) fail(`${href}/mar answered ${resp.status()}`);
  await pdf("mar-one.pdf");
  await page.screenshot({ path: join(out, "mar-one.png"), fullPage: false });
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => `${v.impact} ${v.id}: ${v.help} @ ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  });
  for (const v of violations) fail(`axe MAR: ${v}`);
  await page.setViewportSize({ width: 800, height: 1280 });
  await page.screenshot({ path: join(out, "mar-one-800.png"), fullPage: false });
} catch (e) {
  fail(`walk-through stopped: ${e.stack ?? e}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
if (failures.length) {
  console.error(`${failures.length} failure(s)`);
  process.exit(1);
}
