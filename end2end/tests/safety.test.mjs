// Safety at every size (issue 15, items 1, 5, 7 and 8) at 1440 px and 390 px: the demo's
// "Harbor ceiling drill" shows its shortfall on the event page, at the submit step and to
// the approver; cancelling an event is confirmed on a page of its own, with JavaScript off
// and on; and the event report prints within an A4 page.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { clickAndWait, login, pathOf, startServer, withBrowser } from './helpers.mjs';

const SIZES = [
  ['1440 px', { width: 1440, height: 900 }],
  ['390 px', { width: 390, height: 844 }],
];
/** A4 at 96 px to the inch: 210 mm x 297 mm. */
const A4 = { width: 794, height: 1123 };

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const heading = async (page) => (await page.locator('h1').first().innerText()).replace(/\s+/g, ' ');
const flash = async (page) => (await page.locator('.flash').allInnerTexts()).join(' ');

/** How far the page scrolls sideways (0 when it fits). */
const sideways = (page) => page.evaluate(() =>
  document.documentElement.scrollWidth - document.documentElement.clientWidth);

/** Asserts that `locator` is shown whole inside the window's width. */
async function withinWidth(page, locator, what) {
  const box = await locator.boundingBox();
  assert.ok(box, `${what} is shown`);
  const width = page.viewportSize().width;
  assert.ok(box.x >= 0 && box.x + box.width <= width + 0.5,
    `${what} fits the ${width} px window (${Math.round(box.x)}–${Math.round(box.x + box.width)} px)`);
}

/** Creates an event from the strategy whose option contains `strategy`; returns its path. */
async function createEvent(page, strategy, name) {
  await page.goto('/events');
  await page.locator('details:has(form#event-form) > summary').click();
  const form = page.locator('form#event-form');
  const option = form.locator('select[name="event[strategy_id]"] option', { hasText: strategy });
  await form.locator('select[name="event[strategy_id]"]').selectOption(await option.getAttribute('value'));
  await form.locator('input[name="event[name]"]').fill(name);
  await clickAndWait(page, form.locator('button[type=submit]'));
  assert.match(pathOf(page), /^\/events\/\d+$/, await flash(page));
  return pathOf(page);
}

/**
 * The drill: the demo's own event (planned and left New) the first time; later a new event
 * from the drill's strategy, planned here (the demo's has been submitted by then).
 */
async function drillEvent(page, fresh, label) {
  if (!fresh) {
    await page.goto('/events?status=New');
    const row = page.locator('table#events tbody tr', { hasText: 'Harbor ceiling drill (warning on purpose)' });
    assert.equal(await row.count(), 1, 'the demo plans the drill and leaves it New');
    return row.locator('a').first().getAttribute('href');
  }
  const path = await createEvent(page, 'Harbor ceiling drill', `Harbor drill at ${label}`);
  await clickAndWait(page, page.locator('form#event-plan button[type=submit]'));
  return path;
}

const SHORTFALL = /The plan does not keep the zone under .+: it falls up to .+ short in .+/;

for (const [size, viewport] of SIZES) {
  test(`the drill's shortfall shows on its page, at submit and to the approver at ${size}`, async () => {
    let path;
    await withBrowser(server.baseURL, async ({ page }) => {
      await login(page, 'operator');
      path = await drillEvent(page, size !== SIZES[0][0], size);
      await page.goto(path);
      assert.match(await heading(page), /Harbor/);
      const warning = page.locator('#plan-warnings');
      assert.match(await warning.innerText(), SHORTFALL);
      await withinWidth(page, warning, 'the warning');
      // The chart draws the ceiling the plan misses.
      assert.match(await page.locator('#event-chart svg').innerHTML(), /[Cc]eiling/);
      assert.ok(await sideways(page) <= 0, `no sideways scroll (${await sideways(page)} px)`);

      // The submit step repeats the warning in its answer; the page still shows it.
      await clickAndWait(page, page.locator('form#event-submit button[type=submit]'));
      assert.equal(pathOf(page), path);
      assert.match(await heading(page), /Submitted/);
      assert.match(await flash(page), /Warning: The plan does not keep the zone under/);
      assert.match(await page.locator('#plan-warnings').innerText(), SHORTFALL);
    }, { viewport });

    await withBrowser(server.baseURL, async ({ page }) => {
      await login(page, 'approver');
      await page.goto(path);
      const warning = page.locator('#plan-warnings');
      assert.match(await warning.innerText(), SHORTFALL);
      await withinWidth(page, warning, "the approver's warning");
      // The approver reads the warning before reaching the button.
      const approve = page.locator('form#event-approve button[type=submit]');
      await withinWidth(page, approve, 'the approve button');
      const [w, a] = [await warning.boundingBox(), await approve.boundingBox()];
      assert.ok(w.y + w.height <= a.y, 'the warning comes before the approve button');
      assert.ok(await sideways(page) <= 0, `no sideways scroll (${await sideways(page)} px)`);
    }, { viewport });
  });

  for (const javaScript of [false, true]) {
    const js = javaScript ? 'on' : 'off';
    test(`cancelling an event is confirmed on its own page at ${size}, JavaScript ${js}`, async () => {
      await withBrowser(server.baseURL, async ({ page }) => {
        // No browser dialog stands in for the page.
        page.on('dialog', (d) => { d.dismiss(); assert.fail(`a dialog appeared: ${d.message()}`); });
        await login(page, 'operator');
        const path = await createEvent(page, 'Northgate heat wave', `Cancel at ${size}, JS ${js}`);
        const cancel = page.locator('.danger-zone form#event-cancel');
        await withinWidth(page, cancel.locator('input[name=reason]'), 'the reason');
        await withinWidth(page, cancel.locator('button[type=submit]'), 'the cancel button');
        await cancel.locator('input[name=reason]').fill('Feeder work moved');
        await clickAndWait(page, cancel.locator('button[type=submit]'));

        assert.equal(pathOf(page), '/confirm');
        assert.match(await heading(page), /Cancel event .* Cancel at/);
        assert.match(await page.locator('#confirm-consequences').innerText(), /cannot be undone/);
        assert.equal(await page.locator('#confirm-reason').innerText(), 'Feeder work moved');
        const confirm = page.locator('#confirm-button');
        assert.match(await confirm.getAttribute('class'), /danger/);
        await withinWidth(page, confirm, 'the confirm button');
        await withinWidth(page, page.locator('#confirm-cancel'), 'the way back');
        assert.ok(await sideways(page) <= 0, `no sideways scroll (${await sideways(page)} px)`);
        // Still New until confirmed.
        await clickAndWait(page, page.locator('#confirm-cancel'));
        assert.equal(pathOf(page), path);
        assert.match(await heading(page), /\bNew\b/);

        await page.locator('form#event-cancel input[name=reason]').fill('Feeder work moved');
        await clickAndWait(page, page.locator('form#event-cancel button[type=submit]'));
        await clickAndWait(page, page.locator('#confirm-button'));
        assert.equal(pathOf(page), path);
        assert.match(await heading(page), /Cancelled/, await flash(page));
      }, { viewport, javaScript });
    });
  }
}

test('the event report prints within an A4 page', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'auditor');
    await page.goto('/events?status=Completed');
    const event = await page.locator('table#events tbody tr a').first().getAttribute('href');
    const res = await page.goto(event.replace('/events/', '/reports/events/'));
    assert.equal(res.status(), 200);
    await page.emulateMedia({ media: 'print' });
    const fit = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const wide = [];
      for (const el of document.querySelectorAll('body *')) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0) continue;
        if (r.left < -0.5 || r.right > width + 0.5) {
          const id = el.id ? `#${el.id}` : '';
          wide.push(`${el.tagName.toLowerCase()}${id} ${Math.round(r.left)}–${Math.round(r.right)} px`);
        }
      }
      return { width, scroll: document.documentElement.scrollWidth, wide };
    });
    assert.equal(fit.width, A4.width);
    assert.ok(fit.scroll <= fit.width, `the printout is ${fit.scroll} px wide`);
    assert.deepEqual(fit.wide.slice(0, 10), [], 'no element is wider than the page');
    // The report's figures are printed; the chrome is not.
    assert.equal(await page.locator('#event-report').isVisible(), true);
    assert.equal(await page.locator('header.topbar').isVisible(), false);
    // Chromium lays it out on A4 with the stylesheet's page size.
    const pdf = await page.pdf({ preferCSSPageSize: true, printBackground: false });
    assert.ok(pdf.length > 1000, 'a PDF');
    const box = /\/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]/.exec(pdf.toString('latin1'));
    assert.ok(box, 'the PDF names its page size');
    // A4 in PostScript points: 595 x 842.
    assert.ok(Math.abs(Number(box[1]) - 595) < 2 && Math.abs(Number(box[2]) - 842) < 2, `page ${box[1]} x ${box[2]} pt`);
  }, { viewport: A4 });
});
