// A nurse mistypes her code five times in headless Chromium: the login page counts the
// attempts down and then says her user name is blocked; a colleague at the same PC still
// logs in; a coordinator sees the block on the coordinator page, lifts it, and the nurse
// logs in. axe-core finds no serious or critical violation on the pages involved.
// Driven by tests/browser_lockout.rs, which starts the server and passes in the environment:
//   BASE_URL, NURSE_USER, NURSE_CODE, OTHER_USER, OTHER_CODE, COORD_USER, COORD_CODE,
//   CHROMIUM, OUT (directory for the screenshots).
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
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const failures = [];
const fail = (m) => {
  failures.push(m);
  console.error(`FAIL: ${m}`);
};
const step = (m) => console.error(`step: ${m}`);

const profile = mkdtempSync(join(tmpdir(), "noodepd-chromium-"));
const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});

// One fresh browser session (cookies of its own) on the same PC: every context comes from
// 127.0.0.1, so the server sees one workstation.
const session = async () => {
  const context = await browser.newContext({ locale: "nl-NL", viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on("request", (req) => {
    const u = req.url();
    if (!u.startsWith(base) && !u.startsWith("data:")) fail(`request outside the appliance: ${u}`);
  });
  return { context, page };
};

const axe = async (page, name) => {
  await page.evaluate(axeSource);
  const res = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  for (const v of res) {
    console.error(`axe ${name}: ${v.impact} ${v.id}: ${v.help} @ ${v.nodes.join(", ")}`);
    if (v.impact === "serious" || v.impact === "critical") fail(`axe ${name}: ${v.impact} ${v.id}`);
  }
};

const login = async (page, user, code) => {
  await page.goto(`${base}/login`);
  await page.locator('input[name="user"]').fill(user);
  await page.locator('input[name="code"]').fill(code);
  await Promise.all([page.waitForNavigation(), page.locator('form[action="/login"] button[type="submit"]').click()]);
  return (await page.locator("body").innerText());
};

try {
  const nurse = await session();
  const counts = ["Nog 4 pogingen", "Nog 3 pogingen", "Nog 2 pogingen", "Nog 1 poging "];
  for (let i = 0; i < 5; i++) {
    step(`typo ${i + 1}`);
    const text = await login(nurse.page, env("NURSE_USER"), "00000000");
    const alert = await nurse.page.locator("#login-error").innerText().catch(() => "");
    if (i < 4) {
      if (!alert.includes(counts[i])) fail(`typo ${i + 1}: the page does not say "${counts[i]}": ${alert || text.slice(0, 300)}`);
      if (i === 2) {
        await axe(nurse.page, "login with attempts left");
        await nurse.page.screenshot({ path: join(out, "login-attempts-left.png"), fullPage: true });
      }
    } else if (!alert.includes("geblokkeerd tot")) {
      fail(`after five typos the page does not say the user name is blocked: ${alert}`);
    } else {
      await nurse.page.screenshot({ path: join(out, "login-blocked.png"), fullPage: true });
    }
  }
  step("her own code is refused now");
  await login(nurse.page, env("NURSE_USER"), env("NURSE_CODE"));
  if (new URL(nurse.page.url()).pathname === "/") fail("the blocked nurse got in");

  step("a colleague at the same PC logs in");
  const other = await session();
  await login(other.page, env("OTHER_USER"), env("OTHER_CODE"));
  if (new URL(other.page.url()).pathname !== "/") fail(`the colleague is at ${other.page.url()}, not the ward overview`);
  if ((await other.page.locator('input[name="q"]').count()) === 0) fail("the colleague does not see the ward overview");
  await other.context.close();

  step("the coordinator lifts the block");
  const coord = await session();
  await login(coord.page, env("COORD_USER"), env("COORD_CODE"));
  await coord.page.goto(`${base}/coordinator`);
  const row = coord.page.locator("tr", { hasText: env("NURSE_USER") });
  if ((await row.count()) !== 1) fail(`the coordinator page lists the nurse's block ${await row.count()} times`);
  await axe(coord.page, "coordinator with a block");
  await coord.page.screenshot({ path: join(out, "coordinator-blocked.png"), fullPage: true });
  await Promise.all([coord.page.waitForNavigation(), row.locator("button").click()]);
  const msg = await coord.page.locator(".message-box").innerText().catch(() => "");
  if (!msg.includes("Blokkade opgeheven")) fail(`no confirmation after lifting: ${msg}`);
  await coord.context.close();

  step("the nurse logs in");
  await login(nurse.page, env("NURSE_USER"), env("NURSE_CODE"));
  if (new URL(nurse.page.url()).pathname !== "/") fail(`after the lift the nurse is at ${nurse.page.url()}`);
  await nurse.context.close();
} catch (e) {
  fail(`${e.stack || e}`);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}

if (failures.length > 0) {
  console.error(`${failures.length} failure(s)`);
  process.exit(1);
}
console.error("lockout walk-through passed");
