// Drives Debian's headless Chromium through the staff console's day-by-day figures, with playwright-core.
// Usage: node staff_charts.mjs BASE_URL ARTIFACT_DIR USER_DATA_DIR
// Environment: LAST_OUTSTANDING (Kawasaki's outstanding points at the end of the last day, as printed).
// Prints one JSON object: {checks: [{name, ok, detail}], audits: [{page, violations}], error}.
// Every page visited is screenshotted and checked with axe-core (WCAG 2.x A/AA rules).
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const [base, artifacts, userDataDir] = process.argv.slice(2);
const { LAST_OUTSTANDING } = process.env;
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

async function logIn(page, loginName, password) {
  await page.goto(`${base}/staff/login?lang=ja`);
  await page.fill("#login_name", loginName);
  await page.fill("#password", password);
  await submit(page, () => page.press("#password", "Enter"));
}

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

  // --- Kawasaki's staff: two charts, the numbers behind a <details> ---------------------------
  await logIn(page, "kawasaki.staff", "kawasaki staff passphrase");
  const section = page.locator("#municipality-figures");
  check("the console shows Kawasaki's figures with both charts",
    (await section.locator("h2").innerText()).includes("川崎市")
      && (await page.locator("svg#staff-granted-redeemed").count()) === 1
      && (await page.locator("svg#staff-outstanding").count()) === 1);
  const box = await page.locator("svg#staff-outstanding").boundingBox();
  check("the outstanding chart is drawn at a readable size", box && box.width >= 300 && box.height >= 100,
    JSON.stringify(box));
  check("the table is collapsed until asked for", !(await page.locator("#outstanding-table").isVisible()));
  await audit(page, "staff-charts-01-console");
  await page.locator("#outstanding-numbers summary").focus();
  await page.keyboard.press("Enter");
  const lastRow = await page.locator("#outstanding-table tbody tr").last().innerText();
  check("the keyboard opens the table; its last row ends at the outstanding total",
    (await page.locator("#outstanding-table").isVisible()) && lastRow.trim().endsWith(LAST_OUTSTANDING), lastRow);
  await audit(page, "staff-charts-02-table-open");

  // --- a 30-day period, chosen on the page --------------------------------------------------------
  await page.selectOption("#days", "30");
  await submit(page, () => page.locator("#period-form button").click());
  check("30 days are chosen and drawn",
    page.url().includes("days=30") && (await page.locator("#granted-redeemed-table tbody tr").count()) === 30,
    page.url());
  await audit(page, "staff-charts-03-thirty-days");

  // --- English ---------------------------------------------------------------------------------
  await submit(page, () => page.getByRole("link", { name: "English" }).click());
  check("the English switch keeps the period and words the figures in English",
    (await section.locator("h2").innerText()).startsWith("Points over time (Kawasaki City)")
      && (await page.locator("#granted-redeemed-table tbody tr").count()) === 30);
  await audit(page, "staff-charts-04-english");
  await submit(page, () => page.getByRole("button", { name: "Log out" }).click());

  // --- Toshima's treasurer sees Toshima only -----------------------------------------------------
  await logIn(page, "toshima.treasurer", "kawasaki staff passphrase");
  const heading = await section.locator("h2").innerText();
  const figures = await section.innerText();
  check("Toshima's treasurer sees Toshima's figures and nothing of Kawasaki's",
    heading.includes("豊島区") && !figures.includes("川崎市") && !figures.includes(LAST_OUTSTANDING), heading);
  await audit(page, "staff-charts-05-treasurer");
} catch (caught) {
  error = String(caught && caught.stack ? caught.stack : caught);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify({ checks, audits, error }));
