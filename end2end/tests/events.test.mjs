// The grid operator's journey: create an event from a strategy, generate stages, see the
// chart, submit; the operator cannot approve; the approver approves; the simulated clock
// runs it to completion with outcomes; another event is cancelled with a reason; the
// auditor reads the whole trail and exports it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { clickAndWait, login, pathOf, startServer, tableRows, withBrowser } from './helpers.mjs';

let server;
before(async () => { server = await startServer(['--simulated-clock']); });
after(async () => { await server?.stop(); });

/** Creates an event from the named strategy on /events; returns its page path. */
async function createEvent(page, strategy, name) {
  await page.goto('/events');
  await page.locator('details:has(form#event-form) > summary').click();
  const form = page.locator('form#event-form');
  const option = form.locator('select[name="event[strategy_id]"] option', { hasText: strategy });
  await form.locator('select[name="event[strategy_id]"]').selectOption(await option.getAttribute('value'));
  await form.locator('input[name="event[name]"]').fill(name);
  await clickAndWait(page, form.locator('button[type=submit]'));
  assert.match(pathOf(page), /^\/events\/\d+$/, `created ${name}: ${await flash(page)}`);
  return pathOf(page);
}

async function flash(page) {
  return (await page.locator('.flash').allInnerTexts()).join(' ');
}

async function heading(page) {
  return (await page.locator('h1').innerText()).replace(/\s+/g, ' ');
}

let eventPath;

test('operator plans and submits an event but cannot approve it; the approver approves', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'operator');
    await clickAndWait(page, page.locator('header.topbar nav a[href="/events"]'));
    eventPath = await createEvent(page, 'System emergency', 'Heat wave afternoon');
    assert.match(await heading(page), /New/);
    await clickAndWait(page, page.locator('form#event-plan button[type=submit]'));
    assert.match(await flash(page), /stage\(s\)/, 'planning reports its stages');
    assert.equal(await page.locator('#event-chart svg').count(), 1, 'the Before / After chart');
    const chart = await page.locator('#event-chart').innerHTML();
    assert.ok(chart.includes('Before (baseline)') && chart.includes('After (planned)'));
    const stages = await tableRows(page, 'table#stages');
    assert.ok(stages.length >= 1, 'stages listed');
    const exclusions = await tableRows(page, 'table#exclusions');
    assert.ok(exclusions.some((r) => r[0] === 'customer declared it unavailable'), 'exclusion summary per rule, in words');
    // The devices of the first stage.
    await clickAndWait(page, page.locator('table#stages tbody tr a').first());
    assert.ok((await tableRows(page, 'table#stage-device-table')).length > 0, 'devices of a stage');

    await clickAndWait(page, page.locator('form#event-submit button[type=submit]'));
    assert.match(await heading(page), /Submitted/);
    assert.equal(await page.locator('form#event-approve').count(), 0, 'no approve button for the operator');
  });
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'approver');
    // The approver's home lists what waits for them.
    const waiting = await page.locator('table#event-digest').innerText();
    assert.ok(waiting.includes('Heat wave afternoon'), waiting);
    await page.goto(eventPath);
    await clickAndWait(page, page.locator('form#event-approve button[type=submit]'));
    assert.match(await flash(page), /approved/);
    assert.match(await heading(page), /Scheduled/, 'approval schedules the event');
  });
});

test('with the simulated clock moved on, the event runs and completes with outcomes', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'admin');
    await page.goto(eventPath);
    const form = page.locator('form#advance-clock');
    await form.locator('input[name=minutes]').fill('300');
    await clickAndWait(page, form.locator('button[type=submit]'));
    assert.equal(pathOf(page), eventPath, 'back on the event');
    assert.match(await heading(page), /Completed/, await flash(page));
    const outcomes = await tableRows(page, 'table#outcomes');
    assert.ok(outcomes.some((r) => r[0].startsWith('D1SP')), 'participated devices');
    const chart = await page.locator('#event-chart').innerHTML();
    assert.ok(chart.includes('Actual'), 'the actual load is charted');
  });
});

test('another event is cancelled with a reason', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'operator');
    const path = await createEvent(page, 'Northgate heat wave', 'Called off');
    const form = page.locator('form#event-cancel');
    await form.locator('input[name=reason]').fill('Storm front cooled the city');
    await clickAndWait(page, form.locator('button[type=submit]'));
    // Cancelling is confirmed on a page of its own first.
    assert.equal(pathOf(page), '/confirm');
    await clickAndWait(page, page.locator('#confirm-button'));
    assert.match(await heading(page), /Cancelled/);
    assert.match(await page.locator('section.card:has(dl)').first().innerText(), /Storm front cooled the city/);
  });
});

test('the auditor sees the whole trail and exports it', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'auditor');
    await page.goto(eventPath);
    const timeline = await page.locator('#timeline').innerText();
    for (const action of ['event.create', 'event.plan', 'event.submit', 'event.approve', 'event.start', 'event.complete']) {
      assert.ok(timeline.includes(action), `timeline shows ${action}`);
    }
    assert.equal(await page.locator('section.actions form').count(), 0, 'read-only');
    const code = (await heading(page)).split(' ')[0];
    await page.goto(`/audit?entity_type=event&entity_id=${code}`);
    assert.ok((await page.locator('body').innerText()).includes('event.approve'));
    const href = await page.locator('a#audit-csv').getAttribute('href');
    const res = await page.request.get(href);
    assert.equal(res.status(), 200);
    const csv = await res.text();
    assert.ok(csv.startsWith('id,occurred_at,actor,action'), csv.slice(0, 80));
    assert.ok(csv.includes('event.complete'));
  });
});
