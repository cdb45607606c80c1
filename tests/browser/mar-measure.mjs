// Measures the all-patients MAR as Chromium prints it: for each URL given, the number of
// sheets the server laid out (tables .mar-sheet), the PDF page count, and each sheet's
// rendered height in mm against the printable 194 mm (A4 landscape, 8 mm margins) and
// against the server's estimate (the sheet's data-est-mm); with ROWS=1 also the head,
// foot and every row of every sheet (with its estimate when the row carries data-h, as a
// developer may add while calibrating). A developer's tool to calibrate the sheet splitter's
// estimates (src/web/pages/marheight.rs);
// tests/browser_mar.rs is the test. Environment: BASE_URL, LOGIN_USER, LOGIN_CODE,
// CHROMIUM, OUT; arguments: paths such as /print/mar "/print/mar?previous=1". tests/browser/mar-measure.sh
// runs it on the demo ward.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing environment variable ${k}`);
  return v;
};
const base = env("BASE_URL");
const out = env("OUT");
const profile = mkdtempSync(join(tmpdir(), "noodepd-marm-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env("CHROMIUM"),
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  locale: "nl-NL",
  // The printable width of A4 landscape with 8 mm margins: 281 mm at 96 px/in.
  viewport: { width: 1062, height: 1024 },
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(60000);
  await page.goto(`${base}/login`);
  await page.locator('input[name="user"]').fill(env("LOGIN_USER"));
  await page.locator('input[name="code"]').fill(env("LOGIN_CODE"));
  await Promise.all([page.waitForNavigation(), page.locator('form[action="/login"] button').first().click()]);
  let n = 0;
  for (const path of process.argv.slice(2)) {
    await page.goto(`${base}${path}`);
    await page.emulateMedia({ media: "print" });
    const sheets = await page.evaluate(() => {
      const mm = (el) => (el ? el.getBoundingClientRect().height / (96 / 25.4) : 0);
      return [...document.querySelectorAll("table.mar-sheet")].map((t) => ({
        h: mm(t),
        est: Number(t.dataset.estMm ?? "NaN"),
        head: mm(t.querySelector("thead")),
        foot: mm(t.querySelector("tfoot")),
        rows: [...t.querySelectorAll(":scope > tbody > tr")].map((r) => ({ c: r.className, h: mm(r), e: Number(r.dataset.h ?? "NaN") })),
      }));
    });
    const heights = sheets.map((s) => s.h);
    if (process.env.ROWS) {
      for (const s of sheets) {
        console.log(`sheet ${s.h.toFixed(1)} est ${s.est} head ${s.head.toFixed(1)} foot ${s.foot.toFixed(1)}`);
        for (const r of s.rows) console.log(`  ${r.c.padEnd(28)} ${r.h.toFixed(1)}${Number.isNaN(r.e) ? "" : ` est ${r.e.toFixed(1)}`}`);
      }
    }
    const file = join(out, `measure-${n++}.pdf`);
    await page.pdf({ path: file, format: "A4", landscape: true, printBackground: true, preferCSSPageSize: true });
    const info = execFileSync("pdfinfo", [file]).toString();
    const pages = Number(/Pages:\s+(\d+)/.exec(info)[1]);
    const sorted = [...heights].sort((a, b) => a - b);
    const q = (f) => sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))]?.toFixed(1);
    console.log(`${path}: sheets ${heights.length}, pdf pages ${pages}, sheet height mm min ${q(0)} median ${q(0.5)} max ${q(1)}`);
    console.log(`  heights: ${heights.map((h) => h.toFixed(0)).join(" ")}`);
    console.log(`  rendered − estimated, mm: ${sheets.map((s) => (s.h - s.est).toFixed(0)).join(" ")}`);
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
