// The registration card step in Debian's headless Chromium, through the card helper on this PC.
// Usage: node card_helper.mjs BASE_URL HELPER_URL ARTIFACT_DIR USER_DATA_DIR CARD_PIN
// Prints one JSON object: {checks: [{name, ok, detail}], audits: [{page, violations}], error}.
// Every screen is screenshotted and checked with axe-core (WCAG 2.x A/AA rules).
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const [base, helperUrl, artifacts, userDataDir, cardPin] = process.argv.slice(2);
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
} catch (caught) {
  error = String(caught && caught.stack ? caught.stack : caught);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify({ checks, audits, error }));
