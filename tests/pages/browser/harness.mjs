// What every browser script here shares: Debian's headless Chromium launched by playwright-core,
// the check and audit records, and the report printed at the end.
// A script calls runInBrowser(ARTIFACT_DIR, USER_DATA_DIR, async (browser, page) => {...}) once;
// inside, check() records a named expectation and audit() screenshots the page into ARTIFACT_DIR
// and runs axe-core on it (WCAG 2.x A/AA rules).
// Invariant: the script prints exactly one JSON object, {checks: [{name, ok, detail}],
// audits: [{page, url, violations}], error}, even when a step throws (error then holds the stack),
// so the Python side (tests/pages/browser_run.py) always has a report to read.
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];
const checks = [];
const audits = [];
let artifacts = null;

export function check(name, ok, detail = "") {
  checks.push({ name, ok: Boolean(ok), detail: String(detail) });
}

export async function audit(page, label) {
  await page.screenshot({ path: path.join(artifacts, `${label}.png`), fullPage: true });
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(
    // eslint-disable-next-line no-undef
    async (tags) => axe.run(document, { runOnly: { type: "tag", values: tags } }),
    WCAG_TAGS,
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

// The error shown beside a form field, and whether the field points at it (aria-describedby, aria-invalid).
export async function errorFor(page, field) {
  const error = page.locator(`#${field}-error`);
  if ((await error.count()) === 0) return null;
  const describedBy = await page.locator(`#${field}`).getAttribute("aria-describedby");
  const invalid = await page.locator(`#${field}`).getAttribute("aria-invalid");
  return { text: await error.innerText(), linked: (describedBy || "").includes(`${field}-error`) && invalid === "true" };
}

// Click something that submits a form (or press Enter in a field) and wait for the new page.
export async function submit(page, action) {
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), action()]);
}

export async function runInBrowser(artifactDir, userDataDir, journey) {
  artifacts = artifactDir;
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
    await journey(browser, page);
  } catch (caught) {
    error = String(caught && caught.stack ? caught.stack : caught);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify({ checks, audits, error }));
}
