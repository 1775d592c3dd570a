// Enrollment list filters, enrollment and device detail, personal-data masking, access, error pages.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  MASK, clickAndWait, login, parseCount, pathOf, startServer, tableRows, withBrowser,
} from './helpers.mjs';

// Columns of table#enrollments (0-based).
const COL_ID = 0;
const COL_PROGRAM = 3;
const COL_NETWORK = 7; // "SUBSTATION / FEEDER"
const COL_DEVICES = 8;

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/** Options of a <select> as [{ value, label }], without the empty "All" choice. */
async function options(page, name) {
  const all = await page.locator(`form#enrollment-filters select[name=${name}] option`).evaluateAll((os) =>
    os.map((o) => ({ value: o.getAttribute('value') ?? o.textContent.trim(), label: o.textContent.trim() })));
  return all.filter((o) => o.value !== '');
}

async function applyFilters(page) {
  await clickAndWait(page, page.locator('form#enrollment-filters').getByRole('button', { name: 'Apply' }));
  assert.equal(pathOf(page), '/enrollments', 'Apply stays on /enrollments');
}

async function resultCount(page) {
  const el = page.locator('#result-count');
  assert.equal(await el.count(), 1, '#result-count');
  return parseCount(await el.innerText());
}

test('program manager filters by program and feeder, opens an enrollment, then a device', async (t) => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'manager');
    await clickAndWait(page, page.locator('header.topbar nav a[href="/enrollments"]'));
    assert.equal(pathOf(page), '/enrollments');
    const total = await resultCount(page);
    assert.ok(total > 0, 'the demo has enrollments');
    const form = page.locator('form#enrollment-filters');
    assert.equal((await form.getAttribute('method'))?.toLowerCase(), 'get');
    for (const name of ['program', 'status', 'substation', 'feeder', 'device_type', 'sort']) {
      assert.equal(await form.locator(`select[name=${name}]`).count(), 1, `select[name=${name}]`);
    }
    assert.equal(await form.locator('input[name=q]').count(), 1, 'input[name=q]');

    // 1. A program that has enrollments.
    const programs = await options(page, 'program');
    assert.ok(programs.length > 0, 'program options');
    let program = null;
    let programCount = 0;
    for (const p of programs) {
      await page.locator('form#enrollment-filters select[name=program]').selectOption(p.value);
      await applyFilters(page);
      programCount = await resultCount(page);
      if (programCount > 0) { program = p; break; }
    }
    assert.ok(program, 'some program has enrollments');
    assert.ok(programCount <= total, `program count ${programCount} <= total ${total}`);
    assert.equal(new URL(page.url()).searchParams.get('program'), program.value);
    let rows = await tableRows(page, 'table#enrollments');
    assert.ok(rows.length > 0, 'rows for the program');
    const programCode = rows[0][COL_PROGRAM];
    assert.ok(programCode && program.label.includes(programCode),
      `program option "${program.label}" names the code shown in the table ("${programCode}")`);

    // 2. One of that program's feeders, picked from a row.
    const network = rows[0][COL_NETWORK];
    const [substationCode, feederCode] = network.split('/').map((s) => s.trim());
    assert.ok(substationCode && feederCode, `network cell "${network}" reads SUBSTATION / FEEDER`);
    const feeder = (await options(page, 'feeder')).find((o) => o.label === feederCode);
    assert.ok(feeder, `feeder ${feederCode} is offered in select[name=feeder]`);
    await page.locator('form#enrollment-filters select[name=feeder]').selectOption(feeder.value);
    await applyFilters(page);

    const url = new URL(page.url());
    assert.equal(url.searchParams.get('program'), program.value, 'URL keeps ?program=');
    assert.equal(url.searchParams.get('feeder'), feeder.value, 'URL has ?feeder=');
    // The form shows the filters that are in force.
    assert.equal(await page.locator('form#enrollment-filters select[name=program]').inputValue(), program.value);
    assert.equal(await page.locator('form#enrollment-filters select[name=feeder]').inputValue(), feeder.value);

    const count = await resultCount(page);
    assert.ok(count > 0, 'program + feeder matches some enrollments');
    assert.ok(count <= programCount, `feeder narrows the program's ${programCount} (got ${count})`);
    rows = await tableRows(page, 'table#enrollments');
    assert.ok(rows.length > 0 && rows.length <= count, `${rows.length} rows shown for ${count}`);
    for (const r of rows) {
      assert.equal(r[COL_PROGRAM], programCode, `row ${r[COL_ID]}: program`);
      assert.ok(r[COL_NETWORK].endsWith(`/ ${feederCode}`) || r[COL_NETWORK].endsWith(`/${feederCode}`),
        `row ${r[COL_ID]}: feeder cell "${r[COL_NETWORK]}" ends with ${feederCode}`);
    }
    if (rows.length < count) {
      assert.equal(await page.locator('nav.pager a[rel=next]').count(), 1, 'a next-page link when more rows match');
    }
    t.diagnostic(`program ${programCode} (${programCount}) + feeder ${feederCode}: ${count} enrollments, ${rows.length} rows shown`);
    const csv = page.locator('a[href^="/enrollments.csv"]');
    assert.equal(await csv.count(), 1, 'CSV export link');
    const csvUrl = new URL(await csv.getAttribute('href'), server.baseURL);
    assert.equal(csvUrl.searchParams.get('program'), program.value, 'CSV export keeps ?program=');
    assert.equal(csvUrl.searchParams.get('feeder'), feeder.value, 'CSV export keeps ?feeder=');

    // 3. Open an enrollment (one with devices, if the table says so).
    const withDevices = rows.find((r) => Number(r[COL_DEVICES]) > 0) ?? rows[0];
    const enrollmentId = withDevices[COL_ID];
    await clickAndWait(page, page.locator('table#enrollments tbody tr td:first-child a', { hasText: enrollmentId }).first());
    assert.equal(pathOf(page), `/enrollments/${enrollmentId}`);
    assert.equal(await page.locator('.error-panel').count(), 0, 'no error panel on the detail page');
    assert.equal(await page.locator('#customer').count(), 1, '#customer card');
    assert.equal(await page.locator('#location').count(), 1, '#location card');
    assert.equal(await page.locator('#status-history').count(), 1, '#status-history');
    const path = page.locator('#location ol.network-path');
    assert.equal(await path.count(), 1, 'ol.network-path');
    const pathText = await path.innerText();
    assert.ok(pathText.includes(feederCode), `network path "${pathText}" includes feeder ${feederCode}`);
    assert.ok(pathText.includes(substationCode), `network path "${pathText}" includes substation ${substationCode}`);
    // The manager sees personal data in clear.
    const pii = await page.locator('#customer dd.pii').allInnerTexts();
    assert.ok(pii.some((t) => t.includes('@')), `manager sees an email: ${JSON.stringify(pii)}`);

    // 4. Open one of its devices.
    const deviceLink = page.locator('table#enrollment-devices tbody tr td:first-child a[href^="/devices/"]').first();
    assert.equal(await deviceLink.count(), 1, 'the enrollment lists a device');
    const href = await deviceLink.getAttribute('href');
    assert.match(href, /^\/devices\/\d+$/);
    await clickAndWait(page, deviceLink);
    assert.equal(pathOf(page), href);
    assert.equal(await page.locator('.error-panel').count(), 0, 'no error panel on the device page');
    const h1 = (await page.locator('h1').first().innerText()).trim();
    assert.ok(h1.startsWith('Device '), `device h1 "${h1}" starts with "Device "`);
    assert.equal(await page.locator('#device-facts').count(), 1, '#device-facts');
  });
});

test('auditor is refused /admin/users and sees personal data masked; manager sees the email', async () => {
  // The manager picks an enrollment and reads its email.
  let enrollmentPath;
  let email;
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'manager');
    await page.goto('/enrollments');
    const first = page.locator('table#enrollments tbody tr td:first-child a').first();
    enrollmentPath = await first.getAttribute('href');
    assert.match(enrollmentPath, /^\/enrollments\/\d+$/);
    await page.goto(enrollmentPath);
    const pii = await page.locator('#customer dd.pii').allInnerTexts();
    assert.ok(pii.length >= 2, `phone and email are dd.pii: ${JSON.stringify(pii)}`);
    email = pii.map((t) => t.trim()).find((t) => t.includes('@'));
    assert.ok(email, `manager sees an email with "@": ${JSON.stringify(pii)}`);
    assert.ok(!pii.includes(MASK), 'nothing masked for the manager');
  });

  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'auditor');

    const res = await page.goto('/admin/users');
    assert.equal(res.status(), 403, 'GET /admin/users as auditor');
    assert.equal((await page.locator('.error-panel h1').innerText()).trim(), 'Not allowed');
    assert.equal(await page.locator('table#users').count(), 0, 'no user table for the auditor');
    assert.equal(await page.locator('form#create-user').count(), 0, 'no create-user form for the auditor');

    const detail = await page.goto(enrollmentPath);
    assert.equal(detail.status(), 200, `GET ${enrollmentPath} as auditor`);
    assert.equal(await page.locator('.error-panel').count(), 0);
    assert.ok(await page.locator('#customer dd.pii').count() >= 2, 'phone and email cells');
    assert.ok(await page.locator('#location dd.pii').count() >= 1, 'address cell');
    const values = (await page.locator('.pii').allInnerTexts()).map((t) => t.trim());
    assert.ok(values.length >= 3, `personal-data cells: ${JSON.stringify(values)}`);
    for (const v of values) assert.equal(v, MASK, `every .pii value is masked for the auditor: ${JSON.stringify(values)}`);
    const html = await page.content();
    assert.ok(!html.includes(email), 'the email is nowhere in the page the auditor gets');
  });
});

test('unknown enrollment answers 404 and a bad filter answers 400 naming the parameter', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'manager');
    const missing = await page.goto('/enrollments/999999999');
    assert.equal(missing.status(), 404, 'GET /enrollments/999999999');
    assert.equal(await page.locator('.error-panel').count(), 1, '.error-panel on 404');
    assert.equal(await page.locator('#customer').count(), 0);

    const bad = await page.goto('/enrollments?program=abc');
    assert.equal(bad.status(), 400, 'GET /enrollments?program=abc');
    const panel = page.locator('.error-panel');
    const text = await ((await panel.count()) > 0 ? panel.first() : page.locator('body')).innerText();
    assert.match(text, /\bprogram\b/, `the error names the parameter "program": ${text.slice(0, 300)}`);
    assert.equal(await page.locator('table#enrollments tbody tr').count(), 0, 'no rows on a bad query');
  });
});
