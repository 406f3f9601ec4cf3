// Drives Debian's headless Chromium through the staff console's programme pages, with playwright-core.
// Usage: node programme.mjs BASE_URL ARTIFACT_DIR USER_DATA_DIR
// Environment: MUSEUM (business id), NEW_USE (a use it does not accept yet), TERMINAL_ADDRESS (a fresh address), EVENT_START / EVENT_END
// (datetime-local values in JST, start before end, both in the future).
// The report it prints, the screenshots and the axe-core audits come from harness.mjs.
import { check, audit, errorFor, submit, runInBrowser } from "./harness.mjs";

const [base, artifacts, userDataDir] = process.argv.slice(2);
const { MUSEUM, NEW_USE, TERMINAL_ADDRESS, EVENT_START, EVENT_END } = process.env;

async function transactionShown(page) {
  const link = page.locator("#write-transaction");
  if ((await link.count()) === 0) return null;
  const href = await link.getAttribute("href");
  return /^\/explorer\/transactions\/0x[0-9a-f]{64}$/.test(href || "") ? href : null;
}

await runInBrowser(artifacts, userDataDir, async (browser, page) => {
  // --- log in as Kawasaki's staff and follow the console's link ------------------------------
  await page.goto(`${base}/staff/login`);
  await page.fill("#login_name", "kawasaki.staff");
  await page.fill("#password", "kawasaki staff passphrase");
  await submit(page, () => page.press("#password", "Enter"));
  await submit(page, () => page.click("#programme-link"));
  check("the console links to the programme settings", page.url().endsWith("/staff/programme"), page.url());
  await audit(page, "programme-01-settings");

  // --- change a setting, by keyboard -----------------------------------------------------------
  await page.focus("#validity_days");
  await page.keyboard.press("Control+A");
  await page.keyboard.type("400");
  await submit(page, () => page.keyboard.press("Enter"));
  const settingsTx = await transactionShown(page);
  check("a changed setting shows its transaction linked to the explorer", settingsTx, settingsTx);
  check("the form shows the new value", (await page.inputValue("#validity_days")) === "400");
  await audit(page, "programme-02-settings-changed");

  await page.fill("#validity_days", "0");
  await submit(page, () => page.click("form[action='/staff/programme/settings'] button[type=submit]"));
  const refused = await errorFor(page, "validity_days");
  check("a setting the ledger refuses is explained beside its field",
    refused && refused.linked && refused.text.includes("1～3660日"), JSON.stringify(refused));
  await audit(page, "programme-03-settings-refused");

  // --- allow a use for a business ---------------------------------------------------------------
  await submit(page, () => page.getByRole("link", { name: "事業者と利用用途" }).click());
  await audit(page, "programme-04-businesses");
  const box = page.locator(`#use-${MUSEUM}-${NEW_USE}`);
  const wasChecked = await box.isChecked();
  await box.check();
  await submit(page, () => page.locator(`#acceptance-${MUSEUM} button`).click());
  check("allowing a use shows its transaction", await transactionShown(page));
  check("the business's new use stays ticked after saving",
    !wasChecked && (await page.locator(`#use-${MUSEUM}-${NEW_USE}`).isChecked()), `before: ${wasChecked}`);
  await audit(page, "programme-05-business-saved");

  // --- open an event account: first with the end before the start -----------------------------
  await submit(page, () => page.getByRole("link", { name: "イベント口座" }).click());
  await page.fill("#starts_at", EVENT_END);
  await page.fill("#ends_at", EVENT_START);
  await page.check("#event-use-local-store");
  await submit(page, () => page.getByRole("button", { name: "イベント口座を開設する" }).click());
  const backwards = await errorFor(page, "ends_at");
  check("an end before the start is refused in plain words beside the end",
    backwards && backwards.linked && backwards.text.includes("終了日時は開始日時より後"), JSON.stringify(backwards));
  await audit(page, "programme-06-event-refused");
  await page.fill("#starts_at", EVENT_START);
  await page.fill("#ends_at", EVENT_END);
  await submit(page, () => page.getByRole("button", { name: "イベント口座を開設する" }).click());
  const opened = await page.locator("#write-result").innerText().catch(() => "");
  check("the event account opens and is listed",
    /イベント口座 \d+ を開設しました/.test(opened) && (await page.locator("#event-accounts tbody tr").count()) > 0, opened);
  await audit(page, "programme-07-event-opened");

  // --- register a terminal ---------------------------------------------------------------------
  await submit(page, () => page.getByRole("link", { name: "端末", exact: true }).click());
  await page.fill("#address", TERMINAL_ADDRESS);
  await page.selectOption("#kind", "voucher-issue");
  await submit(page, () => page.getByRole("button", { name: "端末を登録する" }).click());
  const terminalTx = await transactionShown(page);
  const listed = await page.locator("#terminals tbody").innerText();
  check("a registered terminal is listed with its kind",
    terminalTx && listed.includes(TERMINAL_ADDRESS) && listed.includes("ポイント券発行端末"), listed);
  await audit(page, "programme-08-terminal-registered");
  await submit(page, () => page.click("#write-transaction"));
  check("the transaction link opens the explorer's transaction page",
    page.url().includes("/explorer/transactions/0x") && (await page.locator("h1").innerText()).length > 0, page.url());

  // --- the English switch ----------------------------------------------------------------------
  await page.goto(`${base}/staff/programme`);
  await submit(page, () => page.getByRole("link", { name: "English" }).click());
  check("the English switch turns the page into English",
    (await page.locator("h1").innerText()).startsWith("Programme settings"));
  await audit(page, "programme-09-settings-english");
});
