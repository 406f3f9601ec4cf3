// Drives Debian's headless Chromium through the explorer's totals and chart and My Page's vouchers.
// Usage: node explorer_extra.mjs BASE_URL ARTIFACT_DIR USER_DATA_DIR
// Environment: MYKEY_ID (a resident with one usable and one redeemed voucher), PASSWORD (theirs),
// STAFF_LOGIN and STAFF_PASSWORD (Kawasaki staff, who grant 100 points while the explorer is open).
// The report it prints, the screenshots and the axe-core audits come from harness.mjs.
import { check, audit, submit, runInBrowser } from "./harness.mjs";

const [base, artifacts, userDataDir] = process.argv.slice(2);
const { MYKEY_ID, PASSWORD, STAFF_LOGIN, STAFF_PASSWORD } = process.env;

const points = (text) => Number(text.replace(/[^0-9-]/g, ""));

await runInBrowser(artifacts, userDataDir, async (browser, page) => {
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
});
