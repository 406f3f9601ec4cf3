// Drives Debian's headless Chromium through the pages as a person would, with playwright-core.
// Usage: node journey.mjs BASE_URL ARTIFACT_DIR CSV_PATH USER_DATA_DIR
// The report it prints, the screenshots and the axe-core audits come from harness.mjs.
import path from "node:path";
import { check, audit, errorFor, submit, runInBrowser } from "./harness.mjs";

const [base, artifacts, csvPath, userDataDir] = process.argv.slice(2);

await runInBrowser(artifacts, userDataDir, async (browser, page) => {
  // --- a new resident registers through every screen-16 rule -------------------------------
  await page.goto(`${base}/my/register`);
  await audit(page, "01-register-card");
  await page.keyboard.press("Tab");
  check("skip link is the first thing the keyboard reaches",
    (await page.evaluate(() => document.activeElement.className)) === "skip-link");
  await page.fill("#pin", "0000");
  await submit(page, () => page.getByRole("button", { name: "仮想カードで認証する" }).click());
  const pinError = await errorFor(page, "pin");
  check("a wrong PIN shows the tries left beside the field", pinError && pinError.linked && pinError.text.includes("残り2回"), JSON.stringify(pinError));
  await audit(page, "02-register-card-wrong-pin");
  await page.fill("#pin", "1234");
  await submit(page, () => page.getByRole("button", { name: "仮想カードで認証する" }).click());
  check("the right PIN opens step 2", (await page.locator("h1 + p.lead").innerText()).includes("手順2／2"));

  await submit(page, () => page.click("button[value=generate]"));
  const generated = await page.inputValue("#candidate");
  check("auto-generate fills an 8-character candidate", /^[A-Z0-9]{8}$/.test(generated), generated);
  check("two auto-generations are left", (await page.locator("#generations-left").innerText()) === "2");

  await page.fill("#candidate", "DEMOA001");
  await submit(page, () => page.click("button[value=check]"));
  const taken = await errorFor(page, "candidate");
  check("a taken candidate is a linked error", taken && taken.linked && taken.text.includes("既に他の人に使用されています"), JSON.stringify(taken));
  await page.fill("#candidate", "DEMOB002");
  await submit(page, () => page.click("button[value=check]"));
  await page.fill("#candidate", "DEMOC003");
  await submit(page, () => page.click("button[value=check]"));
  const afterThree = await page.inputValue("#candidate");
  check("the 3rd duplicate error shows a generated candidate",
    (await page.content()).includes("重複エラーが3回となったため") && /^[A-Z0-9]{8}$/.test(afterThree) && afterThree !== "DEMOC003", afterThree);

  await page.fill("#candidate", "HANAKO01");
  await submit(page, () => page.click("button[value=check]"));
  check("a free own candidate passes the duplicate check", (await page.content()).includes("このマイキーID候補は使用できます。"));

  const pasteRefused = await page.evaluate(() => {
    const field = document.getElementById("password_confirmation");
    const event = new ClipboardEvent("paste", { cancelable: true, bubbles: true, clipboardData: new DataTransfer() });
    field.dispatchEvent(event);
    return event.defaultPrevented;
  });
  check("pasting into the password confirmation is refused", pasteRefused);

  await page.fill("#password", "abc");
  await page.fill("#password_confirmation", "abd");
  await page.fill("#email", "hanako@example.jp");
  await page.fill("#email_confirmation", "hanako@example.com");
  await submit(page, () => page.click("form button[value=complete]:not(.visually-hidden)"));
  const wrong = {};
  for (const field of ["password", "password_confirmation", "email_confirmation", "prefecture_code", "municipality_code"]) {
    wrong[field] = await errorFor(page, field);
  }
  check("every wrong field has its own linked message",
    Object.values(wrong).every((item) => item && item.linked), JSON.stringify(wrong));
  check("the error summary comes first and links to the fields",
    (await page.locator("#error-summary a[href='#password']").count()) === 1);
  await audit(page, "03-register-form-errors");

  await page.fill("#password", "Hanako123");
  await page.type("#password_confirmation", "Hanako123");
  await page.fill("#email_confirmation", "");
  await page.type("#email_confirmation", "hanako@example.jp");
  await page.selectOption("#prefecture_code", "14");
  await page.selectOption("#municipality_code", "14130");
  await submit(page, () => page.click("form button[value=complete]:not(.visually-hidden)"));
  const registered = await page.locator("#registered-id").innerText();
  check("registration completes with the checked candidate", registered === "HANAKO01", registered);
  await audit(page, "04-register-done");

  // --- staff grant a CSV batch and see a result per line ----------------------------------
  await page.goto(`${base}/staff/login`);
  await audit(page, "04b-staff-login");
  await page.fill("#login_name", "kawasaki.staff");
  await page.fill("#password", "kawasaki staff passphrase");
  await submit(page, () => page.press("#password", "Enter"));
  await page.setInputFiles("#csv_file", csvPath);
  await submit(page, () => page.getByRole("button", { name: "一括付与する" }).click());
  const results = await page.locator("#batch-results tbody tr").evaluateAll((rows) =>
    rows.map((row) => Array.from(row.querySelectorAll("td")).map((cell) => cell.innerText.trim())));
  check("the batch shows one row per CSV line with its outcome",
    results.length === 3 && results[0][4] === "付与しました" && results[1][4] === "付与できません" && results[2][4] === "付与できません",
    JSON.stringify(results));
  check("the daily chart is drawn", (await page.locator("svg#granted-per-day").count()) === 1);
  await audit(page, "05-staff-batch-results");
  await submit(page, () => page.getByRole("button", { name: "ログアウト" }).click());

  // --- the resident logs in and sees My Page ----------------------------------------------
  await page.goto(`${base}/my/login`);
  await page.fill("#mykey_id", "HANAKO01");
  await page.fill("#password", "Hanako123");
  await submit(page, () => page.press("#password", "Enter"));
  check("login opens My Page with the MyKey ID", (await page.locator("#my-mykey-id").innerText()) === "HANAKO01");
  const balances = await page.locator("#balances tbody tr").evaluateAll((rows) =>
    rows.map((row) => Array.from(row.querySelectorAll("td")).map((cell) => cell.innerText.trim())));
  check("My Page shows the granted points per municipality and account",
    JSON.stringify(balances) === JSON.stringify([["川崎市", "通常口座", "200"]]), JSON.stringify(balances));
  await audit(page, "06-my-page");
  check("the reserved points are listed with their deadline",
    (await page.locator("section.card h4").first().innerText()).startsWith("500 ポイント（受け取り期限"));
  const placeForm = page.locator("form[action^='/my/reserves/']").first();
  await placeForm.locator("select").selectOption("13116");
  await placeForm.locator("input[name=pin]").fill("1234");
  await submit(page, () => placeForm.getByRole("button", { name: "この自治体で受け取る" }).click());
  const afterPlacing = await page.locator("#balances tbody tr").evaluateAll((rows) =>
    rows.map((row) => Array.from(row.querySelectorAll("td")).map((cell) => cell.innerText.trim())));
  check("placing the reserve puts the points in the chosen municipality",
    JSON.stringify(afterPlacing) === JSON.stringify([["豊島区", "通常口座", "500"], ["川崎市", "通常口座", "200"]]) ||
    JSON.stringify(afterPlacing) === JSON.stringify([["川崎市", "通常口座", "200"], ["豊島区", "通常口座", "500"]]),
    JSON.stringify(afterPlacing));
  await audit(page, "06b-my-page-placed");
  await page.goto(`${base}/my?lang=en`);
  check("the English switch works", (await page.locator("h1").innerText()) === "My Page");
  await audit(page, "07-my-page-english");
  await page.goto(`${base}/my?lang=ja`);

  await submit(page, () => page.getByRole("button", { name: "ログアウト" }).click());

  // --- a treasurer closes the period and downloads the statement CSV ----------------------
  await page.goto(`${base}/staff/login`);
  await page.fill("#login_name", "kawasaki.treasurer");
  await page.fill("#password", "kawasaki staff passphrase");
  await submit(page, () => page.press("#password", "Enter"));
  await submit(page, () => page.getByRole("link", { name: /精算/ }).click());
  const period = Number(await page.inputValue("#period"));
  check("the statement matches the Settlement contract", (await page.locator("#matches-chain").innerText()).includes("一致しています"));
  await audit(page, "08-treasury-statement");
  await submit(page, () => page.getByRole("button", { name: /を締める/ }).click());
  check("closing the period is confirmed", (await page.content()).includes("精算期間を締めました。"));
  await audit(page, "08b-treasury-closed");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-csv")]);
  const saved = path.join(artifacts, `statement-${period}.csv`);
  await download.saveAs(saved);
  const csvText = (await import("node:fs")).readFileSync(saved, "utf8");
  check("the statement CSV downloads with its header", csvText.startsWith("municipality,period,side,counterparty"), csvText.slice(0, 80));
  await page.goto(`${base}/staff/treasury`);
  check("a new period is open after closing", Number(await page.inputValue("#period")) === period + 1);
  await submit(page, () => page.getByRole("button", { name: "ログアウト" }).click());

  // --- the explorer shows blocks, decoded events, and updates without reloading ----------
  await page.goto(`${base}/explorer`);
  await audit(page, "09-explorer");
  const firstTop = Number(await page.locator("#latest-blocks tbody tr:first-child td:first-child").innerText());
  const navigations = await page.evaluate(() => performance.getEntriesByType("navigation").length);
  let newTop = firstTop;
  for (let i = 0; i < 40 && newTop <= firstTop; i += 1) {
    await page.waitForTimeout(250);
    newTop = Number(await page.locator("#latest-blocks tbody tr:first-child td:first-child").innerText());
  }
  check("new blocks appear without a reload",
    newTop > firstTop && (await page.evaluate(() => performance.getEntriesByType("navigation").length)) === navigations,
    `${firstTop} -> ${newTop}`);
  await page.fill("#q", "14130");
  await submit(page, () => page.press("#q", "Enter"));
  const firstEvent = await page.locator("#municipality-events tbody tr:first-child td:nth-child(2)").innerText();
  check("searching a municipality lists its decoded events", firstEvent.includes("川崎市"), firstEvent);
  await audit(page, "10-explorer-municipality");
  await page.goto(`${base}/explorer/transactions/${process.env.GRANT_TRANSACTION}`);
  const events = await page.locator("#events li").allInnerTexts();
  check("a transaction's point events read as words",
    events.some((text) => /^川崎市が DEMOA001 に [0-9,]+ ポイント付与（.+）$/.test(text)), JSON.stringify(events));
  await audit(page, "11-explorer-transaction");
  await page.goto(`${base}/explorer/validators`);
  await audit(page, "12-explorer-validators");
});
