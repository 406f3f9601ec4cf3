// Drives Debian's headless Chromium through the staff console's day-by-day figures, with playwright-core.
// Usage: node staff_charts.mjs BASE_URL ARTIFACT_DIR USER_DATA_DIR
// Environment: LAST_OUTSTANDING (Kawasaki's outstanding points at the end of the last day, as printed).
// The report it prints, the screenshots and the axe-core audits come from harness.mjs.
import { check, audit, submit, runInBrowser } from "./harness.mjs";

const [base, artifacts, userDataDir] = process.argv.slice(2);
const { LAST_OUTSTANDING } = process.env;

async function logIn(page, loginName, password) {
  await page.goto(`${base}/staff/login?lang=ja`);
  await page.fill("#login_name", loginName);
  await page.fill("#password", password);
  await submit(page, () => page.press("#password", "Enter"));
}

await runInBrowser(artifacts, userDataDir, async (browser, page) => {
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
});
