// Every screen (issue 15, items 4, 7, 8): each role's main journey at 1440 px and 390 px
// with no sideways page scroll on the phone and the admin's header on one row on the wide
// screen; a live event page that refreshes its figures (fetching them alone) without losing
// a reason being typed, at both sizes;
// and axe-core on the main pages with no serious or critical violations.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { clickAndWait, login, pathOf, startServer, withBrowser } from './helpers.mjs';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');

const WIDE = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };

let server;
before(async () => { server = await startServer(['--simulated-clock']); });
after(async () => { await server?.stop(); });

/** Each role's main journey: the pages it opens most. `:event` is a demo event's page. */
const JOURNEYS = {
  operator: ['/home', '/events', ':event', '/strategies', '/forecast?node=1'],
  approver: ['/home', '/events', ':event'],
  manager: ['/home', '/enrollments', '/enrollments/1', '/devices', '/programs'],
  auditor: ['/home', ':event', '/audit', '/reports', ':report', '/monitor'],
  admin: ['/home', '/admin/users', '/monitor', '/audit'],
};

let eventPath;
let reportPath;

/** A completed demo event's page and report. */
async function demoEvent(page) {
  await page.goto('/events?status=Completed');
  const href = await page.locator('table#events tbody tr a').first().getAttribute('href');
  return href;
}

async function resolve(page, path) {
  if (path === ':event') return eventPath;
  if (path === ':report') return reportPath;
  return path;
}

/** How far the page scrolls sideways (0 when it fits). */
async function sidewaysScroll(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

for (const [who, paths] of Object.entries(JOURNEYS)) {
  for (const [size, viewport] of [['1440 px', WIDE], ['390 px', PHONE]]) {
    test(`${who}'s main pages at ${size}`, async () => {
      await withBrowser(server.baseURL, async ({ page }) => {
        await login(page, who);
        if (!eventPath) {
          eventPath = await demoEvent(page).catch(() => null);
          if (eventPath) reportPath = eventPath.replace('/events/', '/reports/events/');
        }
        for (const raw of paths) {
          const path = await resolve(page, raw);
          if (!path) continue;
          const res = await page.goto(path);
          assert.equal(res.status(), 200, `${who} opens ${path}`);
          if (viewport === PHONE) {
            assert.ok(await sidewaysScroll(page) <= 0, `${who} ${path}: no sideways scroll at 390 px (${await sidewaysScroll(page)} px)`);
            const header = await page.locator('header.topbar').boundingBox();
            assert.ok(header.height <= 130, `${who} ${path}: the header collapses (${header.height} px)`);
          } else {
            const header = await page.locator('header.topbar').boundingBox();
            assert.ok(header.height <= 64, `${who} ${path}: the header keeps one row at 1440 px (${header.height} px)`);
            assert.ok(await sidewaysScroll(page) <= 0, `${who} ${path}: no sideways scroll at 1440 px`);
          }
        }
      }, { viewport });
    });
  }
}

for (const [size, viewport] of [['1440 px', WIDE], ['390 px', PHONE]]) {
  test(`a live event refreshes its figures and keeps the cancel reason being typed at ${size}`, async () => {
    // The operator creates, plans and submits; the approver approves: the event is scheduled (live).
    let path;
    await withBrowser(server.baseURL, async ({ page }) => {
      await login(page, 'operator');
      await page.goto('/events');
      await page.locator('details:has(form#event-form) > summary').click();
      const form = page.locator('form#event-form');
      const option = form.locator('select[name="event[strategy_id]"] option', { hasText: 'System emergency' });
      await form.locator('select[name="event[strategy_id]"]').selectOption(await option.getAttribute('value'));
      await form.locator('input[name="event[name]"]').fill(`Live refresh at ${size}`);
      await clickAndWait(page, form.locator('button[type=submit]'));
      path = pathOf(page);
      assert.match(path, /^\/events\/\d+$/);
      await clickAndWait(page, page.locator('form#event-plan button[type=submit]'));
      await clickAndWait(page, page.locator('form#event-submit button[type=submit]'));
    });
    await withBrowser(server.baseURL, async ({ page }) => {
      await login(page, 'approver');
      // The script asks for the figures alone, never for the whole page again.
      const fetched = [];
      page.on('request', (r) => { if (r.resourceType() === 'fetch') fetched.push(new URL(r.url()).pathname); });
      await page.goto(path);
      await clickAndWait(page, page.locator('form#event-approve button[type=submit]'));
      assert.match(await page.locator('h1').innerText(), /Scheduled/);
      // No meta refresh; the figures block says when it was drawn.
      assert.equal(await page.locator('meta[http-equiv="refresh"]').count(), 0);
      const before = await page.locator('#figures-as-of').innerText();
      const reason = page.locator('form#event-cancel input[name=reason]');
      await reason.click();
      await reason.pressSequentially('Feeder work moved to tomorrow', { delay: 20 });
      // Past one refresh (every 15 s): the figures change, the typed text stays.
      await page.waitForFunction(
        (old) => document.getElementById('figures-as-of')?.textContent.trim() !== old.trim(),
        before,
        { timeout: 40_000, polling: 500 },
      );
      const afterText = await page.locator('#figures-as-of').innerText();
      assert.notEqual(afterText, before, 'the figures were refreshed');
      assert.equal(await reason.inputValue(), 'Feeder work moved to tomorrow', 'the reason survives the refresh');
      assert.equal(await page.locator('#event-chart svg').count(), 1, 'the chart is back after the swap');
      assert.equal(pathOf(page), path, 'no navigation happened');
      assert.ok(fetched.length >= 1 && fetched.every((p) => p === `${path}/live`), `fetched ${fetched.join(', ')}`);
      if (viewport === PHONE) assert.ok(await sidewaysScroll(page) <= 0, 'no sideways scroll after the swap');
    }, { javaScript: true, viewport });
  });
}

test('without JavaScript the live page offers a manual refresh and no meta refresh', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'operator');
    await page.goto('/events?status=Scheduled');
    const href = await page.locator('table#events tbody tr a').first().getAttribute('href');
    await page.goto(href);
    assert.equal(await page.locator('meta[http-equiv="refresh"]').count(), 0);
    await clickAndWait(page, page.locator('a#refresh-figures'));
    assert.equal(pathOf(page), href);
  });
});

/** Pages the accessibility check visits, with the role that opens them. */
const AXE_PAGES = [
  ['operator', '/home'],
  ['operator', '/events'],
  ['operator', ':event'],
  ['manager', '/enrollments'],
  ['manager', '/enrollments/1'],
  ['auditor', '/audit'],
  ['auditor', ':report'],
  ['admin', '/monitor'],
  ['admin', '/admin/users'],
];

test('axe-core finds no serious or critical violations on the main pages', async () => {
  const found = [];
  const byRole = new Map();
  for (const [who, path] of AXE_PAGES) {
    if (!byRole.has(who)) byRole.set(who, []);
    byRole.get(who).push(path);
  }
  for (const [who, paths] of byRole) {
    await withBrowser(server.baseURL, async ({ page }) => {
      await login(page, who);
      for (const raw of paths) {
        const path = await resolve(page, raw);
        if (!path) continue;
        await page.goto(path);
        await page.addScriptTag({ path: AXE });
        const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
        for (const v of result.violations) {
          if (v.impact === 'serious' || v.impact === 'critical') {
            found.push(`${path}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
          }
        }
      }
    }, { javaScript: true, bypassCSP: true, viewport: WIDE });
  }
  assert.deepEqual(found, [], found.join('\n'));
});
