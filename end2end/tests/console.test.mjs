// The console tells the truth at a glance and guards destructive actions (issue 15):
// status badges with human names, a title per page, a confirmation page before a
// destructive action (going back changes nothing; confirming does it), and a refused
// new-event form that keeps what was typed. JavaScript is off, as in every browser test.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { clickAndWait, login, pathOf, startServer, withBrowser } from './helpers.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const heading = async (page) => (await page.locator('h1').first().innerText()).replace(/\s+/g, ' ');
const flash = async (page) => (await page.locator('.flash').allInnerTexts()).join(' ');

/** Opens the new-event form and fills it; returns the form. */
async function fillEventForm(page, strategy, name, startsAt) {
  await page.goto('/events');
  await page.locator('details:has(form#event-form) > summary').click();
  const form = page.locator('form#event-form');
  const option = form.locator('select[name="event[strategy_id]"] option', { hasText: strategy });
  await form.locator('select[name="event[strategy_id]"]').selectOption(await option.getAttribute('value'));
  await form.locator('input[name="event[name]"]').fill(name);
  if (startsAt !== undefined) await form.locator('input[name="event[starts_at]"]').fill(startsAt);
  return form;
}

test('cancelling an event asks first: going back changes nothing, confirming cancels', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'operator');
    const form = await fillEventForm(page, 'Northgate heat wave', 'Maybe not');
    await clickAndWait(page, form.locator('button[type=submit]'));
    assert.match(pathOf(page), /^\/events\/\d+$/, await flash(page));
    const eventPath = pathOf(page);

    // The cancel form stands apart from the primary actions, its reason beside it.
    const cancel = page.locator('.danger-zone form#event-cancel');
    assert.equal(await cancel.count(), 1, 'cancel sits in its own danger zone');
    assert.equal(await page.locator('section.actions form#event-cancel').count(), 0);
    assert.match(await cancel.locator('button').getAttribute('class'), /danger/);
    await cancel.locator('input[name=reason]').fill('Cooler than forecast');
    await clickAndWait(page, cancel.locator('button[type=submit]'));

    assert.equal(pathOf(page), '/confirm');
    assert.match(await heading(page), /Cancel event .* Maybe not/);
    const what = await page.locator('#confirm-consequences').innerText();
    assert.match(what, /cannot be undone/);
    assert.equal(await page.locator('#confirm-reason').innerText(), 'Cooler than forecast');
    assert.equal(await page.locator('form#confirm-form input[name=csrf]').count(), 1, 'CSRF field');

    // Go back: nothing changed.
    await clickAndWait(page, page.locator('#confirm-cancel'));
    assert.equal(pathOf(page), eventPath);
    assert.match(await heading(page), /\bNew\b/);

    // Ask again and confirm.
    await page.locator('form#event-cancel input[name=reason]').fill('Cooler than forecast');
    await clickAndWait(page, page.locator('form#event-cancel button[type=submit]'));
    await clickAndWait(page, page.locator('#confirm-button'));
    assert.equal(pathOf(page), eventPath);
    assert.match(await heading(page), /Cancelled/, await flash(page));
    assert.match(await page.locator('section.card:has(dl)').first().innerText(), /Cooler than forecast/);
  });
});

test('status badges carry human names and a colour per meaning', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'operator');
    await page.goto('/events');
    const badges = await page.locator('table#events .badge').evaluateAll((els) =>
      els.map((e) => ({ text: e.textContent.trim(), code: e.dataset.status, cls: e.className })));
    assert.ok(badges.length > 0, 'the demo has events');
    for (const b of badges) {
      assert.doesNotMatch(b.text, /^(InProgress|Canceled)$/, `raw status shown: ${b.text}`);
      assert.match(b.cls, /tone-(ok|info|warn|danger|neutral)/);
      if (b.code === 'InProgress') assert.equal(b.text, 'In progress');
      if (b.code === 'Completed') assert.match(b.cls, /tone-ok/);
      if (b.code === 'Canceled') assert.equal(b.text, 'Cancelled');
    }
  });
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'manager');
    await page.goto('/enrollments?status=ACTIVE');
    const texts = await page.locator('table#enrollments .badge').allInnerTexts();
    assert.ok(texts.length > 0);
    assert.ok(texts.every((t) => t === 'Active'), texts.join(', '));
    assert.match(await page.locator('#page-count').innerText(), /^Page 1 of \d+/);
  });
});

test('every page has its own title', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await page.goto('/login');
    assert.equal(await page.title(), 'Sign in · GridFlex');
    await login(page, 'admin');
    assert.equal(await page.title(), 'Home · GridFlex');
    for (const [path, title] of [
      ['/events', 'Events · GridFlex'],
      ['/devices', 'Devices · GridFlex'],
      ['/monitor', 'Integration monitor · GridFlex'],
      ['/monitor/value-maps', 'Value maps · GridFlex'],
      ['/admin/users', 'Users · GridFlex'],
    ]) {
      await page.goto(path);
      assert.equal(await page.title(), title, path);
    }
    // Value maps are found under Integration, not under Users.
    await page.goto('/monitor');
    assert.equal(await page.locator('nav.subnav a[href="/monitor/value-maps"]').count(), 1);
    await page.goto('/monitor/value-maps');
    assert.equal(await page.locator('header.topbar nav a[aria-current=page]').innerText(), 'Integration');
  });
});

test('a refused new event keeps what was typed, with the error summary at the top', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'operator');
    const form = await fillEventForm(page, 'Northgate heat wave', 'Typed with care', 'tomorrow-ish at five');
    const ends = await form.locator('input[name="event[ends_at]"]').inputValue();
    await clickAndWait(page, form.locator('button[type=submit]'));
    assert.equal(pathOf(page), '/events');
    const summary = page.locator('form#event-form .error-summary');
    assert.equal(await summary.count(), 1, 'an error summary');
    assert.match(await summary.innerText(), /starts at/i);
    assert.equal(await summary.locator('a').getAttribute('href'), '#event-starts');
    const again = page.locator('form#event-form');
    assert.equal(await again.locator('input[name="event[name]"]').inputValue(), 'Typed with care');
    assert.equal(await again.locator('input[name="event[starts_at]"]').inputValue(), 'tomorrow-ish at five');
    assert.equal(await again.locator('input[name="event[ends_at]"]').inputValue(), ends);
    const chosen = await again.locator('select[name="event[strategy_id]"] option:checked').innerText();
    assert.match(chosen, /Northgate heat wave/);
    assert.equal(await again.locator('input[name="event[starts_at]"]').getAttribute('aria-invalid'), 'true');
  });
});

test('a program manager suspends a program after confirming, then makes it active again', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'manager');
    await page.goto('/programs');
    await clickAndWait(page, page.locator('#programs a', { hasText: 'WH-CONTROL' }));
    const programPath = pathOf(page);
    assert.match(await heading(page), /WH-CONTROL .* Active/);
    assert.equal(await page.locator('form#program-activate').count(), 0, 'already active');

    // Suspending stands in a danger zone and is confirmed first.
    const suspend = page.locator('.danger-zone form#program-suspend');
    await suspend.locator('input[name=reason]').fill('Utility switch firmware fault');
    await clickAndWait(page, suspend.locator('button[type=submit]'));
    assert.equal(pathOf(page), '/confirm');
    assert.match(await heading(page), /Suspend program WH-CONTROL/);
    assert.match(await page.locator('#confirm-consequences').innerText(), /grid side is told to drop/);
    await clickAndWait(page, page.locator('#confirm-cancel'));
    assert.equal(pathOf(page), programPath);
    assert.match(await heading(page), /Active/, 'going back changed nothing');

    await page.locator('form#program-suspend input[name=reason]').fill('Utility switch firmware fault');
    await clickAndWait(page, page.locator('form#program-suspend button[type=submit]'));
    await clickAndWait(page, page.locator('#confirm-button'));
    assert.equal(pathOf(page), programPath);
    assert.match(await heading(page), /Suspended/, await flash(page));
    assert.match(await flash(page), /WH-CONTROL is now suspended/);

    // Made active again at once; its rules go back to the grid side.
    await clickAndWait(page, page.locator('form#program-activate button[type=submit]'));
    assert.match(await heading(page), /Active/, await flash(page));
    assert.match(await flash(page), /is now active .*grid side is told/);
  });
});
