// Drives the medcmdb board in headless Chromium: sign in, read the NOC board,
// acknowledge an incident through the UI, open an asset's history, and run a query in
// the GraphQL explorer. Prints a JSON summary; screenshots go to the given directory.
// Usage: node board.mjs BASE_URL TOKEN SCREENSHOT_DIR
import { chromium } from 'playwright-core';

const [base, token, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const out = { errors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.setDefaultTimeout(30000);
  page.on('pageerror', (e) => out.errors.push('pageerror: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') out.errors.push('console: ' + m.text()); });

  // Sign in and read the NOC board.
  await page.goto(base + '/');
  await page.fill('#token-input', token);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('[data-testid=status-OPERATIONAL]');
  // The board refreshes itself: wait for an open incident to appear in the queue.
  await page.waitForSelector('[data-testid=incident-table] tr[data-incident]', { timeout: 90000 });
  let devices = 0;
  for (const s of ['OPERATIONAL', 'DEGRADED', 'DOWN', 'UNKNOWN', 'MAINTENANCE']) {
    devices += Number(await page.textContent(`[data-testid=status-${s}] .n`));
  }
  out.devices = devices;
  out.areas = await page.locator('section table tbody tr').count();
  await page.screenshot({ path: `${shots}/noc-board.png`, fullPage: true });

  // Acknowledge the first open incident through the UI.
  await page.goto(base + '/#/incidents?state=OPEN');
  const row = page.locator('[data-testid=incident-table] tr[data-incident]').first();
  out.acknowledged = await row.getAttribute('data-incident');
  await row.click();
  await page.fill('textarea[aria-label=note]', 'on my way (browser test)');
  await page.click('button[data-action=acknowledge]');
  await page.waitForSelector('h1 ~ .actions .badge.ACKNOWLEDGED');
  await page.screenshot({ path: `${shots}/incident.png`, fullPage: true });

  // An asset page with its history.
  await page.goto(base + '/#/assets?q=vent');
  await page.locator('tr[data-asset]').first().click();
  await page.waitForSelector('[data-testid=history] li');
  out.historyEntries = await page.locator('[data-testid=history] li').count();
  out.assetTitle = (await page.textContent('h1')).trim();
  await page.screenshot({ path: `${shots}/asset.png`, fullPage: true });

  // The problems page loads (the demo's recurring failures may or may not have made one yet).
  await page.goto(base + '/#/problems');
  // Locators, not waitForFunction: the board's CSP forbids eval, as it should.
  await page.locator('[data-testid=problems], main p:text-is("No problems.")').first().waitFor();
  out.problemsPage = (await page.textContent('h1')) === 'Problems';

  // The GraphQL explorer works in the browser.
  await page.goto(base + '/graphql');
  await page.fill('#token', token);
  await page.click('#run');
  await page.waitForFunction(() => document.getElementById('result').textContent.includes('totalCount'));
  out.explorer = JSON.parse(await page.textContent('#result')).data.assets.totalCount;
  await page.screenshot({ path: `${shots}/explorer.png` });
} catch (e) {
  out.failure = String(e && e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
