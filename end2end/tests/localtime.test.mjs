// The console speaks the utility's local time (America/Chicago, the default zone): the
// operator creates an event for 17:00–19:00 local tomorrow, and the event page, the chart's
// text alternative and the REST answer all name the same instant.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { clickAndWait, login, pathOf, SERVER_BIN, startServer, withBrowser } from './helpers.mjs';

const ZONE = 'America/Chicago';
/** The zone's abbreviations and their offsets from UTC, in minutes. */
const OFFSETS = { CDT: -5 * 60, CST: -6 * 60 };

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/** Tomorrow's local date in the zone, YYYY-MM-DD. */
function localTomorrow() {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit' })
    .format(new Date());
  const [y, m, d] = parts.split('-').map(Number);
  const next = new Date(Date.UTC(y, m - 1, d + 1));
  return next.toISOString().slice(0, 10);
}

/** `2026-07-14 17:00 CDT` -> the instant (ms since the epoch), from the abbreviation's offset. */
function instantOf(shown) {
  const m = /(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}) (C[DS]T)/.exec(shown);
  assert.ok(m, `a local time with the zone's abbreviation: ${JSON.stringify(shown)}`);
  const [, y, mo, d, h, mi, abbr] = m;
  return Date.UTC(+y, +mo - 1, +d, +h, +mi) - OFFSETS[abbr] * 60_000;
}

/** An operator API token, made with the server's own command on its database. */
function apiToken() {
  const db = `sqlite://${path.join(server.dir, 'e2e.db')}`;
  const out = execFileSync(SERVER_BIN, ['token', 'create', '--name', 'e2e-localtime', '--role', 'operator', '--database-url', db],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.trim().split('\n').pop();
}

test('an event created for 17:00–19:00 local tomorrow: page, chart and REST agree on the instant', async () => {
  const day = localTomorrow();
  let eventPath;
  let shownStart;
  let shownEnd;
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'operator');
    await page.goto('/events');
    await page.locator('details:has(form#event-form) > summary').click();
    const form = page.locator('form#event-form');
    // The prefilled window is local: no UTC in the form.
    assert.match(await form.innerText(), /local/);
    const option = form.locator('select[name="event[strategy_id]"] option', { hasText: 'System emergency' });
    await form.locator('select[name="event[strategy_id]"]').selectOption(await option.getAttribute('value'));
    await form.locator('input[name="event[name]"]').fill('Local evening');
    await form.locator('input[name="event[starts_at]"]').fill(`${day} 17:00`);
    await form.locator('input[name="event[ends_at]"]').fill(`${day} 19:00`);
    await clickAndWait(page, form.locator('button[type=submit]'));
    assert.match(pathOf(page), /^\/events\/\d+$/, (await page.locator('.flash').allInnerTexts()).join(' '));
    eventPath = pathOf(page);

    // The page: the window in local time with the zone's abbreviation.
    const window = await page.locator('dt:has-text("Window (local)") + dd').innerText();
    const [start, end] = window.split(' – ').map((s) => s.trim());
    assert.match(start, new RegExp(`^${day} 17:00 C[DS]T$`), window);
    assert.match(end, new RegExp(`^${day} 19:00 C[DS]T$`), window);
    shownStart = instantOf(start);
    shownEnd = instantOf(end);
    assert.equal(shownEnd - shownStart, 2 * 3600_000, 'two hours');

    // The chart (after planning): its text alternative names the same window; its axis is local.
    await clickAndWait(page, page.locator('form#event-plan button[type=submit]'));
    const title = await page.locator('#event-chart svg > title').textContent();
    const m = /from (.+) to (.+)$/.exec(title);
    assert.ok(m, title);
    assert.equal(instantOf(m[1]), shownStart, title);
    assert.equal(instantOf(m[2]), shownEnd, title);
    const svg = await page.locator('#event-chart').innerHTML();
    assert.ok(svg.includes(`Local time (${ZONE}`), 'the axis says local time and the zone');
    // The first tick carries the date ("8 Dec 17:00"), the others the hour.
    assert.match(svg, />\s*(?:\d{1,2} [A-Z][a-z]{2} )?17:00\s*</, 'the axis labels the event start in local time');
  });

  // The REST answer: the same instants, in UTC with a Z.
  const id = eventPath.split('/').pop();
  const res = await fetch(`${server.baseURL}/api/v1/events/${id}`, {
    headers: { authorization: `Bearer ${apiToken()}` },
  });
  assert.equal(res.status, 200);
  const detail = await res.json();
  assert.match(detail.summary.startsAt, /Z$/);
  assert.equal(Date.parse(detail.summary.startsAt), shownStart, detail.summary.startsAt);
  assert.equal(Date.parse(detail.summary.endsAt), shownEnd, detail.summary.endsAt);
});

test('a time typed without its abbreviation on the fall-back night is refused, naming both', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'operator');
    await page.goto('/events');
    await page.locator('details:has(form#event-form) > summary').click();
    const form = page.locator('form#event-form');
    // The first Sunday of November in a future year: 01:30 happens twice.
    const year = new Date().getUTCFullYear() + 1;
    const first = new Date(Date.UTC(year, 10, 1));
    const sunday = new Date(Date.UTC(year, 10, 1 + ((7 - first.getUTCDay()) % 7))).toISOString().slice(0, 10);
    await form.locator('input[name="event[starts_at]"]').fill(`${sunday} 01:30`);
    await form.locator('input[name="event[ends_at]"]').fill(`${sunday} 03:00`);
    await clickAndWait(page, form.locator('button[type=submit]'));
    assert.equal(pathOf(page), '/events', 'back on the list');
    const message = (await page.locator('.flash').allInnerTexts()).join(' ');
    assert.match(message, /happens twice/, message);
    assert.ok(message.includes(`${sunday} 01:30 CDT`) && message.includes(`${sunday} 01:30 CST`), message);
  });
});
