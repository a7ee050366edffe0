// The mailhooks dashboard: the platform's webhook screens over the /v1 HTTP API.
//
// Plain JavaScript, no framework and no build step: the server embeds this file as is.
// Views are built with DOM calls (never innerHTML), so webhook names and endpoint
// answers can never become markup. Routing is by URL fragment (#/webhooks/wh_…/batches),
// so the server needs no route per screen. The API key lives in sessionStorage: it is
// gone when the tab closes and is never sent anywhere but this server's /v1 API.
'use strict';

(function () {
  const KEY_STORAGE = 'mailhooks.apiKey';
  const PAGE_SIZE = 20;
  const EVENT_TYPES = [
    ['bounce', 'Bounce'],
    ['delay', 'Delay'],
    ['injection', 'Injection'],
    ['open', 'Open'],
    ['click', 'Click'],
    ['delivery', 'Delivery'],
    ['spam_complaint', 'Spam complaint'],
    ['link_unsubscribe', 'Link unsubscribe'],
    ['list_unsubscribe', 'List unsubscribe'],
  ];
  const EVENT_LABEL = Object.fromEntries(EVENT_TYPES);
  const BATCH_STATUS_LABEL = {
    pending: 'Pending',
    retrying: 'Retrying',
    success: 'Success',
    failed: 'Failed',
  };

  const main = document.getElementById('main');
  const flash = document.getElementById('flash');
  const accountNav = document.getElementById('account-nav');

  // Bumped on every navigation: a view whose data arrives after the person has moved on
  // must not draw over the new one.
  let renderToken = 0;
  // The route drawn last: switching menus on one webhook's page keeps focus on the menu.
  let lastRoute = null;
  let flashTimer = null;
  // A notice shown just before a navigation (“created”, then the new page) survives
  // that one navigation and is cleared by the next.
  let flashFresh = false;

  // ---------------------------------------------------------------- small helpers

  /** Builds an element: h('a', {href: '#/'}, 'text', child, ...). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith('on') && typeof value === 'function') {
        el.addEventListener(name.slice(2), value);
      } else if (name === 'className') {
        el.className = value;
      } else if (name === 'value') {
        el.value = value;
      } else if (name === 'checked') {
        el.checked = Boolean(value);
      } else {
        el.setAttribute(name, value === true ? '' : String(value));
      }
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function formatTime(iso) {
    if (!iso) return null;
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return iso;
    return date.toLocaleString(undefined, {
      year: 'numeric', month: 'short', day: 'numeric',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
  }

  function time(iso, fallback) {
    if (!iso) return fallback === undefined ? '—' : fallback;
    return h('time', { datetime: iso, title: iso }, formatTime(iso));
  }

  function badge(kind, text) {
    return h('span', { className: 'badge badge-' + kind }, text);
  }

  function statusBadge(webhook) {
    if (webhook.status === 'enabled') return badge('ok', 'Enabled');
    return badge(webhook.disabledReason === 'failing' ? 'bad' : 'muted',
      webhook.disabledReason === 'failing' ? 'Disabled (failing)' : 'Disabled');
  }

  function healthBadge(webhook) {
    return webhook.health === 'failing' ? badge('bad', 'Failing') : badge('ok', 'Healthy');
  }

  function batchBadge(status) {
    const kind = { success: 'ok', failed: 'bad', retrying: 'warn', pending: 'muted' }[status] || 'muted';
    return badge(kind, BATCH_STATUS_LABEL[status] || status);
  }

  function eventsSummary(events) {
    if (events.length === EVENT_TYPES.length) return 'All events';
    return events.map((e) => EVENT_LABEL[e] || e).join(', ');
  }

  function attemptCount(batch) {
    return batch.lastAttemptAt ? batch.retryCount + 1 : 0;
  }

  function showFlash(message, kind) {
    clearTimeout(flashTimer);
    flash.className = 'flash' + (message ? ' flash-' + (kind || 'ok') : '');
    flash.textContent = message || '';
    flashFresh = Boolean(message);
    if (message) flashTimer = setTimeout(() => showFlash(''), 10000);
  }

  function setTitle(...parts) {
    document.title = [...parts, 'mailhooks'].filter(Boolean).join(' · ');
  }

  /** Replaces the page content and moves focus to its heading, as a page load would. */
  function mount(...children) {
    main.replaceChildren(...children.flat().filter(Boolean));
    const heading = main.querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    }
    window.scrollTo(0, 0);
  }

  // ---------------------------------------------------------------- the API

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details || null;
    }

    /** The form field this error is about, in the API's naming (targetUrl, auth.password…). */
    get field() {
      if (this.details && typeof this.details.field === 'string') return this.details.field;
      if (this.code === 'target_not_allowed') return 'targetUrl';
      return null;
    }
  }

  function apiKey() {
    return sessionStorage.getItem(KEY_STORAGE);
  }

  async function api(method, path, body, options) {
    const key = (options && options.key) || apiKey();
    const headers = { Accept: 'application/json', Authorization: 'Bearer ' + key };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      // Relative, so the dashboard also works where a host app mounts mailhooks under a prefix.
      response = await fetch('v1/' + path, init);
    } catch (e) {
      throw new ApiError(0, 'network',
        'Cannot reach the mailhooks server. Check that it is running, then try again.');
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      const failure = new ApiError(response.status, error.code || 'http_' + response.status,
        error.message || 'The server answered ' + response.status + '.', error.details);
      if (response.status === 401 && !(options && options.key)) {
        signOut('Your API key was refused. Sign in again.');
      }
      throw failure;
    }
    return data;
  }

  function webhookPath(id, rest) {
    return 'webhooks/' + encodeURIComponent(id) + (rest || '');
  }

  // ---------------------------------------------------------------- routing

  function parseRoute() {
    let parts;
    try {
      parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
    } catch (e) {
      return { view: 'missing' }; // a malformed %-escape
    }
    if (parts.length === 0) return { view: 'list' };
    if (parts[0] === 'webhooks') {
      if (parts.length === 1) return { view: 'list' };
      if (parts[1] === 'new' && parts.length === 2) return { view: 'create' };
      const id = parts[1];
      const tab = parts[2] || 'overview';
      if (parts.length <= 3 && ['overview', 'test', 'batches', 'edit'].includes(tab)) {
        return { view: tab === 'edit' ? 'edit' : 'detail', id, tab };
      }
    }
    return { view: 'missing' };
  }

  function navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  function route() {
    const token = ++renderToken;
    if (flashFresh) flashFresh = false;
    else if (flash.textContent) showFlash('');
    const signedIn = Boolean(apiKey());
    accountNav.hidden = !signedIn;
    if (!signedIn) return renderSignIn();
    const r = parseRoute();
    const previous = lastRoute;
    lastRoute = r;
    switch (r.view) {
      case 'list': return renderList(token);
      case 'create': return renderForm(token, null);
      case 'edit': return renderForm(token, r.id);
      case 'detail': return renderDetail(token, r.id, r.tab,
        Boolean(previous && previous.view === 'detail' && previous.id === r.id && previous.tab !== r.tab));
      default: return renderMissing('There is no such page.');
    }
  }

  function current(token) {
    return token === renderToken;
  }

  function renderMissing(message) {
    setTitle('Not found');
    mount(h('h1', {}, 'Not found'), h('p', {}, message), h('p', {}, h('a', { href: '#/' }, 'Back to webhooks')));
  }

  function renderLoadError(error) {
    if (error.status === 401) return; // signOut already drew the sign-in page
    if (error.status === 404) return renderMissing('This webhook does not exist, or it belongs to another account.');
    setTitle('Error');
    mount(h('h1', {}, 'Something went wrong'),
      h('p', { className: 'callout callout-bad', role: 'alert' }, error.message),
      h('p', {}, h('button', { type: 'button', onclick: route }, 'Try again')));
  }

  function loading(text) {
    main.replaceChildren(h('p', { className: 'loading', role: 'status' }, text || 'Loading…'));
  }

  // Loads what a page shows: the answer, or null when this page is no longer the one on
  // screen or the load failed (the error is then shown in its place).
  async function loadFor(token, text, path) {
    loading(text);
    try {
      const body = await api('GET', path);
      return current(token) ? body : null;
    } catch (e) {
      if (current(token)) renderLoadError(e);
      return null;
    }
  }

  // ---------------------------------------------------------------- sign in

  function signOut(message) {
    sessionStorage.removeItem(KEY_STORAGE);
    renderToken++;
    accountNav.hidden = true;
    renderSignIn(message);
  }

  function renderSignIn(message) {
    setTitle('Sign in');
    const error = h('p', { className: 'field-error', id: 'api-key-error' });
    const input = h('input', {
      id: 'api-key', name: 'apiKey', type: 'password', autocomplete: 'off', spellcheck: 'false',
      required: true, 'aria-describedby': 'api-key-hint api-key-error',
    });
    const button = h('button', { type: 'submit', className: 'primary' }, 'Sign in');
    const alertBox = h('div', { id: 'sign-in-alert', role: 'alert' });
    const fail = (text) => {
      error.textContent = text;
      input.setAttribute('aria-invalid', 'true');
      alertBox.replaceChildren(h('p', { className: 'callout callout-bad' }, text));
      input.focus();
    };
    const form = h('form', {
      className: 'card narrow', novalidate: true, 'aria-labelledby': 'sign-in-title',
      onsubmit: async (event) => {
        event.preventDefault();
        const key = input.value.trim();
        if (!key) return fail('Enter your API key.');
        button.disabled = true;
        button.textContent = 'Signing in…';
        try {
          await api('GET', 'webhooks', undefined, { key });
          sessionStorage.setItem(KEY_STORAGE, key);
          showFlash('');
          route();
        } catch (e) {
          fail(e.status === 401
            ? 'That API key was refused. Check it and try again.'
            : e.message);
        } finally {
          button.disabled = false;
          button.textContent = 'Sign in';
        }
      },
    },
    h('h1', { id: 'sign-in-title' }, 'Sign in'),
    alertBox,
    h('div', { className: 'field' },
      h('label', { for: 'api-key' }, 'API key'),
      h('p', { className: 'hint', id: 'api-key-hint' },
        'Kept in this browser tab only, and sent only to this server\u2019s API. ',
        h('code', {}, 'mailhooks account create'), ' prints a new key.'),
      input,
      error),
    h('div', { className: 'actions' }, button));
    mount(form);
    if (message) alertBox.replaceChildren(h('p', { className: 'callout callout-bad' }, message));
    input.focus();
  }

  // ---------------------------------------------------------------- webhook list

  async function renderList(token) {
    setTitle('Webhooks');
    const list = await loadFor(token, 'Loading webhooks…', 'webhooks');
    if (!list) return;
    const webhooks = list.data;
    webhooks.sort((a, b) => a.name.localeCompare(b.name));
    const failing = webhooks.filter((w) => w.health === 'failing' || w.disabledReason === 'failing');
    const header = h('div', { className: 'page-head' },
      h('h1', {}, 'Webhooks'),
      h('a', { className: 'button primary', href: '#/webhooks/new', id: 'create-webhook' }, 'Create Webhook'));
    const intro = h('p', { className: 'lead' },
      'Each webhook receives the email events it tracks, in batches, at its target URL.');
    let warning = null;
    if (failing.length) {
      warning = h('div', { className: 'callout callout-bad' },
        h('p', {}, h('strong', {}, failing.length === 1
          ? '1 webhook needs attention.'
          : failing.length + ' webhooks need attention.'),
        failing.length === 1
          ? ' Its endpoint keeps failing. Open it to see what to do.'
          : ' Their endpoints keep failing. Open each to see what to do.'));
    }
    if (webhooks.length === 0) {
      return mount(header, intro, h('div', { className: 'empty card' },
        h('p', {}, 'No webhooks yet.'),
        h('p', {}, 'Create one to have email events pushed to your endpoint.')));
    }
    const rows = webhooks.map((w) => h('tr', {},
      h('th', { scope: 'row', 'data-label': 'Name', className: 'wide' },
        h('a', { href: '#/webhooks/' + encodeURIComponent(w.id) }, w.name)),
      h('td', { 'data-label': 'Target URL', className: 'url wide' }, w.targetUrl),
      h('td', { 'data-label': 'Status' }, statusBadge(w)),
      h('td', { 'data-label': 'Health' }, healthBadge(w))));
    mount(header, intro, warning, h('div', { className: 'table-wrap' },
      h('table', { className: 'stack', id: 'webhook-table' },
        h('caption', { className: 'visually-hidden' }, 'Your webhooks'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Name'),
          h('th', { scope: 'col' }, 'Target URL'),
          h('th', { scope: 'col' }, 'Status'),
          h('th', { scope: 'col' }, 'Health'))),
        h('tbody', {}, rows))));
  }

  // ---------------------------------------------------------------- create / edit form

  /** A labelled input with its hint and the place its error goes. */
  function field(id, label, input, hint) {
    const described = [hint ? id + '-hint' : null, id + '-error'].filter(Boolean).join(' ');
    input.id = id;
    input.setAttribute('aria-describedby', described);
    return h('div', { className: 'field', id: id + '-field' },
      h('label', { for: id }, label),
      hint ? h('p', { className: 'hint', id: id + '-hint' }, hint) : null,
      input,
      h('p', { className: 'field-error', id: id + '-error' }));
  }

  /** A radio button; its hint is its description, not part of its name. */
  function radio(name, value, label, checked, hint) {
    const id = name + '-' + value;
    return h('div', { className: 'choice' },
      h('input', { type: 'radio', id, name, value, checked, 'aria-describedby': hint ? id + '-hint' : null }),
      h('div', {},
        h('label', { for: id }, label),
        hint ? h('span', { className: 'hint', id: id + '-hint' }, hint) : null));
  }

  async function renderForm(token, id) {
    let webhook = null;
    if (id) {
      setTitle('Edit webhook');
      webhook = await loadFor(token, 'Loading webhook…', webhookPath(id));
      if (!webhook) return;
    }
    setTitle(webhook ? 'Edit ' + webhook.name : 'Create Webhook');
    const hasBasic = Boolean(webhook && webhook.auth.type === 'basic');
    const allEvents = !webhook || webhook.events.length === EVENT_TYPES.length;

    const name = h('input', { type: 'text', name: 'name', required: true, autocomplete: 'off', value: webhook ? webhook.name : '' });
    const targetUrl = h('input', {
      type: 'url', name: 'targetUrl', required: true, autocomplete: 'off', spellcheck: 'false',
      inputmode: 'url', placeholder: 'https://example.com/hooks/mail', value: webhook ? webhook.targetUrl : '',
    });
    const source = h('input', { type: 'text', name: 'source', autocomplete: 'off', spellcheck: 'false', list: 'source-options', value: webhook ? webhook.source : 'all' });
    const username = h('input', { type: 'text', name: 'username', autocomplete: 'off', spellcheck: 'false', value: hasBasic ? webhook.auth.username : '' });
    const password = h('input', {
      type: 'password', name: 'password', autocomplete: 'new-password',
      placeholder: hasBasic ? 'Unchanged' : null,
    });

    const eventBoxes = EVENT_TYPES.map(([value, label]) => h('div', { className: 'choice' },
      h('input', {
        type: 'checkbox', id: 'event-' + value, name: 'events', value,
        checked: !webhook || webhook.events.includes(value),
      }),
      h('label', { for: 'event-' + value }, label)));
    const eventList = h('div', { className: 'checkbox-grid', id: 'event-list' }, eventBoxes);
    const eventsFieldset = h('fieldset', { id: 'events', 'aria-describedby': 'events-error' },
      h('legend', {}, 'Events to track'),
      radio('events-mode', 'all', 'All events', allEvents),
      radio('events-mode', 'some', 'Selected events', !allEvents),
      eventList,
      h('p', { className: 'field-error', id: 'events-error' }));

    const basicFields = h('div', { className: 'nested', id: 'basic-fields' },
      field('auth-username', 'Username', username),
      field('auth-password', 'Password', password, hasBasic
        ? 'Leave blank to keep the stored password. It is never shown.'
        : 'Sent with every request; never shown again after saving.'));
    const authFieldset = h('fieldset', { id: 'auth', 'aria-describedby': 'auth-error' },
      h('legend', {}, 'Authentication'),
      radio('auth-type', 'none', 'None', !hasBasic, 'The target URL needs no authentication.'),
      radio('auth-type', 'basic', 'Basic auth', hasBasic, 'A username and password sent in the Authorization header of every request.'),
      basicFields,
      h('p', { className: 'field-error', id: 'auth-error' }));

    let statusFieldset = null;
    if (webhook) {
      statusFieldset = h('fieldset', { id: 'status', 'aria-describedby': 'status-error' },
        h('legend', {}, 'Status'),
        radio('status', 'enabled', 'Enabled', webhook.status === 'enabled', 'Receives the events it tracks.'),
        radio('status', 'disabled', 'Disabled', webhook.status === 'disabled', 'Receives no events until enabled again.'),
        h('p', { className: 'field-error', id: 'status-error' }));
    }

    const summary = h('div', { id: 'form-errors', role: 'alert' });
    const submit = h('button', { type: 'submit', className: 'primary' }, webhook ? 'Save changes' : 'Create webhook');
    const form = h('form', { className: 'card', novalidate: true, id: 'webhook-form', 'aria-labelledby': 'form-title' },
      h('h1', { id: 'form-title' }, webhook ? 'Edit Webhook' : 'Create Webhook'),
      summary,
      field('name', 'Name', name, 'For you: 1 to 100 characters.'),
      field('targetUrl', 'Target URL', targetUrl, 'An http or https URL that accepts POST requests with a JSON body.'),
      field('source', 'Source of recipient activity', source,
        h('span', {}, h('code', {}, 'all'), ' for every source, or one source name. Events without a source come from ', h('code', {}, 'default'), '.')),
      h('datalist', { id: 'source-options' }, h('option', { value: 'all' }), h('option', { value: 'default' })),
      eventsFieldset,
      authFieldset,
      statusFieldset,
      h('div', { className: 'actions' },
        submit,
        h('a', { className: 'button', href: webhook ? '#/webhooks/' + encodeURIComponent(webhook.id) : '#/' }, 'Cancel')));

    const syncVisibility = () => {
      const some = form.querySelector('input[name="events-mode"]:checked').value === 'some';
      eventList.hidden = !some;
      const basic = form.querySelector('input[name="auth-type"]:checked').value === 'basic';
      basicFields.hidden = !basic;
    };
    form.addEventListener('change', syncVisibility);
    syncVisibility();

    const fields = {
      name: name,
      targetUrl: targetUrl,
      source: source,
      events: eventsFieldset,
      auth: authFieldset,
      'auth.type': authFieldset,
      'auth.username': username,
      'auth.password': password,
      status: statusFieldset,
    };

    const clearErrors = () => {
      summary.replaceChildren();
      for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
      for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
      for (const el of form.querySelectorAll('.has-error')) el.classList.remove('has-error');
    };

    // An edited field loses its error; the summary goes with the last one.
    form.addEventListener('input', (event) => {
      const holder = event.target.closest('.field, fieldset');
      const invalid = holder && (holder.matches('[aria-invalid]') ? holder : holder.querySelector('[aria-invalid]'));
      if (!invalid) return;
      invalid.removeAttribute('aria-invalid');
      holder.classList.remove('has-error');
      const message = document.getElementById(invalid.id + '-error');
      if (message) message.textContent = '';
      if (!form.querySelector('[aria-invalid]')) summary.replaceChildren();
    });

    const showError = (error) => {
      const target = error.field && fields[error.field];
      if (target) {
        const where = document.getElementById(target.id + '-error');
        where.textContent = error.message;
        target.setAttribute('aria-invalid', 'true');
        (target.closest('.field') || target).classList.add('has-error');
        summary.replaceChildren(h('div', { className: 'callout callout-bad' },
          h('p', {}, 'The webhook was not saved. ',
            h('a', { href: '#' + target.id, onclick: (e) => { e.preventDefault(); focusField(target); } },
              'Fix the highlighted field'), ': ', error.message)));
        focusField(target);
      } else {
        summary.replaceChildren(h('div', { className: 'callout callout-bad' },
          h('p', {}, 'The webhook was not saved: ', error.message)));
        summary.setAttribute('tabindex', '-1');
        summary.focus();
      }
    };

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors();
      const body = collect(form, webhook, { name, targetUrl, source, username, password });
      if (body.events && body.events.length === 0) {
        return showError(new ApiError(400, 'validation_failed', 'Choose at least one event to track, or All events.', { field: 'events' }));
      }
      submit.disabled = true;
      submit.textContent = 'Saving…';
      try {
        const saved = webhook
          ? await api('PATCH', webhookPath(webhook.id), body)
          : await api('POST', 'webhooks', body);
        showFlash(webhook ? 'Changes saved.' : 'Webhook \u201c' + saved.name + '\u201d created.');
        navigate('#/webhooks/' + encodeURIComponent(saved.id));
      } catch (e) {
        if (e.status !== 401) showError(e);
      } finally {
        submit.disabled = false;
        submit.textContent = webhook ? 'Save changes' : 'Create webhook';
      }
    });

    mount(h('p', { className: 'breadcrumb' },
      h('a', { href: '#/' }, 'Webhooks'),
      webhook ? [' / ', h('a', { href: '#/webhooks/' + encodeURIComponent(webhook.id) }, webhook.name)] : null),
    form);
  }

  function focusField(el) {
    const focusable = el.matches('fieldset') ? el.querySelector('input:checked, input') : el;
    if (focusable) focusable.focus();
    el.scrollIntoView({ block: 'center' });
  }

  /** The create body, or on edit only what changed (a PATCH keeps everything else). */
  function collect(form, webhook, inputs) {
    const allEvents = form.querySelector('input[name="events-mode"]:checked').value === 'all';
    const events = allEvents
      ? EVENT_TYPES.map(([value]) => value)
      : [...form.querySelectorAll('input[name="events"]:checked')].map((el) => el.value);
    const authType = form.querySelector('input[name="auth-type"]:checked').value;
    let auth = { type: 'none' };
    if (authType === 'basic') {
      auth = { type: 'basic', username: inputs.username.value };
      // Blank on edit means "keep the stored password": the API keeps it when none is sent.
      if (inputs.password.value !== '' || !webhook || webhook.auth.type !== 'basic') {
        auth.password = inputs.password.value;
      }
    }
    const body = {
      name: inputs.name.value,
      targetUrl: inputs.targetUrl.value.trim(),
      source: inputs.source.value.trim(),
      events,
      auth,
    };
    if (!webhook) return body;
    const status = form.querySelector('input[name="status"]:checked').value;
    const changed = {};
    if (body.name !== webhook.name) changed.name = body.name;
    if (body.targetUrl !== webhook.targetUrl) changed.targetUrl = body.targetUrl;
    if (body.source !== webhook.source) changed.source = body.source;
    const sameEvents = events.length === webhook.events.length && events.every((e) => webhook.events.includes(e));
    if (!sameEvents) changed.events = events;
    const sameAuth = auth.type === webhook.auth.type
      && (auth.type === 'none' || (auth.username === webhook.auth.username && auth.password === undefined));
    if (!sameAuth) changed.auth = auth;
    if (status !== webhook.status) changed.status = status;
    return changed;
  }

  // ---------------------------------------------------------------- detail page

  async function renderDetail(token, id, tab, fromMenu) {
    const webhook = await loadFor(token, 'Loading webhook…', webhookPath(id));
    if (!webhook) return;
    const tabs = [['overview', 'Overview', ''], ['test', 'Test', '/test'], ['batches', 'Batch Status', '/batches']];
    setTitle(webhook.name, tabs.find((t) => t[0] === tab)[1]);
    const base = '#/webhooks/' + encodeURIComponent(webhook.id);
    const nav = h('nav', { className: 'tabs', 'aria-label': 'Webhook menus' },
      h('ul', {}, tabs.map(([key, label, suffix]) => h('li', {},
        h('a', { href: base + suffix, 'aria-current': key === tab ? 'page' : null, id: 'tab-' + key }, label)))));
    const panel = h('section', { className: 'panel', 'aria-labelledby': 'tab-' + tab });
    mount(
      h('p', { className: 'breadcrumb' }, h('a', { href: '#/' }, 'Webhooks'), ' / ', webhook.name),
      h('div', { className: 'page-head' },
        h('h1', {}, webhook.name),
        h('div', { className: 'badges' }, statusBadge(webhook), ' ', healthBadge(webhook))),
      h('p', { className: 'url lead' }, webhook.targetUrl),
      healthCallout(webhook),
      nav,
      panel);
    if (fromMenu) document.getElementById('tab-' + tab).focus();
    if (tab === 'test') renderTest(panel, webhook);
    else if (tab === 'batches') renderBatches(token, panel, webhook);
    else renderOverview(panel, webhook);
  }

  /** Says plainly when a webhook is failing or was disabled for it, and what to do. */
  function healthCallout(webhook) {
    const base = '#/webhooks/' + encodeURIComponent(webhook.id);
    const checks = h('ol', {},
      h('li', {}, 'Check that ', h('span', { className: 'url' }, webhook.targetUrl),
        ' is reachable and answers with a 2xx status within the delivery timeout. ',
        h('a', { href: base + '/batches' }, 'Batch Status'), ' shows what it answered.'),
      h('li', {}, 'If it needs credentials, check the authentication in ',
        h('a', { href: base + '/edit' }, 'Edit Webhook'), '.'),
      h('li', {}, h('a', { href: base + '/test' }, 'Send a test batch'), ' to confirm it works.'));
    if (webhook.status === 'disabled' && webhook.disabledReason === 'failing') {
      return h('section', { className: 'callout callout-bad', id: 'health-callout', 'aria-labelledby': 'health-title' },
        h('h2', { id: 'health-title' }, 'Disabled because its endpoint kept failing'),
        h('p', {}, 'Batches to this webhook failed on every retry and the endpoint was not fixed in time, so mailhooks disabled it. ',
          'It receives no events while disabled. To fix it:'),
        checks,
        h('p', {}, 'Then enable it again (Overview \u2192 Enable webhook). Enabling marks it healthy.'));
    }
    if (webhook.health === 'failing') {
      return h('section', { className: 'callout callout-bad', id: 'health-callout', 'aria-labelledby': 'health-title' },
        h('h2', { id: 'health-title' }, 'This webhook is failing'),
        h('p', {}, 'A batch failed on every retry', webhook.failingSince ? [' (failing since ', time(webhook.failingSince), ')'] : null,
          '. Your account\u2019s notification address was emailed. If it is not fixed in time, mailhooks disables the webhook. To fix it:'),
        checks,
        h('p', {}, 'Any successful delivery (a retry, a new batch or a test batch), or a change of its target URL or authentication, marks it healthy again.'));
    }
    if (webhook.status === 'disabled') {
      return h('p', { className: 'callout', id: 'health-callout' },
        'Disabled: this webhook receives no events until you enable it.');
    }
    return null;
  }

  function renderOverview(panel, webhook) {
    const auth = webhook.auth.type === 'basic'
      ? ['Basic auth, username ', h('code', {}, webhook.auth.username), ' (password stored, never shown)']
      : 'None';
    const rows = [
      ['Name', webhook.name],
      ['Target URL', h('span', { className: 'url' }, webhook.targetUrl)],
      ['Source of recipient activity', webhook.source === 'all' ? 'All sources' : h('code', {}, webhook.source)],
      ['Events', eventsSummary(webhook.events)],
      ['Authentication', auth],
      ['Status', [statusBadge(webhook), webhook.status === 'disabled'
        ? (webhook.disabledReason === 'failing' ? ' by mailhooks: its endpoint kept failing' : ' by you') : null]],
      ['Health', healthBadge(webhook)],
      ['Failing since', time(webhook.failingSince)],
      ['Last successful delivery', time(webhook.lastSuccessAt, 'None yet')],
      ['Created', time(webhook.createdAt)],
      ['Updated', time(webhook.updatedAt)],
      ['ID', h('code', {}, webhook.id)],
    ];
    const enabled = webhook.status === 'enabled';
    const toggle = h('button', { type: 'button', id: 'toggle-status' }, enabled ? 'Disable webhook' : 'Enable webhook');
    toggle.addEventListener('click', async () => {
      toggle.disabled = true;
      try {
        const saved = await api('PATCH', webhookPath(webhook.id), { status: enabled ? 'disabled' : 'enabled' });
        showFlash(saved.status === 'enabled' ? 'Webhook enabled.' : 'Webhook disabled: it receives no events until you enable it.');
        await renderDetail(++renderToken, webhook.id, 'overview');
        const again = document.getElementById('toggle-status');
        if (again) again.focus();
      } catch (e) {
        toggle.disabled = false;
        if (e.status !== 401) showFlash(e.message, 'bad');
      }
    });
    const remove = h('button', { type: 'button', className: 'danger', id: 'delete-webhook' }, 'Delete webhook');
    remove.addEventListener('click', () => confirmDelete(webhook, remove));
    panel.replaceChildren(
      h('h2', {}, 'Settings'),
      h('dl', { className: 'settings' }, rows.map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value)))),
      h('div', { className: 'actions' },
        h('a', { className: 'button primary', href: '#/webhooks/' + encodeURIComponent(webhook.id) + '/edit', id: 'edit-webhook' }, 'Edit Webhook'),
        toggle,
        remove));
  }

  function confirmDelete(webhook, opener) {
    const error = h('p', { className: 'field-error', role: 'alert' });
    const confirm = h('button', { type: 'button', className: 'danger', id: 'confirm-delete' }, 'Delete');
    const cancel = h('button', { type: 'button', id: 'cancel-delete' }, 'Cancel');
    const dialog = h('dialog', { 'aria-labelledby': 'delete-title', 'aria-describedby': 'delete-text', className: 'dialog' },
      h('h2', { id: 'delete-title' }, 'Delete \u201c' + webhook.name + '\u201d?'),
      h('p', { id: 'delete-text' }, 'It stops receiving events at once and its batch history is removed. This cannot be undone.'),
      error,
      h('div', { className: 'actions' }, confirm, cancel));
    const close = () => {
      dialog.close();
      dialog.remove();
      opener.focus();
    };
    cancel.addEventListener('click', close);
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); close(); });
    confirm.addEventListener('click', async () => {
      confirm.disabled = true;
      try {
        await api('DELETE', webhookPath(webhook.id));
        dialog.close();
        dialog.remove();
        showFlash('Webhook \u201c' + webhook.name + '\u201d deleted.');
        navigate('#/');
      } catch (e) {
        confirm.disabled = false;
        if (e.status === 401) dialog.remove();
        else error.textContent = e.message;
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  }

  function renderTest(panel, webhook) {
    const result = h('div', { id: 'test-result', 'aria-live': 'polite', 'aria-atomic': 'true' });
    const send = h('button', { type: 'button', className: 'primary', id: 'send-test' }, 'Send Test Batch');
    send.addEventListener('click', async () => {
      send.disabled = true;
      send.textContent = 'Sending…';
      result.replaceChildren(h('p', { className: 'loading' }, 'Sending the test batch and waiting for the answer…'));
      try {
        const report = await api('POST', webhookPath(webhook.id, '/test'));
        result.replaceChildren(testNotice(report, webhook));
      } catch (e) {
        if (e.status !== 401) {
          result.replaceChildren(h('div', { className: 'notice notice-bad' }, h('p', {}, h('strong', {}, 'The test could not be sent: '), e.message)));
        }
      } finally {
        send.disabled = false;
        send.textContent = 'Send Test Batch';
      }
    });
    panel.replaceChildren(
      h('h2', {}, 'Test'),
      h('p', {}, 'Sends one batch of nine sample events, one of each type, to ',
        h('span', { className: 'url' }, webhook.targetUrl),
        ' with this webhook\u2019s authentication, now, whether the webhook is enabled or not. It is listed in Batch Status as a test batch.'),
      h('div', { className: 'actions' }, send),
      result);
  }

  function testNotice(report, webhook) {
    const ok = report.success;
    const facts = [
      ['Status code', report.statusCode === null || report.statusCode === undefined ? 'No answer' : String(report.statusCode)],
      report.error ? ['Error', report.error] : null,
      ['Time', report.durationMs + ' ms'],
      ['Batch ID', h('code', {}, report.batchId)],
    ].filter(Boolean);
    return h('div', { className: 'notice ' + (ok ? 'notice-ok' : 'notice-bad'), id: 'test-notice' },
      h('p', { className: 'notice-title' }, h('strong', {}, report.message)),
      h('dl', { className: 'facts' }, facts.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)))),
      h('p', { className: 'facts-label' }, 'Response body'),
      responseBody(report.responseBody),
      ok ? null : h('p', {}, 'The endpoint must answer with a 2xx status. Fix it, then send the test batch again.'),
      h('p', {}, h('a', { href: '#/webhooks/' + encodeURIComponent(webhook.id) + '/batches' }, 'See it in Batch Status')));
  }

  function responseBody(text) {
    if (text === null || text === undefined || text === '') return h('p', { className: 'muted' }, '(empty)');
    return h('pre', { className: 'body', tabindex: '0', 'aria-label': 'Response body' }, text);
  }

  // ---------------------------------------------------------------- batch status

  function renderBatches(token, panel, webhook) {
    // cursors[i] is the cursor of page i; page 0 is the newest.
    const state = { cursors: [null], page: 0, status: '' };
    const table = h('div', { id: 'batches', 'aria-live': 'polite', 'aria-busy': 'false' });
    const filter = h('select', { id: 'batch-filter', name: 'status' },
      h('option', { value: '' }, 'All'),
      Object.entries(BATCH_STATUS_LABEL).map(([value, label]) => h('option', { value }, label)));
    const refresh = h('button', { type: 'button', id: 'refresh-batches' }, 'Refresh');
    const pager = h('nav', { className: 'pager', 'aria-label': 'Batch pages' });

    const load = async () => {
      table.setAttribute('aria-busy', 'true');
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      const cursor = state.cursors[state.page];
      if (cursor) query.set('cursor', cursor);
      if (state.status) query.set('status', state.status);
      let answer;
      try {
        answer = await api('GET', webhookPath(webhook.id, '/batches?' + query));
      } catch (e) {
        if (!current(token)) return;
        table.setAttribute('aria-busy', 'false');
        if (e.status !== 401) table.replaceChildren(h('p', { className: 'callout callout-bad' }, e.message));
        return;
      }
      if (!current(token)) return;
      state.cursors[state.page + 1] = answer.nextCursor || null;
      table.replaceChildren(batchTable(webhook, answer.data, state));
      table.setAttribute('aria-busy', 'false');
      pager.replaceChildren(
        h('button', { type: 'button', id: 'newer-batches', disabled: state.page === 0, onclick: () => { state.page--; load(); } }, '\u2190 Newer'),
        h('span', {}, 'Page ' + (state.page + 1)),
        h('button', { type: 'button', id: 'older-batches', disabled: !answer.nextCursor, onclick: () => { state.page++; load(); } }, 'Older \u2192'));
    };

    filter.addEventListener('change', () => {
      state.status = filter.value;
      state.cursors = [null];
      state.page = 0;
      load();
    });
    refresh.addEventListener('click', () => {
      state.cursors = [null];
      state.page = 0;
      load();
    });
    panel.replaceChildren(
      h('h2', {}, 'Batch Status'),
      h('p', {}, 'What was sent to the endpoint and what it answered, newest first.'),
      h('div', { className: 'toolbar' },
        h('label', { for: 'batch-filter' }, 'Status'), filter, refresh),
      table,
      pager);
    table.replaceChildren(h('p', { className: 'loading' }, 'Loading batches…'));
    load();
  }

  function batchTable(webhook, batches, state) {
    if (batches.length === 0) {
      return h('p', { className: 'empty card' }, state.status
        ? 'No ' + BATCH_STATUS_LABEL[state.status].toLowerCase() + ' batches.'
        : 'No batches yet. Events this webhook tracks are sent here as batches; a test batch shows here too.');
    }
    const rows = [];
    for (const batch of batches) {
      const detailsId = 'attempts-' + batch.batchId;
      const toggle = h('button', {
        type: 'button', className: 'small', 'aria-expanded': 'false', 'aria-controls': detailsId,
        'aria-label': 'Attempts of batch ' + batch.batchId,
      }, 'Attempts', h('span', { className: 'chevron', 'aria-hidden': 'true' }));
      const detailRow = h('tr', { className: 'attempts-row', id: detailsId, hidden: true },
        h('td', { colspan: '6' }));
      toggle.addEventListener('click', () => toggleAttempts(webhook, batch, toggle, detailRow));
      const attempts = attemptCount(batch);
      rows.push(h('tr', { className: 'batch-row', 'data-batch-id': batch.batchId },
        h('td', { 'data-label': 'Time' }, time(batch.lastAttemptAt || batch.createdAt)),
        h('th', { scope: 'row', 'data-label': 'Batch ID', className: 'wide first' },
          h('code', {}, batch.batchId), batch.test ? [' ', badge('info', 'Test')] : null,
          h('span', { className: 'sub' }, batch.eventCount + (batch.eventCount === 1 ? ' event' : ' events'))),
        h('td', { 'data-label': 'Status' }, batchBadge(batch.status),
          batch.status === 'retrying' && batch.nextAttemptAt ? h('span', { className: 'sub' }, 'next try ', time(batch.nextAttemptAt)) : null),
        h('td', { 'data-label': 'Attempts', className: 'num' }, String(attempts)),
        h('td', { 'data-label': 'Response', className: 'wide last' },
          batch.responseCode !== null && batch.responseCode !== undefined ? h('strong', {}, String(batch.responseCode)) : null,
          batch.error ? h('span', { className: 'sub error-text' }, batch.error) : null,
          batch.responseBody ? h('span', { className: 'sub body-preview' }, preview(batch.responseBody)) : null,
          batch.responseCode === null && !batch.error && !batch.responseBody ? '—' : null),
        h('td', { 'data-label': '', className: 'end' }, toggle)));
      rows.push(detailRow);
    }
    return h('div', { className: 'table-wrap' },
      h('table', { className: 'stack batches', id: 'batch-table' },
        h('caption', { className: 'visually-hidden' }, 'Batches sent to ' + webhook.name + ', newest first'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Time'),
          h('th', { scope: 'col' }, 'Batch ID'),
          h('th', { scope: 'col' }, 'Status'),
          h('th', { scope: 'col' }, 'Attempts'),
          h('th', { scope: 'col' }, 'Response'),
          h('th', { scope: 'col' }, h('span', { className: 'visually-hidden' }, 'Details')))),
        h('tbody', {}, rows)));
  }

  function preview(text) {
    const flat = text.replace(/\s+/g, ' ').trim();
    return flat.length > 80 ? flat.slice(0, 80) + '…' : flat;
  }

  async function toggleAttempts(webhook, batch, toggle, row) {
    const open = toggle.getAttribute('aria-expanded') === 'true';
    if (open) {
      toggle.setAttribute('aria-expanded', 'false');
      row.hidden = true;
      return;
    }
    toggle.setAttribute('aria-expanded', 'true');
    row.hidden = false;
    const cell = row.firstChild;
    cell.replaceChildren(h('p', { className: 'loading' }, 'Loading attempts…'));
    try {
      const full = await api('GET', webhookPath(webhook.id, '/batches/' + encodeURIComponent(batch.batchId)));
      cell.replaceChildren(attemptList(full));
    } catch (e) {
      if (e.status !== 401) cell.replaceChildren(h('p', { className: 'error-text' }, e.message));
    }
  }

  function attemptList(batch) {
    const attempts = batch.attempts || [];
    if (attempts.length === 0) return h('p', {}, 'Not tried yet.');
    return h('ol', { className: 'attempts', 'aria-label': 'Attempts of batch ' + batch.batchId },
      attempts.map((a) => h('li', {},
        h('p', {},
          h('strong', {}, a.retryCount === 0 ? 'First attempt' : 'Retry ' + a.retryCount), ' · ',
          time(a.attemptedAt), ' · ', a.durationMs + ' ms', ' · ',
          a.responseCode !== null && a.responseCode !== undefined ? 'HTTP ' + a.responseCode : 'no answer',
          a.error ? [' · ', h('span', { className: 'error-text' }, a.error)] : null),
        responseBody(a.responseBody))));
  }

  // ---------------------------------------------------------------- start

  document.getElementById('sign-out').addEventListener('click', () => {
    signOut();
    showFlash('Signed out. The API key was removed from this tab.');
  });
  document.getElementById('skip-link').addEventListener('click', (event) => {
    // The fragment is the router's; move focus without touching it.
    event.preventDefault();
    main.focus();
  });
  window.addEventListener('hashchange', route);
  route();
})();
