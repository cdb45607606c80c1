// Makes the screenshots and PDFs in docs/screenshots/ from a running `noodepd demo`, the
// way a reviewer looks at the ward view: headless Chromium at 1280 px (ward PC) and 800 px
// (ward tablet), plus 360 px (phone) for the overview and the patient page.
//   BASE_URL   http://127.0.0.1:PORT of the demo
//   NURSE      "user code" of a nurse, COORDINATOR "user code" of a coordinator
//   CHROMIUM   the executable; OUT the directory to write to
// The MAR screenshots and PDFs: mar (one patient), mar-all (all patients with the previous
// day), mar-blank. Run by docs/screenshots/make.sh (which starts the demo); not part of `cargo test`.

import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing environment variable ${k}`);
  return v;
};
const base = env("BASE_URL");
const out = env("OUT");

async function session(userCode, width) {
  const profile = mkdtempSync(join(tmpdir(), "noodepd-shots-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: env("CHROMIUM"),
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    locale: "nl-NL",
    viewport: { width, height: width >= 1000 ? 1024 : width >= 700 ? 1280 : 780 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15000);
  const [user, code] = userCode.split(" ");
  await page.goto(`${base}/login`);
  await page.locator('input[name="user"]').fill(user);
  await page.locator('input[name="code"]').fill(code);
  await Promise.all([page.waitForNavigation(), page.locator('form[action="/login"] button').first().click()]);
  return { page, close: async () => { await context.close(); rmSync(profile, { recursive: true, force: true }); } };
}

// A patient with limits, isolation and an allergy, for the patient page and the labels.
async function pickPatient(page) {
  await page.goto(`${base}/`);
  const rows = page.locator("table.wardtable tbody tr");
  const n = await rows.count();
  let best = null;
  let bestScore = -1;
  for (let i = 0; i < n; i++) {
    const r = rows.nth(i);
    const score =
      (await r.locator(".limits").count()) * 4 +
      (await r.locator(".chip-isolation").count()) * 2 +
      (await r.locator(".flag-allergy").count());
    if (score > bestScore) {
      bestScore = score;
      best = await r.locator("a.bedlink").getAttribute("href");
    }
  }
  return best;
}

const shot = async (page, name) => {
  await page.screenshot({ path: join(out, `${name}.png`), fullPage: false });
  console.error(`wrote ${name}.png`);
};
const pdf = async (page, name, landscape) => {
  await page.emulateMedia({ media: "print" });
  await page.pdf({ path: join(out, `${name}.pdf`), format: "A4", landscape, printBackground: true, preferCSSPageSize: true });
  await page.emulateMedia({ media: "screen" });
  console.error(`wrote ${name}.pdf`);
};

for (const width of [1280, 800, 360]) {
  const { page, close } = await session(env("NURSE"), width);
  try {
    await page.goto(`${base}/`);
    await shot(page, `overview-${width}`);
    if (width === 360) {
      const patient = await pickPatient(page);
      await page.goto(`${base}${patient}`);
      await shot(page, `patient-${width}`);
      continue;
    }
    await page.goto(`${base}/?q=12`);
    await shot(page, `search-${width}`);
    const patient = await pickPatient(page);
    await page.goto(`${base}${patient}`);
    await shot(page, `patient-${width}`);
    // Scrolled to the medication: the identity banner stays in view.
    await page.evaluate(() => document.getElementById("medicatie")?.scrollIntoView());
    await shot(page, `patient-scrolled-${width}`);
    await page.goto(`${base}/print/ward`);
    await shot(page, `ward-list-${width}`);
    if (width === 1280) await pdf(page, "ward-list", true);
    await page.goto(`${base}${patient}/labels`);
    await shot(page, `labels-${width}`);
    if (width === 1280) {
      await pdf(page, "labels", false);
      await page.screenshot({ path: join(out, "labels-sheet.png"), fullPage: true });
    }
    // The MAR with the doses the EPD recorded (G / NIET GEGEVEN / vóór peilmoment), its
    // as-needed blocks and high-risk markers; the all-patients MAR and the blank MAR.
    // With the previous day, so the sheet shows what the EPD recorded whatever the hour of the
    // run (shortly after midnight today has nothing recorded yet).
    await page.goto(`${base}${patient}/mar?previous=1`);
    await shot(page, `mar-${width}`);
    if (width === 1280) await pdf(page, "mar", true);
    await page.goto(`${base}/print/mar?previous=1`);
    await shot(page, `mar-all-${width}`);
    if (width === 1280) await pdf(page, "mar-all", true);
    await page.goto(`${base}/print/mar-blank`);
    await shot(page, `mar-blank-${width}`);
    if (width === 1280) await pdf(page, "mar-blank", true);
  } finally {
    await close();
  }
}

for (const width of [1280, 800]) {
  const { page, close } = await session(env("COORDINATOR"), width);
  try {
    await page.goto(`${base}/drill-report`);
    await shot(page, `drill-report-${width}`);
    if (width === 1280) await pdf(page, "drill-report", false);
    await page.goto(`${base}/status`);
    await shot(page, `status-${width}`);
  } finally {
    await close();
  }
}
console.error("screenshots done");
