// Drives Debian's headless Chromium through the explorer's totals and chart and My Page's vouchers.
// Usage: node explorer_extra.mjs BASE_URL ARTIFACT_DIR USER_DATA_DIR
// Environment: MYKEY_ID (a resident with one usable and one redeemed voucher), PASSWORD (theirs),
// STAFF_LOGIN and STAFF_PASSWORD (Kawasaki staff, who grant 100 points while the explorer is open).
// Prints one JSON object: {checks: [{name, ok, detail}], audits: [{page, violations}], error}.
// Every page visited is screenshotted and checked with axe-core (WCAG 2.x A/AA rules).
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const [base, artifacts, userDataDir] = process.argv.slice(2);
const { MYKEY_ID, PASSWORD, STAFF_LOGIN, STAFF_PASSWORD } = process.env;
const checks = [];
const audits = [];

function check(name, ok, detail = "") {
  checks.push({ name, ok: Boolean(ok), detail: String(detail) });
}

async function audit(page, label) {
  await page.screenshot({ path: path.join(artifacts, `${label}.png`), fullPage: true });
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] } }),
  );
  audits.push({
    page: label,
    url: page.url(),
    violations: result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
    })),
  });
}

async function submit(page, action) {
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), action()]);
}

const points = (text) => Number(text.replace(/[^0-9-]/g, ""));

const browser = await chromium.launchPersistentContext(userDataDir, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1100, height: 900 },
  locale: "ja-JP",
});
let error = null;
try {
  const page = browser.pages()[0] || (await browser.newPage());

  // --- the totals per municipality, with the outstanding points defined in words ----------
  await page.goto(`${base}/explorer`);
  const homeOutstanding = points(await page.locator("#outstanding-14130").innerText());
  check("the home page shows Kawasaki's outstanding points", homeOutstanding > 0, homeOutstanding);
  check("the outstanding points are defined in plain words",
    (await page.locator("#outstanding-definition").innerText()).includes("未使用残高"));
  await audit(page, "x1-explorer-totals");

  // --- a municipality's chart, its numbers as text, and a live update ---------------------
  await page.goto(`${base}/explorer/municipalities/14130`);
  const before = points(await page.locator("#outstanding").innerText());
  const chartName = await page.locator("svg#outstanding-per-day").getAttribute("aria-labelledby");
  check("the outstanding chart is an image named by its title and description",
    chartName === "outstanding-per-day-title outstanding-per-day-desc" &&
      (await page.locator("svg#outstanding-per-day").getAttribute("role")) === "img");
  const lastDay = points(await page.locator("#daily-figures tbody tr:last-child td:last-child").innerText());
  check("today's outstanding in the chart's table is the ledger's figure", lastDay === before, `${lastDay} vs ${before}`);
  await audit(page, "x2-explorer-municipality-chart");

  const navigations = await page.evaluate(() => performance.getEntriesByType("navigation").length);
  const staff = await browser.newPage();
  await staff.goto(`${base}/staff/login`);
  await staff.fill("#login_name", STAFF_LOGIN);
  await staff.fill("#password", STAFF_PASSWORD);
  await submit(staff, () => staff.press("#password", "Enter"));
  await staff.fill("#mykey_id", MYKEY_ID);
  await staff.fill("#points", "100");
  await submit(staff, () => staff.getByRole("button", { name: "付与する", exact: true }).click());
  await staff.close();
  let after = before;
  for (let i = 0; i < 60 && after === before; i += 1) {
    await page.waitForTimeout(250);
    after = points(await page.locator("#outstanding").innerText());
  }
  check("a grant raises the outstanding points without a reload",
    after === before + 100 &&
      (await page.evaluate(() => performance.getEntriesByType("navigation").length)) === navigations,
    `${before} -> ${after}`);

  await page.goto(`${base}/explorer/municipalities/14130?lang=en`);
  await audit(page, "x3-explorer-municipality-chart-en");

  // --- My Page lists the resident's vouchers with their status ----------------------------
  await page.goto(`${base}/my/login`);
  await page.fill("#mykey_id", MYKEY_ID);
  await page.fill("#password", PASSWORD);
  await submit(page, () => page.press("#password", "Enter"));
  const statuses = await page.locator("#voucher-list tbody tr").evaluateAll((rows) =>
    rows.map((row) => row.getAttribute("data-status")));
  check("My Page lists the vouchers newest first with their status",
    JSON.stringify(statuses) === JSON.stringify(["usable", "redeemed"]), JSON.stringify(statuses));
  await page.locator("#vouchers").scrollIntoViewIfNeeded();
  await audit(page, "x4-my-vouchers");
} catch (caught) {
  error = String(caught && caught.stack ? caught.stack : caught);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify({ checks, audits, error }));
