// The registration card step in Debian's headless Chromium, through the card helper on this PC.
// Usage: node card_helper.mjs BASE_URL HELPER_URL ARTIFACT_DIR USER_DATA_DIR CARD_PIN
// The report it prints, the screenshots and the axe-core audits come from harness.mjs.
import { check, audit, runInBrowser } from "./harness.mjs";

const [base, helperUrl, artifacts, userDataDir, cardPin] = process.argv.slice(2);

async function statusText(page) {
  return page.locator("#card-helper-status").innerText();
}

async function pinError(page) {
  const error = page.locator("#helper-pin-error");
  await error.waitFor({ state: "visible", timeout: 20000 });
  const describedBy = (await page.locator("#helper-pin").getAttribute("aria-describedby")) || "";
  const invalid = await page.locator("#helper-pin").getAttribute("aria-invalid");
  const live = await page.locator("#helper-pin-error-slot").getAttribute("aria-live");
  return {
    text: await error.innerText(),
    linked: describedBy.includes("helper-pin-error") && invalid === "true" && live === "assertive",
  };
}

await runInBrowser(artifacts, userDataDir, async (browser, page) => {
  const sentToServer = [];
  page.on("request", (request) => {
    if (request.url().startsWith(base)) sentToServer.push(request.postData() || "");
  });
  const button = () => page.getByRole("button", { name: "カードリーダーで認証する" });

  // --- the helper is running and the card is on the reader ----------------------------------
  await page.goto(`${base}/my/register`);
  await page.waitForFunction(
    () => document.getElementById("card-helper-status").textContent.includes("準備ができました"),
    null, { timeout: 20000 });
  check("the page finds the helper, the reader and the card", true, await statusText(page));
  const field = page.getByLabel("利用者証明用電子証明書の暗証番号（4ケタの数字）");
  check("the PIN field is a labelled password field for 4 digits",
    (await field.getAttribute("type")) === "password" && (await field.getAttribute("inputmode")) === "numeric"
      && (await field.getAttribute("maxlength")) === "4");
  await audit(page, "card-helper-01-ready");

  // --- the statement is bound to this page; the helper signs nothing else ---------------------
  const probe = await page.evaluate(async ([helper, cardPin]) => {
    const b64url = (text) => btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const issued = await (await fetch("/registrations/card-challenges", { method: "POST" })).json();
    const padded = issued.challenge.replace(/-/g, "+").replace(/_/g, "/");
    const statement = atob(padded + "=".repeat((4 - (padded.length % 4)) % 4));
    const ask = async (challenge) => {
      const response = await fetch(`${helper}/v1/authentications`, {
        method: "POST", mode: "cors", credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ challenge, pin: cardPin }),
      });
      return (await response.json()).code;
    };
    const lookup = b64url(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => i + 100)));
    const notForThisPage = b64url(statement.replace(/\norigin=[^\n]*/, "\norigin=-"));
    return { statement, lookup: await ask(lookup), other: await ask(notForThisPage) };
  }, [helperUrl, cardPin]);
  check("the server's statement names this page's origin",
    probe.statement.startsWith("mykey-ledger/registration/v1\n") && probe.statement.includes(`\norigin=${base}\n`),
    probe.statement.replace(/challenge=[^\n]*/, "challenge=..."));
  check("the helper refuses a lookup challenge and a statement for no page, from this page",
    probe.lookup === "malformed-challenge" && probe.other === "origin-mismatch", JSON.stringify(probe.lookup + " " + probe.other));

  // --- a malformed PIN never leaves the page ----------------------------------------------------
  await field.fill("12");
  await button().click();
  const malformed = await pinError(page);
  check("a PIN that is not 4 digits is refused on the page", malformed.linked && malformed.text.includes("4ケタ"), JSON.stringify(malformed));

  // --- a wrong PIN: the card counts down, the page says how many tries are left -----------------
  await field.fill("0000");
  await button().click();
  await page.waitForFunction(
    () => (document.getElementById("helper-pin-error") || { textContent: "" }).textContent.includes("残り"),
    null, { timeout: 20000 });
  const wrong = await pinError(page);
  check("a wrong PIN shows the tries left beside the field", wrong.linked && wrong.text.includes("残り2回"), JSON.stringify(wrong));
  check("the PIN field is emptied after each try", (await field.inputValue()) === "");
  check("focus returns to the PIN field", await page.evaluate(() => document.activeElement.id === "helper-pin"));
  await audit(page, "card-helper-02-wrong-pin");

  // --- the right PIN: the card signs, the server verifies, step 2 opens -----------------------
  await field.fill(cardPin);
  await Promise.all([page.waitForNavigation({ waitUntil: "load", timeout: 30000 }), button().click()]);
  await page.waitForSelector("h1 + p.lead");
  const lead = await page.locator("h1 + p.lead").innerText();
  check("the right PIN opens step 2", lead.includes("手順2／2"), lead);
  check("the PIN never went to the server",
    sentToServer.length >= 3 && sentToServer.every((body) => !body.includes('"pin"') && !/(^|&)pin=/.test(body)),
    JSON.stringify(sentToServer.map((body) => body.slice(0, 40))));
  check("the card's answer was posted to the card-answer path",
    sentToServer.some((body) => body.includes("challenge_id=") && body.includes("signature=")));
  await audit(page, "card-helper-03-step-2");

  // --- without the helper the page says how to start it (English this time) ------------------
  await browser.clearCookies();
  await page.route(`${helperUrl}/**`, (route) => route.abort("connectionrefused"));
  await page.goto(`${base}/my/register?lang=en`);
  await page.waitForFunction(
    () => document.getElementById("card-helper-status").textContent.includes("not running"),
    null, { timeout: 20000 });
  const status = await statusText(page);
  check("an unreachable helper is explained", status.includes("Start it as shown below"), status);
  const command = await page.locator("code").innerText();
  check("the page shows the command with this site's origin", command === `mykey card helper --allow-origin ${base}`, command);
  await page.getByLabel("User authentication PIN (4 digits)").fill(cardPin);
  await page.getByRole("button", { name: "Authenticate with the card reader" }).click();
  const unreachable = await pinError(page);
  check("trying anyway says the helper is not running", unreachable.text.includes("not running"), JSON.stringify(unreachable));
  await audit(page, "card-helper-04-not-running");
});
