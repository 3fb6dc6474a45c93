// Drives the medcmdb board in headless Chromium during the demo's ED outage: sign in,
// read the NOC board (care areas with their unknown column, areas with an open P1/P2),
// open the root incident and what it took down, read the incident queue with and
// without suppressed incidents, acknowledge an incident through the UI, measure the
// asset page's columns, and run a query in the GraphQL explorer without signing in
// again. Prints a JSON summary for browser_test.go, which checks it against GraphQL;
// screenshots go to the given directory.
// Usage: node board.mjs BASE_URL TOKEN SCREENSHOT_DIR
import { chromium } from 'playwright-core';

const [base, token, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const VIEWPORT = { width: 1600, height: 1000 };
const GREEN = 'rgb(46, 189, 107)'; // --ok in board.css
const out = { errors: [] };
// Locators and boundingBox, never waitForFunction: the board's CSP forbids eval, as it
// should (locator.evaluate runs through the DevTools protocol, outside the page's CSP).
const texts = async (loc) => (await loc.allTextContents()).map((s) => s.trim());
let page;
try {
  page = await browser.newPage({ viewport: VIEWPORT });
  page.setDefaultTimeout(30000);
  page.on('pageerror', (e) => out.errors.push('pageerror: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') out.errors.push('console: ' + m.text()); });

  // Sign in and wait for the ED outage: its root incident on the board, with what it
  // took down.
  await page.goto(base + '/');
  await page.fill('#token-input', token);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('[data-testid=status-OPERATIONAL]');
  // The ED switch's row: a root with devices behind it (on the board before this
  // change too, as "root cause of N suppressed incident(s)").
  const rootRow = page.locator('[data-testid=incident-table] tr[data-incident]:has(.root)').filter({ hasText: 'NETWORK_SWITCH' }).first();
  await rootRow.waitFor({ timeout: 120000 });
  // The cards, the care areas and the queue come from one query: what follows reads
  // the render that showed the root.
  let devices = 0;
  for (const s of ['OPERATIONAL', 'DEGRADED', 'DOWN', 'UNKNOWN', 'MAINTENANCE']) {
    devices += Number(await page.textContent(`[data-testid=status-${s}] .n`));
  }
  out.devices = devices;
  out.unknownCard = Number(await page.textContent('[data-testid=status-UNKNOWN] .n'));

  // Health by care area: its columns, each area's unknown count, and which areas are
  // drawn green. Selectors that hold on the board before this change too, so the
  // checks can fail there.
  const areaTable = page.locator('section:has(h2:text-is("Health by care area")) table');
  out.areaHeaders = await texts(areaTable.locator('thead th'));
  const unknownCol = out.areaHeaders.findIndex((h) => /unknown/i.test(h));
  out.areas = [];
  for (const row of await areaTable.locator('tbody tr').all()) {
    const cells = await texts(row.locator('td'));
    // Green anywhere in the row: a cell's or a bar segment's background (a zero-width
    // segment draws nothing).
    const green = await row.evaluate((tr, green) => [...tr.querySelectorAll('*')].some((e) =>
      getComputedStyle(e).backgroundColor === green && e.getBoundingClientRect().width > 0), GREEN);
    out.areas.push({ name: cells[0], unknown: unknownCol >= 0 ? Number(cells[unknownCol]) : null, green });
  }
  await page.screenshot({ path: `${shots}/board-noc.png` });

  // The root incident page: the devices it took down, with links to them.
  out.rootIncident = await rootRow.getAttribute('data-incident');
  await rootRow.click();
  await page.waitForSelector('h1 ~ .actions');
  const impacted = page.locator('[data-testid=impacted-devices] tbody tr');
  await impacted.first().waitFor({ timeout: 15000 }).catch(() => {});
  out.rootCounts = (await page.locator('[data-testid=root-counts]').textContent().catch(() => '')) || '';
  out.impacted = [];
  for (const row of await impacted.all()) {
    const cells = await texts(row.locator('td'));
    const href = await row.locator('a').first().getAttribute('href');
    out.impacted.push({ name: cells[0], class: cells[1], unit: cells[2], careArea: cells[3], patient: cells[4], href });
  }
  await page.screenshot({ path: `${shots}/board-root-incident.png` });
  if (out.impacted.length) {
    // A link leads to the device's asset page.
    await impacted.first().locator('a').first().click();
    await page.waitForSelector('[data-testid=history] li');
    out.impactedLinkTitle = (await page.textContent('h1')).trim();
  }

  // The incident queue: actionable by default; the toggle shows the suppressed ones,
  // which carry no SLA countdown of their own.
  await page.goto(base + '/#/incidents');
  await page.waitForSelector('[data-testid=incident-table] tr[data-incident]');
  const queueRows = page.locator('[data-testid=incident-table] tbody tr');
  out.queueDefault = await queueRows.count();
  // A suppressed incident says so: "suppressed by INC…" (before this change:
  // "suppressed (upstream down)").
  out.queueDefaultSuppressed = await queueRows.filter({ hasText: /suppressed by INC|suppressed \(upstream down\)/ }).count();
  await page.screenshot({ path: `${shots}/incidents.png` });
  const toggle = page.locator('[data-testid=show-suppressed]');
  out.toggle = await toggle.count() > 0;
  if (out.toggle) {
    await toggle.check();
    await page.waitForSelector('[data-testid=incident-table] tr[data-suppressed=true]');
    const sup = page.locator('[data-testid=incident-table] tr[data-suppressed=true]');
    out.queueWithSuppressed = await queueRows.count();
    out.queueSuppressed = await sup.count();
    out.suppressedWithCountdown = await sup.locator('.countdown').count();
    out.suppressedSLAText = ((await sup.first().locator('[data-sla]').first().textContent()) || '').trim();
    await page.screenshot({ path: `${shots}/incidents-suppressed.png` });
  }

  // Acknowledge the first open incident through the UI.
  await page.goto(base + '/#/incidents?state=OPEN');
  const row = page.locator('[data-testid=incident-table] tr[data-incident]').first();
  out.acknowledged = await row.getAttribute('data-incident');
  await row.click();
  await page.fill('textarea[aria-label=note]', 'on my way (browser test)');
  await page.click('button[data-action=acknowledge]');
  await page.waitForSelector('h1 ~ .actions .badge.ACKNOWLEDGED');
  await page.screenshot({ path: `${shots}/incident.png`, fullPage: true });

  // An asset page with its history; its Relationships tables stay in their column.
  await page.goto(base + '/#/assets?q=vent');
  await page.locator('tr[data-asset]').first().click();
  await page.waitForSelector('[data-testid=history] li');
  out.historyEntries = await page.locator('[data-testid=history] li').count();
  out.assetTitle = (await page.textContent('h1')).trim();
  const history = await page.locator('section:has(> ul[data-testid=history])').boundingBox();
  out.relTables = 0;
  out.relOverlapPx = 0;
  for (const t of await page.locator('table.rels').all()) {
    const b = await t.boundingBox();
    out.relTables++;
    out.relOverlapPx = Math.max(out.relOverlapPx, b.x + b.width - history.x);
  }
  await page.screenshot({ path: `${shots}/board-asset.png`, fullPage: true });

  // The problems page loads (the demo's recurring failures may or may not have made one yet).
  await page.goto(base + '/#/problems');
  await page.locator('[data-testid=problems], main p:text-is("No problems.")').first().waitFor();
  out.problemsPage = (await page.textContent('h1')) === 'Problems';

  // The GraphQL explorer, same browser: signed in by the board, no token asked again,
  // and a query pane wide enough to write in.
  await page.goto(base + '/graphql');
  out.explorerTokenField = await page.locator('#token').isVisible();
  await page.click('#run');
  await page.locator('#result:has-text("totalCount")').waitFor();
  out.explorer = JSON.parse(await page.textContent('#result')).data.assets.totalCount;
  // Measured with a result shown: long result lines must not squeeze the query pane.
  const q = await page.locator('#query').boundingBox();
  out.explorerQueryWidth = q.width / VIEWPORT.width;
  await page.screenshot({ path: `${shots}/explorer.png` });
} catch (e) {
  out.failure = String(e && e.stack || e);
  if (page) await page.screenshot({ path: `${shots}/failure.png`, fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
