// Sign-in, role homes and navigation, wrong password, CSRF, sign out.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  PASSWORD, ROLES, clickAndWait, login, navLinks, pathOf, startServer, submitLogin, withBrowser,
} from './helpers.mjs';

// Which top-bar links each role must (and must not) see.
const NAV = [
  { text: 'Home', href: null, roles: ['program_manager', 'operator', 'approver', 'auditor', 'admin'] },
  { text: 'Enrollments', href: '/enrollments', roles: ['program_manager', 'auditor', 'admin'] },
  { text: 'Devices', href: '/devices', roles: ['program_manager', 'operator', 'auditor', 'admin'] },
  { text: 'Programs', href: null, roles: ['program_manager', 'operator', 'approver', 'auditor', 'admin'] },
  { text: 'Network', href: null, roles: ['program_manager', 'operator', 'approver', 'auditor', 'admin'] },
  { text: 'Forecast', href: '/forecast', roles: ['operator', 'auditor', 'admin'] },
  { text: 'Reductions', href: '/reductions', roles: ['program_manager', 'operator', 'auditor', 'admin'] },
  { text: 'Aggregators', href: '/aggregators', roles: ['program_manager', 'auditor', 'admin'] },
  { text: 'Meter data', href: '/meter-data', roles: ['program_manager', 'admin'] },
  { text: 'Reports', href: '/reports', roles: ['program_manager', 'auditor', 'admin'] },
  { text: 'Audit trail', href: '/audit', roles: ['auditor', 'admin'] },
  { text: 'Users', href: '/admin/users', roles: ['admin'] },
];

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

describe('each role signs in and lands on its home', () => {
  for (const [username, role] of Object.entries(ROLES)) {
    test(`${username} -> /home as ${role}`, async () => {
      await withBrowser(server.baseURL, async ({ page }) => {
        await login(page, username);
        assert.equal(pathOf(page), '/home');
        const h1 = page.locator('h1[data-home]');
        assert.equal(await h1.count(), 1, 'one h1[data-home] on /home');
        assert.equal(await h1.getAttribute('data-home'), role);

        const links = await navLinks(page);
        const texts = links.map((l) => l.text);
        for (const item of NAV) {
          const shown = links.filter((l) => l.text === item.text || (item.href && l.href === item.href));
          if (item.roles.includes(role)) {
            assert.equal(shown.length, 1, `${role} should see the "${item.text}" link once; nav has ${JSON.stringify(texts)}`);
            if (item.href) assert.equal(shown[0].href, item.href, `"${item.text}" link target`);
          } else {
            assert.equal(shown.length, 0, `${role} must not see the "${item.text}" link; nav has ${JSON.stringify(links)}`);
          }
        }
        const signOut = page.locator('header.topbar').getByRole('button', { name: 'Sign out' });
        assert.equal(await signOut.count(), 1, 'a Sign out button in the top bar');

        if (role === 'admin') {
          // The admin's own page: the user table and the form to create one.
          await clickAndWait(page, page.locator('header.topbar nav a', { hasText: 'Users' }));
          assert.equal(pathOf(page), '/admin/users');
          assert.equal(await page.locator('table#users').count(), 1, 'table#users');
          assert.ok(await page.locator('table#users tbody tr').count() >= 5, 'the five demo users are listed');
          assert.equal(await page.locator('form#create-user').count(), 1, 'form#create-user');
          assert.equal(await page.locator('.error-panel').count(), 0);
        }
      });
    });
  }
});

test('a wrong password ends back on /login with an error, and no session', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await submitLogin(page, 'manager', `${PASSWORD}-wrong`);
    assert.equal(pathOf(page), '/login');
    const flash = page.locator('p.flash-error');
    assert.equal(await flash.count(), 1, 'p.flash-error shown');
    assert.match(await flash.innerText(), /Wrong username or password\./);
    assert.equal(await page.locator('h1[data-home]').count(), 0);
    assert.equal(await page.locator('form#login-form').count(), 1, 'the login form is shown again');

    const res = await page.goto('/home');
    assert.ok(res, 'navigation response');
    assert.equal(pathOf(page), '/login', '/home without a session redirects to /login');
  });
});

test('a form post without its CSRF token is refused with 403', async () => {
  await withBrowser(server.baseURL, async ({ page, context }) => {
    // Load the login page first so that the browser holds a session cookie.
    await page.goto('/login');
    const token = await page.locator('form#login-form input[name=csrf]').getAttribute('value');
    assert.ok(token && token.length > 0, `the login form carries a csrf token (got ${JSON.stringify(token)})`);
    assert.equal(await page.locator('form#login-form input[name=csrf]').getAttribute('type'), 'hidden');

    const post = (data) => context.request.post('/fn/login', {
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      data,
      maxRedirects: 0,
    });
    const missing = await post(`username=manager&password=${PASSWORD}`);
    assert.equal(missing.status(), 403, 'POST /fn/login without csrf');
    const forged = await post(`username=manager&password=${PASSWORD}&csrf=${'0'.repeat(token.length)}`);
    assert.equal(forged.status(), 403, 'POST /fn/login with a wrong csrf');

    // Neither post signed the browser in.
    await page.goto('/home');
    assert.equal(pathOf(page), '/login', 'still signed out after the refused posts');

    // Once signed in, sign-out without the token is refused too.
    await login(page, 'manager');
    const logout = await context.request.post('/fn/logout', {
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      data: '',
      maxRedirects: 0,
    });
    assert.equal(logout.status(), 403, 'POST /fn/logout without csrf');
    await page.goto('/home');
    assert.equal(pathOf(page), '/home', 'still signed in after the refused sign-out');
    assert.equal(await page.locator('h1[data-home]').getAttribute('data-home'), 'program_manager');
  });
});

test('sign out returns to /login and /home then redirects to /login', async () => {
  await withBrowser(server.baseURL, async ({ page }) => {
    await login(page, 'operator');
    const form = page.locator('header.topbar form', { has: page.getByRole('button', { name: 'Sign out' }) });
    assert.equal(await form.count(), 1, 'the Sign out form');
    assert.equal((await form.getAttribute('method'))?.toLowerCase(), 'post');
    assert.match(await form.getAttribute('action') ?? '', /\/fn\/logout$/);

    await clickAndWait(page, form.getByRole('button', { name: 'Sign out' }));
    assert.equal(pathOf(page), '/login');
    assert.equal(await page.locator('form#login-form').count(), 1);

    await page.goto('/home');
    assert.equal(pathOf(page), '/login', '/home after sign out redirects to /login');
    assert.equal(await page.locator('h1[data-home]').count(), 0);
  });
});
