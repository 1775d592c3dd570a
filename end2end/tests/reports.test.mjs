// The auditor reconstructs a past event from the reports: the demo's completed event with
// its measured reduction and credits, the CSV download and the print layout; the program
// manager settles it again (nothing changes, and the page says so) and exports billing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { clickAndWait, login, pathOf, startServer, tableRows, withBrowser } from './helpers.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

function money(text) {
  return Number(text.replace(/[^0-9.\-]/g, ''));
}

test('the auditor opens a completed event report, sees measured reduction and credits, and downloads the CSV', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'auditor');
    await clickAndWait(page, page.locator('header.topbar nav a[href="/reports"]'));
    const events = await tableRows(page, 'table#report-events');
    assert.ok(events.length >= 1, 'the demo has completed events');
    await clickAndWait(page, page.locator('table#report-events tbody tr a').first());
    assert.match(pathOf(page), /^\/reports\/events\/\d+$/);
    const measured = await page.locator('#measured-reduction').innerText();
    assert.ok(parseFloat(measured.replace(/,/g, '')) > 0, `measured reduction ${measured}`);
    const credits = money(await page.locator('#credits-total').innerText());
    assert.ok(credits > 0, `credits ${credits}`);
    assert.equal(await page.locator('#report-chart svg').count(), 1, 'the measured-against-baseline chart');
    const lifecycle = await page.locator('#lifecycle').innerText();
    for (const step of ['event.submit', 'event.approve', 'event.complete']) {
      assert.ok(lifecycle.includes(step), `lifecycle shows ${step}`);
    }

    const href = await page.locator('a#download-csv').getAttribute('href');
    const res = await page.request.get(href);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type'], /text\/csv/);
    const lines = (await res.text()).trim().split('\n');
    assert.ok(lines.length > 1, 'one line per enrollment');
    assert.match(lines[0], /credit/);

    // The print layout leaves out navigation and buttons.
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('header.topbar').isVisible(), false, 'no navigation on paper');
    assert.equal(await page.locator('#event-report').isVisible(), true);
    await page.emulateMedia({ media: 'screen' });
  });
});

test('the program manager settles the event again and nothing changes; billing is exported', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'manager');
    await clickAndWait(page, page.locator('header.topbar nav a[href="/settlements"]'));
    const rows = await tableRows(page, 'table#settlement-events');
    assert.ok(rows.length >= 1);
    await clickAndWait(page, page.locator('table#settlement-events tbody tr a').first());
    const before = await page.locator('#settlement-credit').innerText();
    await clickAndWait(page, page.locator('form[id^="settle-"] button[type=submit]'));
    // Settling again replaces results: confirmed on a page of its own first.
    assert.equal(pathOf(page), '/confirm');
    await clickAndWait(page, page.locator('#confirm-button'));
    const flash = (await page.locator('.flash').allInnerTexts()).join(' ');
    assert.match(flash, /0 changed/, flash);
    assert.equal(await page.locator('#settlement-credit').innerText(), before, 'the same credit');
    const program = (await tableRows(page, 'table#settlement-results'))[0][0];
    await page.goto(`/settlements/programs/${program}`);
    const billing = await page.request.get(`/settlements/programs/${program}/billing.csv`);
    assert.equal(billing.status(), 200);
    assert.match(await billing.text(), /^account_id,program_code,season_start/);
  });
});
