// Walks through the ward view as a nurse would, in headless Chromium, and checks
// accessibility with axe-core. Driven by tests/browser_chromium.rs, which starts the server
// and passes everything in the environment:
//   BASE_URL (http://127.0.0.1:PORT), LOGIN_USER, LOGIN_CODE, BED (bed to search for),
//   EXPECT (JSON list of texts the patient page must show: allergy, policy, medication),
//   LIMIT (the treatment limit the overview must show beside the policy of the patient in BED),
//   CHROMIUM (executable), OUT (directory for mar.pdf, patient.pdf, mar.png, patient.png,
//   labels.pdf, overview-800.png).
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
  // The search box has focus: a nurse types straight away.
  const focused = await page.evaluate(() => document.activeElement?.getAttribute("name"));
  if (focused !== "q") fail(`the search box is not focused on the overview (focus on ${focused})`);
  // Limits on the overview: the row of bed BED shows the treatment limit beside the policy,
  // in the warning colour, and it is on screen (not clipped) at 1280 and 800 px.
  const limitVisible = async (width) => {
    await page.setViewportSize({ width, height: 900 });
    const row = page.locator("table.wardtable tbody tr", { has: page.locator(`a.bedlink:text-is("${env("BED")}")`) });
    const limits = row.locator(".col-policy .limits");
    if ((await limits.count()) !== 1) {
      fail(`at ${width} px the overview row of bed ${env("BED")} shows no treatment limit`);
      return;
    }
    const text = await limits.innerText();
    if (!text.includes(env("LIMIT"))) fail(`at ${width} px the limit reads ${JSON.stringify(text)}, expected ${env("LIMIT")}`);
    const box = await limits.boundingBox();
    if (!box || box.x < 0 || box.x + box.width > width) fail(`at ${width} px the limit is off-screen: ${JSON.stringify(box)}`);
    const colour = await limits.evaluate((e) => getComputedStyle(e).backgroundColor);
    if (colour === "rgba(0, 0, 0, 0)" || colour === "rgb(255, 255, 255)") fail(`the limit has no warning colour (${colour})`);
  };
  await limitVisible(1280);
  await limitVisible(800);
  await page.screenshot({ path: join(out, "overview-800.png"), fullPage: false });
  await axe("overview-800");
  await page.setViewportSize({ width: 1280, height: 900 });

  // Search the way nurses type: the room number alone, "bed N", a name fragment, and the
  // result count in the singular.
  const search = async (text) => {
    const q = page.locator('input[name="q"]');
    await q.fill(text);
    await Promise.all([page.waitForNavigation(), q.press("Enter")]);
    const links = page.locator('table.wardtable a.bedlink');
    const hrefs = new Set(await links.evaluateAll((as) => as.map((a) => a.getAttribute("href"))));
    return [...hrefs];
  };
  for (const [text, want] of [[`bed ${env("BED")}`, 1], ["OOSTERw", 1], ["pn 773102", 1], ["999 912 345", 1], ["kamer 99", 0]]) {
    step(`search for ${JSON.stringify(text)}`);
    const found = await search(text);
    if (found.length !== want) fail(`search for ${JSON.stringify(text)} found ${found.length} patients, expected ${want}: ${found}`);
    const status = await page.locator(".result-count").innerText();
    if (want === 1 && !/^1 resultaat voor/.test(status)) fail(`result count reads ${JSON.stringify(status)}`);
  }
  step(`search for bed ${env("BED")}`);
  const hits = await search(env("BED"));
  if (hits.length !== 1) fail(`search for bed ${env("BED")} found ${hits.length} patients, expected 1: ${hits}`);
  const links = page.locator('a[href^="/patient/"]');

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

  // The identity banner stays in view while the page scrolls.
  await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
  const bannerTop = await page.locator(".identity").evaluate((e) => e.getBoundingClientRect().top);
  if (bannerTop < -1 || bannerTop > 5) fail(`the identity banner scrolled away (top ${bannerTop})`);

  step("labels sheet");
  const keyForLabels = patientPath.slice("/patient/".length);
  resp = await page.goto(`${base}/patient/${keyForLabels}/labels`);
  if (resp.status() !== 200) fail(`labels answered ${resp.status()}`);
  await axe("labels");
  await page.emulateMedia({ media: "print" });
  await page.pdf({ path: join(out, "labels.pdf"), format: "A4", printBackground: true, preferCSSPageSize: true });
  await page.emulateMedia({ media: "screen" });
  await page.goto(`${base}/patient/${keyForLabels}`);

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

  step("live data age on an open page");
  // The page keeps counting with a fake clock: 31 minutes on, the data (4 minutes old at
  // load) is past the 30-minute stale limit, and the page says so without a reload.
  const live = await context.newPage();
  live.on("console", (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) fail(`CSP violation on the live page: ${msg.text()}`);
  });
  await live.clock.install();
  await live.goto(`${base}/`);
  const ageAt = async () => (await live.locator(".agebox .age-n").innerText()).trim();
  const first = await ageAt();
  if (!/^\d+ (s|min)$/.test(first)) fail(`the data age reads ${JSON.stringify(first)}`);
  if (await live.locator(".stale-banner").isVisible()) fail("stale banner shown on fresh data");
  await live.clock.fastForward("31:00");
  const later = await ageAt();
  if (later === first || !/^3\d min$/.test(later)) fail(`after 31 minutes the age reads ${JSON.stringify(later)} (was ${JSON.stringify(first)})`);
  if (!(await live.locator(".stale-banner").isVisible())) fail("no stale warning after the data passed the stale limit on an open page");
  if (!(await live.locator(".agebox .age-stale").isVisible())) fail("the top bar's age is not marked stale");
  await live.close();
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
