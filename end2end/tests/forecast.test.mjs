// The forecast journey with JavaScript off: an operator picks a zone and sees its chart,
// a bad temperature upload is refused naming the line, a good one is stored; the reduction
// table is edited by the operator and only read by the program manager.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { clickAndWait, login, pathOf, startServer, withBrowser } from './helpers.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/** Hourly CSV for the next `hours` hours at `celsius`. */
function csv(hours, celsius) {
  const first = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  const lines = ['timestamp,temperature_c'];
  for (let h = 0; h < hours; h++) {
    lines.push(`${new Date(first + h * 3_600_000).toISOString().replace('.000Z', 'Z')},${celsius}`);
  }
  return lines.join('\n');
}

test('an operator picks a zone, sees its 48-hour chart and uploads a temperature forecast', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'operator');
    await clickAndWait(page, page.locator('header.topbar nav a[href="/forecast"]'));
    assert.equal(pathOf(page), '/forecast');
    assert.equal(await page.locator('#forecast-chart svg').count(), 0, 'no chart before a zone is chosen');

    await page.locator('form#zone-picker label', { hasText: 'FDR-N01' }).locator('input[type=checkbox]').check();
    await page.locator('form#zone-picker label', { hasText: 'SUB-RIVER' }).locator('input[type=checkbox]').check();
    await clickAndWait(page, page.locator('form#zone-picker').getByRole('button', { name: 'Show forecast' }));
    assert.equal(pathOf(page), '/forecast');
    assert.equal(new URL(page.url()).searchParams.getAll('node').length, 2, 'the zone is in the URL');
    assert.equal(await page.locator('#forecast-chart svg').count(), 1, 'the chart is drawn');
    assert.match(await page.locator('#forecast-intervals summary').innerText(), /192 intervals, peak/);
    assert.match(await page.locator('#zone-forecast h2').innerText(), /FDR-N01/);

    // A bad line rejects the upload and is named.
    await page.locator('#weather-upload summary').click();
    await page.locator('#weather-upload textarea[name=csv]').fill(`${csv(3, 30)}\nnot-a-time,31`);
    await clickAndWait(page, page.locator('#weather-upload').getByRole('button', { name: 'Upload' }));
    assert.match(await page.locator('.flash-error').innerText(), /line 5: `not-a-time` is not an RFC 3339 timestamp/);

    await page.locator('#weather-upload summary').click();
    await page.locator('#weather-upload textarea[name=csv]').fill(csv(48, 35));
    await clickAndWait(page, page.locator('#weather-upload').getByRole('button', { name: 'Upload' }));
    assert.match(await page.locator('.flash-ok').innerText(), /Temperature forecast stored: 48 hour/);
  });
});

test('the operator edits the reduction table; the program manager only reads it', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'operator');
    await clickAndWait(page, page.locator('header.topbar nav a[href="/reductions"]'));
    const form = page.locator('form#reduction-new');
    await form.locator('select[name="row[device_type]"]').selectOption('pool_pump');
    await form.locator('input[name="row[share]"]').fill('1.2');
    await clickAndWait(page, form.getByRole('button', { name: 'Add' }));
    assert.match(await page.locator('.flash-error').innerText(), /share: expected a fraction of nominal kW from 0 to 1, got 1.2/);
    // The form starts afresh after the refusal.
    await page.locator('form#reduction-new select[name="row[device_type]"]').selectOption('pool_pump');
    await page.locator('form#reduction-new input[name="row[share]"]').fill('0.35');
    await clickAndWait(page, page.locator('form#reduction-new').getByRole('button', { name: 'Add' }));
    assert.match(await page.locator('.flash-ok').innerText(), /Reduction row \d+ added: pool_pump/);
  });
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'manager');
    await clickAndWait(page, page.locator('header.topbar nav a[href="/reductions"]'));
    assert.ok((await page.locator('table#reductions tbody tr').count()) > 10, 'the table is shown');
    assert.equal(await page.locator('form#reduction-new').count(), 0, 'no editing for program managers');
    assert.equal(await page.locator('header.topbar nav a[href="/forecast"]').count(), 0);
  });
});
