// The dashboard in a real browser against a real mailhooks server and a real receiver.
// The tests run in order and share one server: each step builds on the webhook the
// earlier ones created, as a person using the page would.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, startReceiver, startBrowser, eventually, screenshot,
} from './support.js';

const API_KEY = 'e2e-dashboard-key-0123456789';
const PASSWORD = 'hook-secret-pw';

let server;
let receiver;
let browser;
let page;
let webhookId;

async function signIn(p, key) {
  await p.goto(server.url + '/');
  await p.getByLabel('API key').fill(key);
  await p.getByRole('button', { name: 'Sign in' }).click();
}

async function textOf(locator) {
  return (await locator.textContent()) || '';
}

/** Waits until the locator's text contains every one of `parts`. */
async function waitForText(locator, ...parts) {
  return eventually(async () => {
    const text = await textOf(locator);
    return parts.every((p) => text.includes(p)) && text;
  }, { what: `text ${JSON.stringify(parts)}` });
}

function basic(user, pass) {
  return 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
}

describe('dashboard', () => {
  before(async () => {
    receiver = await startReceiver();
    // Short retry and disable timings, so the failure path plays out in seconds.
    server = await startServer({
      apiKey: API_KEY,
      extraArgs: ['--retry-schedule', '100ms,100ms', '--disable-after', '4s'],
    });
    browser = await startBrowser();
    page = await browser.context.newPage();
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    if (receiver) await receiver.close();
  });

  it('is served by mailhooks without shadowing the API', async () => {
    const page0 = await fetch(server.url + '/');
    assert.equal(page0.status, 200);
    assert.match(page0.headers.get('content-type'), /^text\/html/);
    assert.match(page0.headers.get('content-security-policy'), /default-src 'none'/);
    for (const asset of ['/assets/app.js', '/assets/app.css', '/assets/favicon.svg']) {
      assert.equal((await fetch(server.url + asset)).status, 200, asset);
    }
    const health = await fetch(server.url + '/healthz');
    assert.deepEqual(await health.json(), { status: 'ok' });
    const unknown = await fetch(server.url + '/no/such/page');
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, 'not_found');
    const noKey = await fetch(server.url + '/v1/webhooks');
    assert.equal(noKey.status, 401);
    assert.equal((await noKey.json()).error.code, 'unauthorized');
  });

  it('refuses a wrong API key with a message', async () => {
    await signIn(page, 'not-the-right-key-at-all');
    const alert = page.locator('#sign-in-alert');
    await waitForText(alert, 'That API key was refused');
    assert.equal(await page.getByLabel('API key').getAttribute('aria-invalid'), 'true');
    assert.match(await textOf(page.locator('#api-key-error')), /refused/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('mailhooks.apiKey')), null);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Sign in');

    // A key in the tab that the server stops accepting sends the person back to sign in.
    const other = await browser.context.newPage();
    try {
      await other.goto(server.url + '/');
      await other.evaluate(() => sessionStorage.setItem('mailhooks.apiKey', 'a-key-that-was-revoked'));
      await other.reload();
      await waitForText(other.locator('#sign-in-alert'), 'Your API key was refused');
      assert.equal(await other.evaluate(() => sessionStorage.getItem('mailhooks.apiKey')), null);
    } finally {
      await other.close();
    }
  });

  it('signs in with an API key kept for this tab only', async () => {
    await signIn(page, API_KEY);
    await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
    await waitForText(page.locator('main'), 'No webhooks yet');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('mailhooks.apiKey')), API_KEY);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    // Another tab of the same browser does not have it.
    const other = await browser.context.newPage();
    await other.goto(server.url + '/');
    await other.getByLabel('API key').waitFor();
    await other.close();
  });

  it('shows the API\u2019s validation errors beside the field they concern', async () => {
    await page.getByRole('link', { name: 'Create Webhook' }).click();
    await page.getByRole('heading', { level: 1, name: 'Create Webhook' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('Orders stream');
    await page.getByLabel('Target URL').fill('ftp://example.com/hooks');
    await page.getByRole('button', { name: 'Create webhook' }).click();
    const urlError = page.locator('#targetUrl-error');
    await eventually(async () => (await textOf(urlError)).length > 0, { what: 'targetUrl error' });
    assert.equal(await page.getByLabel('Target URL').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'targetUrl');
    assert.equal(await textOf(page.locator('#name-error')), '');
    assert.match(await textOf(page.locator('#form-errors')), /not saved/);

    // Basic auth needs a password: the API says so about auth.password.
    await page.getByLabel('Target URL').fill(receiver.url);
    await page.getByLabel('Basic auth').check();
    await page.getByLabel('Username').fill('hook-user');
    await page.getByRole('button', { name: 'Create webhook' }).click();
    const pwError = page.locator('#auth-password-error');
    await eventually(async () => (await textOf(pwError)).includes('password'), { what: 'password error' });
    assert.equal(await textOf(urlError), '', 'the fixed field\u2019s error is gone');
    assert.equal(await page.getByLabel('Password').getAttribute('aria-invalid'), 'true');

    // An empty name.
    await page.getByLabel('Name', { exact: true }).fill('');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create webhook' }).click();
    await eventually(async () => (await textOf(page.locator('#name-error'))).includes('name'), { what: 'name error' });
    const list = await page.locator('main').textContent();
    assert.ok(!list.includes(PASSWORD));
    assert.equal((await server.api('GET', '/v1/webhooks')).body.data.length, 0, 'nothing was created');
  });

  it('creates a webhook with basic auth and never shows the password back', async () => {
    await page.getByLabel('Name', { exact: true }).fill('Orders stream');
    await page.getByLabel('Source of recipient activity').fill('all');
    await page.getByLabel('Password').fill(PASSWORD);
    assert.equal(await textOf(page.locator('#name-error')), '', 'an edited field loses its error');
    assert.equal(await textOf(page.locator('#form-errors')), '');
    await page.getByLabel('Selected events').check();
    for (const label of ['Spam complaint', 'Link unsubscribe', 'List unsubscribe']) {
      await page.getByLabel(label, { exact: true }).uncheck();
    }
    // Every control on the form has a label a screen reader can read.
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('#webhook-form input, #webhook-form select')]
      .filter((el) => el.labels.length === 0).map((el) => el.name || el.id));
    assert.deepEqual(unlabelled, []);
    await screenshot(page, 'form', { fullPage: true });
    await page.getByLabel('All events').check();

    await page.getByRole('button', { name: 'Create webhook' }).click();
    await page.getByRole('heading', { level: 1, name: 'Orders stream' }).waitFor();
    await waitForText(page.locator('#flash'), 'created');
    webhookId = decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
    assert.match(webhookId, /^wh_/);

    const stored = (await server.api('GET', `/v1/webhooks/${webhookId}`)).body;
    assert.deepEqual(stored.auth, { type: 'basic', username: 'hook-user' });
    assert.equal(stored.targetUrl, receiver.url);
    assert.equal(stored.status, 'enabled');
    assert.equal(stored.events.length, 9);

    const overview = await waitForText(page.locator('main'), 'hook-user', 'Enabled', 'Healthy');
    assert.ok(!overview.includes(PASSWORD));
    await page.getByRole('link', { name: 'Edit Webhook' }).click();
    await page.getByRole('heading', { level: 1, name: 'Edit Webhook' }).waitFor();
    assert.equal(await page.getByLabel('Password').inputValue(), '');
    assert.equal(await page.getByLabel('Username').inputValue(), 'hook-user');
    assert.ok(!(await page.content()).includes(PASSWORD));
    await page.getByRole('link', { name: 'Cancel' }).click();
    await page.getByRole('heading', { level: 1, name: 'Orders stream' }).waitFor();

    await page.getByRole('link', { name: 'Webhooks', exact: true }).first().click();
    const row = page.locator('#webhook-table tbody tr');
    await waitForText(row, 'Orders stream', receiver.url, 'Enabled', 'Healthy');
  });

  it('sends a test batch and shows the success notice', async () => {
    await page.getByRole('link', { name: 'Orders stream' }).click();
    await page.getByRole('link', { name: 'Test', exact: true }).click();
    const before = receiver.requests.length;
    await page.getByRole('button', { name: 'Send Test Batch' }).click();
    const notice = page.locator('#test-notice');
    const text = await waitForText(notice, 'Success send test notification');
    assert.match(text, /Status code\s*200/);
    assert.match(text, /ok/);
    assert.equal(await page.locator('#test-result').getAttribute('aria-live'), 'polite');
    const sent = receiver.requests[before];
    assert.equal(sent.headers.authorization, basic('hook-user', PASSWORD));
    assert.equal(sent.body.events.length, 9);
    assert.equal(sent.body.retryCount, 0);
    await screenshot(page, 'test-notice', { fullPage: true });
  });

  it('shows the failure notice when the receiver fails', async () => {
    receiver.fail(500, 'receiver is down');
    try {
      await page.getByRole('button', { name: 'Send Test Batch' }).click();
      const text = await waitForText(page.locator('#test-notice'), 'Failed send test notification');
      assert.match(text, /Status code\s*500/);
      assert.match(text, /receiver is down/);
    } finally {
      receiver.succeed();
    }
  });

  it('lists an ingested batch in Batch Status, newest first, with its attempts', async () => {
    const events = ['delivery', 'open', 'click'].map((status, i) => ({
      status, messageId: `msg-${i}`, recipient: 'ana@example.com', timestamp: 1767225600000 + i,
    }));
    const ingest = await server.api('POST', '/v1/events', events);
    assert.equal(ingest.status, 202);
    const delivered = await eventually(
      () => receiver.requests.find((r) => r.body && r.body.events.length === 3),
      { what: 'the batch at the receiver' });

    await page.locator('#tab-batches').click();
    await page.getByRole('heading', { level: 2, name: 'Batch Status' }).waitFor();
    const first = page.locator('#batch-table tbody tr.batch-row').first();
    await eventually(async () => {
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.locator('#batches[aria-busy="false"]').waitFor();
      return (await textOf(first)).includes(delivered.body.batchId);
    }, { what: 'the ingested batch listed first', intervalMs: 300 });
    const row = await textOf(first);
    assert.match(row, /3 events/);
    assert.match(row, /Success/);
    assert.match(row, /200/);
    assert.ok(!row.includes('Test'), 'the ingested batch is not a test batch');
    const rows = page.locator('#batch-table tbody tr.batch-row');
    assert.equal(await rows.count(), 3, 'the ingested batch and the two test batches');
    assert.match(await textOf(rows.nth(1)), /Failed/);
    assert.match(await textOf(rows.nth(1)), /receiver is down/);

    const toggle = first.getByRole('button', { name: /Attempts of batch/ });
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    const attempts = page.locator(`#attempts-${delivered.body.batchId}`);
    await waitForText(attempts, 'First attempt', 'HTTP 200');
    await screenshot(page, 'batch-status', { fullPage: true });

    // The status filter asks the API for failed batches only.
    await page.getByLabel('Status', { exact: true }).selectOption('failed');
    await eventually(async () => (await rows.count()) === 1, { what: 'one failed batch' });
    assert.match(await textOf(rows.first()), /Failed/);
  });

  it('disables the webhook in Edit Webhook and enables it again, keeping the password', async () => {
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('link', { name: 'Edit Webhook' }).click();
    await page.getByRole('heading', { level: 1, name: 'Edit Webhook' }).waitFor();
    await page.getByLabel('Disabled').check();
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('heading', { level: 1, name: 'Orders stream' }).waitFor();
    await waitForText(page.locator('#health-callout'), 'receives no events');
    let stored = (await server.api('GET', `/v1/webhooks/${webhookId}`)).body;
    assert.equal(stored.status, 'disabled');
    assert.equal(stored.disabledReason, 'manual');
    assert.deepEqual(stored.auth, { type: 'basic', username: 'hook-user' });

    const toggle = page.getByRole('button', { name: 'Enable webhook' });
    await toggle.click();
    await waitForText(page.locator('#flash'), 'Webhook enabled');
    await page.getByRole('button', { name: 'Disable webhook' }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'toggle-status');
    stored = (await server.api('GET', `/v1/webhooks/${webhookId}`)).body;
    assert.equal(stored.status, 'enabled');
    assert.equal(stored.disabledReason, null);

    await page.getByRole('button', { name: 'Disable webhook' }).click();
    await waitForText(page.locator('#flash'), 'Webhook disabled');
    assert.equal((await server.api('GET', `/v1/webhooks/${webhookId}`)).body.status, 'disabled');
    await page.getByRole('button', { name: 'Enable webhook' }).click();
    await page.getByRole('button', { name: 'Disable webhook' }).waitFor();

    // The blank password on edit kept the stored one.
    const before = receiver.requests.length;
    await page.getByRole('link', { name: 'Test', exact: true }).click();
    await page.getByRole('button', { name: 'Send Test Batch' }).click();
    await waitForText(page.locator('#test-notice'), 'Success send test notification');
    assert.equal(receiver.requests[before].headers.authorization, basic('hook-user', PASSWORD));
  });

  it('pages through Batch Status, newest first', async () => {
    let last;
    for (let i = 0; i < 20; i++) {
      last = await server.api('POST', `/v1/webhooks/${webhookId}/test`);
      assert.equal(last.body.success, true);
    }
    const all = (await server.api('GET', `/v1/webhooks/${webhookId}/batches?limit=1000`)).body.data;
    assert.ok(all.length > 20 && all.length <= 40, `${all.length} batches`);
    await page.goto(`${server.url}/#/webhooks/${webhookId}/batches`);
    const rows = page.locator('#batch-table tbody tr.batch-row');
    await eventually(async () => (await rows.count()) === 20, { what: 'a first page of 20' });
    assert.equal(await rows.first().getAttribute('data-batch-id'), last.body.batchId, 'the newest first');
    assert.ok(await page.getByRole('button', { name: /Newer/ }).isDisabled());
    await page.getByRole('button', { name: /Older/ }).click();
    await waitForText(page.locator('.pager'), 'Page 2');
    await eventually(async () => (await rows.count()) === all.length - 20, { what: 'the rest on page 2' });
    assert.equal(await rows.first().getAttribute('data-batch-id'), all[20].batchId);
    assert.ok(await page.getByRole('button', { name: /Older/ }).isDisabled());
    await page.getByRole('button', { name: /Newer/ }).click();
    await waitForText(page.locator('.pager'), 'Page 1');
    assert.equal(await rows.first().getAttribute('data-batch-id'), last.body.batchId);
  });

  it('says plainly when a webhook is failing, then disabled for failing, and what to do', async () => {
    // A second endpoint that is down, and a webhook that only hears the "flaky" source.
    const down = await startReceiver();
    down.fail(503, 'down for maintenance');
    try {
      const made = await server.api('POST', '/v1/webhooks', {
        name: 'Flaky endpoint', targetUrl: down.url, source: 'flaky', events: ['bounce'],
      });
      assert.equal(made.status, 201);
      const id = made.body.id;
      const event = { status: 'bounce', messageId: 'm-1', recipient: 'bo@example.com', timestamp: 1767225600000, source: 'flaky' };
      assert.equal((await server.api('POST', '/v1/events', [event])).status, 202);
      // The first try and both retries (--retry-schedule 100ms,100ms) fail: a failing spell.
      await eventually(async () => (await server.api('GET', `/v1/webhooks/${id}`)).body.health === 'failing',
        { what: 'health failing', timeoutMs: 5_000 });
      await page.goto(`${server.url}/#/webhooks/${id}`);
      let callout = await waitForText(page.locator('#health-callout'), 'This webhook is failing');
      assert.match(callout, /Send a test batch/);
      assert.match(callout, /marks it healthy/);
      await waitForText(page.locator('.page-head'), 'Enabled', 'Failing');
      await page.locator('#tab-batches').click();
      const firstRow = page.locator('#batch-table tbody tr.batch-row').first();
      const row = await waitForText(firstRow, 'Failed', '503');
      assert.match(row, /down for maintenance/);
      // The cells' texts run together in textContent, so the count is read from its own cell.
      assert.equal((await textOf(firstRow.locator('td[data-label="Attempts"]'))).trim(), '3', 'three attempts');

      // --disable-after 4s after the failure email, nothing fixed it: disabled for failing.
      await eventually(async () => (await server.api('GET', `/v1/webhooks/${id}`)).body.disabledReason === 'failing',
        { what: 'disabled for failing', timeoutMs: 10_000, intervalMs: 200 });
      await page.getByRole('link', { name: 'Overview' }).click();
      callout = await waitForText(page.locator('#health-callout'), 'Disabled because its endpoint kept failing');
      assert.match(callout, /enable it again/);
      await waitForText(page.locator('.page-head'), 'Disabled (failing)', 'Failing');
      await screenshot(page, 'failing', { fullPage: true });

      await page.getByRole('link', { name: 'Webhooks', exact: true }).first().click();
      await waitForText(page.locator('main'), 'needs attention');
      const rows = await waitForText(page.locator('#webhook-table tbody'), 'Flaky endpoint', 'Disabled (failing)');
      assert.match(rows, /Failing/);
      await screenshot(page, 'list');

      // The customer fixes the endpoint, checks it with a test batch and enables it again.
      down.succeed();
      await page.getByRole('link', { name: 'Flaky endpoint' }).click();
      await page.getByRole('link', { name: 'Test', exact: true }).click();
      await page.getByRole('button', { name: 'Send Test Batch' }).click();
      await waitForText(page.locator('#test-notice'), 'Success send test notification');
      await page.getByRole('link', { name: 'Overview' }).click();
      await page.getByRole('button', { name: 'Enable webhook' }).click();
      await waitForText(page.locator('.page-head'), 'Enabled', 'Healthy');
      assert.equal(await page.locator('#health-callout').count(), 0);
      const fixed = (await server.api('GET', `/v1/webhooks/${id}`)).body;
      assert.equal(fixed.status, 'enabled');
      assert.equal(fixed.health, 'healthy');
      assert.equal((await server.api('DELETE', `/v1/webhooks/${id}`)).status, 204);
    } finally {
      await down.close();
    }
  });

  it('deletes a webhook only after confirmation', async () => {
    const made = await server.api('POST', '/v1/webhooks', { name: 'Old endpoint', targetUrl: receiver.url });
    assert.equal(made.status, 201);
    await page.goto(`${server.url}/#/webhooks/${made.body.id}`);
    await page.getByRole('button', { name: 'Delete webhook' }).click();
    const dialog = page.getByRole('dialog');
    await waitForText(dialog, 'Delete \u201cOld endpoint\u201d?');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'delete-webhook');
    assert.equal((await server.api('GET', `/v1/webhooks/${made.body.id}`)).status, 200);

    await page.getByRole('button', { name: 'Delete webhook' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
    await waitForText(page.locator('#flash'), 'deleted');
    assert.equal((await server.api('GET', `/v1/webhooks/${made.body.id}`)).status, 404);
  });

  it('works with the keyboard alone', async () => {
    const p = await browser.context.newPage();
    try {
      await p.goto(server.url + '/');
      await p.getByLabel('API key').waitFor();
      assert.equal(await p.evaluate(() => document.activeElement.id), 'api-key');
      await p.keyboard.type(API_KEY);
      await p.keyboard.press('Enter');
      await p.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
      // Each page moves focus to its heading; Tab goes on from there into the page.
      assert.equal(await p.evaluate(() => document.activeElement.tagName), 'H1');
      const seen = [];
      for (let i = 0; i < 8 && !seen.includes('create-webhook'); i++) {
        await p.keyboard.press('Tab');
        seen.push(await p.evaluate(() => document.activeElement.id || document.activeElement.textContent.trim()));
      }
      assert.deepEqual(seen, ['create-webhook'], 'Create Webhook is the next stop after the heading');
      await p.keyboard.press('Enter');
      await p.getByRole('heading', { level: 1, name: 'Create Webhook' }).waitFor();
      assert.equal(await p.evaluate(() => document.activeElement.tagName), 'H1');
      // Switching a webhook's menus keeps focus on the menu.
      await p.goto(`${server.url}/#/webhooks/${webhookId}`);
      await p.getByRole('heading', { level: 1, name: 'Orders stream' }).waitFor();
      await p.focus('#tab-test');
      await p.keyboard.press('Enter');
      await p.getByRole('button', { name: 'Send Test Batch' }).waitFor();
      assert.equal(await p.evaluate(() => document.activeElement.id), 'tab-test');
      assert.equal(await p.locator('#tab-test').getAttribute('aria-current'), 'page');
      await p.goto(`${server.url}/#/webhooks/new`);
      await p.getByRole('heading', { level: 1, name: 'Create Webhook' }).waitFor();
      const outline = await p.evaluate(() => {
        document.getElementById('name').focus();
        return getComputedStyle(document.activeElement).outlineStyle;
      });
      assert.notEqual(outline, 'none', 'focus is visible');
      // The skip link moves focus to the content without touching the page's route.
      const hash = await p.evaluate(() => location.hash);
      await p.focus('#skip-link');
      await p.keyboard.press('Enter');
      assert.equal(await p.evaluate(() => document.activeElement.id), 'main');
      assert.equal(await p.evaluate(() => location.hash), hash);
    } finally {
      await p.close();
    }
  });

  it('fits a phone-sized screen', async () => {
    const p = await browser.context.newPage();
    try {
      await p.setViewportSize({ width: 390, height: 844 });
      await signIn(p, API_KEY);
      await p.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
      const overflow = () => p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(await overflow() <= 0, 'the list does not scroll sideways');
      await screenshot(p, 'list-phone', { fullPage: true });

      await p.goto(`${server.url}/#/webhooks/${webhookId}/batches`);
      await p.locator('#batch-table').waitFor();
      await p.locator('tr.batch-row').first().getByRole('button').click();
      await waitForText(p.locator('tr.attempts-row').first(), 'First attempt');
      assert.ok(await overflow() <= 0, 'Batch Status does not scroll sideways');
      await screenshot(p, 'batch-status-phone', { fullPage: true });

      await p.goto(`${server.url}/#/webhooks/${webhookId}/edit`);
      await p.getByRole('heading', { level: 1, name: 'Edit Webhook' }).waitFor();
      assert.ok(await overflow() <= 0, 'the form does not scroll sideways');
    } finally {
      await p.close();
    }
  });
});
