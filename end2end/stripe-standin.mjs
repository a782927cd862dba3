// A stand-in for Stripe, for the end-to-end tests of Stripe mode: the API calls the app
// makes (customers, Checkout Sessions, subscriptions, prices by lookup key, products,
// webhook endpoints), a fake hosted checkout page, and Stripe's signed webhook events sent
// to the app when the page's "Pay" is pressed, before the browser is sent back. Every
// object is one of Stripe's published fixtures (tests/fixtures/stripe/, API version
// 2023-10-16, the version the app pins) with the ids, amounts and periods of the payment.
//
//   STANDIN_PORT=4104 APP_URL=http://127.0.0.1:3103 WEBHOOK_SECRET=whsec_... node stripe-standin.mjs

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const port = Number(process.env.STANDIN_PORT ?? 4104);
const appUrl = process.env.APP_URL ?? 'http://127.0.0.1:3103';
const secret = process.env.WEBHOOK_SECRET ?? 'whsec_e2e_standin';
const base = `http://127.0.0.1:${port}`;
const fixtures = JSON.parse(
  readFileSync(new URL('../tests/fixtures/stripe/fixtures3.2023-10-16.json', import.meta.url), 'utf8'),
).resources;
const fixture = (name) => structuredClone(fixtures[name]);

// The catalogue's plans, as `stripe setup` would have made them.
const plans = { starter: 900, creator: 2900, studio: 9900 };

let next = 0;
const id = (prefix) => `${prefix}_standin${++next}`;
const customers = new Map();
const sessions = new Map();
const subscriptions = [];
const replays = new Map(); // Idempotency-Key -> the first answer

const now = () => Math.floor(Date.now() / 1000);
function addMonth(t) {
  const d = new Date(t * 1000);
  d.setUTCMonth(d.getUTCMonth() + 1);
  return Math.floor(d.getTime() / 1000);
}

function price(plan) {
  const p = fixture('price');
  Object.assign(p, {
    id: `price_standin_${plan}`,
    lookup_key: plan,
    product: `studio_billing_${plan}`,
    unit_amount: plans[plan],
    unit_amount_decimal: String(plans[plan]),
    type: 'recurring',
    recurring: { aggregate_usage: null, interval: 'month', interval_count: 1, usage_type: 'licensed' },
  });
  return p;
}
const planOfPrice = (priceId) => Object.keys(plans).find((p) => `price_standin_${p}` === priceId);

/** `a[b][c]=v` form or query pairs, flat. */
const flat = (text) => Object.fromEntries(new URLSearchParams(text));

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function body(req) {
  let data = '';
  for await (const chunk of req) data += chunk;
  return data;
}

function sign(payload) {
  const t = now();
  const v1 = createHmac('sha256', secret).update(`${t}.${payload}`).digest('hex');
  return `t=${t},v1=${v1}`;
}

async function deliver(type, object) {
  const event = fixture('event');
  Object.assign(event, {
    id: id('evt'),
    type,
    created: now(),
    api_version: '2023-10-16',
    data: { object },
  });
  const payload = JSON.stringify(event);
  const res = await fetch(`${appUrl}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': sign(payload) },
    body: payload,
  });
  if (!res.ok) throw new Error(`the app answered ${res.status} to ${type}: ${await res.text()}`);
}

function sessionObject(s, paid) {
  const o = fixture('checkout.session');
  Object.assign(o, {
    id: s.id,
    mode: s.mode,
    url: null,
    status: paid || s.completed ? 'complete' : 'open',
    payment_status: paid ? 'paid' : 'unpaid',
    amount_total: s.amount,
    amount_subtotal: s.amount,
    currency: 'usd',
    customer: s.customer ?? null,
    customer_email: s.email ?? null,
    client_reference_id: s.clientReference,
    metadata: s.metadata,
    success_url: s.success,
    cancel_url: s.cancel,
    subscription: s.subscription ?? null,
  });
  return o;
}

/**
 * Pays a session: Stripe's events to the app, in Stripe's order, then back to the app.
 * `bankDebit`: a plan paid by a method that clears later. Checkout completes unpaid and the
 * subscription stays incomplete until `settle` (POST /settle/{id}, as the bank's answer
 * days later) pays its first invoice.
 */
async function pay(s, bankDebit = false) {
  if (s.mode === 'subscription') {
    const start = now();
    const end = addMonth(start);
    const sub = fixture('subscription');
    const subId = id('sub');
    const plan = planOfPrice(s.price);
    Object.assign(sub, {
      id: subId,
      customer: s.customer,
      status: 'active',
      created: start,
      start_date: start,
      billing_cycle_anchor: start,
      current_period_start: start,
      current_period_end: end,
      cancel_at: null,
      cancel_at_period_end: false,
      canceled_at: null,
      ended_at: null,
      trial_end: null,
      trial_start: null,
      metadata: s.metadata,
      latest_invoice: null,
    });
    sub.items.data[0] = { ...sub.items.data[0], id: id('si'), subscription: subId, price: price(plan) };
    subscriptions.unshift(sub);
    s.subscription = subId;
    const invoice = fixture('invoice');
    const line = fixture('line_item');
    Object.assign(line, {
      id: id('il'),
      amount: plans[plan],
      amount_excluding_tax: plans[plan],
      price: price(plan),
      proration: false,
      type: 'subscription',
      subscription: subId,
      period: { start, end },
      description: `1 × ${plan} (at $${plans[plan] / 100} / month)`,
    });
    Object.assign(invoice, {
      id: id('in'),
      customer: s.customer,
      subscription: subId,
      billing_reason: 'subscription_create',
      status: 'paid',
      paid: true,
      amount_due: plans[plan],
      amount_paid: plans[plan],
      amount_remaining: 0,
      subtotal: plans[plan],
      total: plans[plan],
      period_start: start,
      period_end: start,
      hosted_invoice_url: `${base}/invoice`,
    });
    invoice.lines.data = [line];
    if (bankDebit) {
      sub.status = 'incomplete';
      s.pending = { sub, invoice };
      s.completed = true;
      await deliver('checkout.session.completed', sessionObject(s, false));
      await deliver('customer.subscription.created', sub);
      return;
    }
    await deliver('checkout.session.completed', sessionObject(s, true));
    await deliver('customer.subscription.created', sub);
    await deliver('invoice.paid', invoice);
  } else {
    await deliver('checkout.session.completed', sessionObject(s, true));
    // Its PaymentIntent's event: with the card set up for later charges when asked.
    await deliver('payment_intent.succeeded', paymentIntent({
      amount: s.amount,
      customer: s.customer ?? null,
      payment_method: 'pm_card_visa',
      setup_future_usage: s.setupFutureUsage,
      metadata: s.intentMetadata,
    }));
  }
  s.paid = true;
}

/** A PaymentIntent that succeeded, Stripe's fixture with `fields`. */
function paymentIntent(fields) {
  const pi = fixture('payment_intent');
  Object.assign(pi, {
    id: id('pi'),
    created: now(),
    currency: 'usd',
    status: 'succeeded',
    amount_received: fields.amount,
    last_payment_error: null,
    ...fields,
  });
  return pi;
}

/** The bank's answer to a plan's debit: it cleared, and the first invoice is paid. */
async function settle(s) {
  const { sub, invoice } = s.pending;
  sub.status = 'active';
  await deliver('checkout.session.async_payment_succeeded', sessionObject(s, true));
  await deliver('customer.subscription.updated', sub);
  await deliver('invoice.paid', invoice);
  s.pending = null;
  s.paid = true;
}

function page(s) {
  const amount = `$${(s.amount / 100).toFixed(2)}`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Stripe stand-in checkout</title></head>
<body><main>
<p data-testid="standin-banner">Stripe stand-in (end-to-end tests): no real card is charged.</p>
<h1>${s.description}</h1>
<p>Amount: <strong data-testid="standin-amount">${amount}</strong></p>
<form method="post" action="/pay/${s.id}"><button type="submit">Pay ${amount}</button></form>
${s.mode === 'subscription' ? `<form method="post" action="/pay/${s.id}"><input type="hidden" name="method" value="bank_debit"><button type="submit">Pay by bank debit (${amount})</button></form>` : ''}
<p><a href="${s.cancel}">Back</a></p>
</main></body></html>`;
}

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, base);
    const path = url.pathname;
    const key = req.headers['idempotency-key'];
    if (req.method === 'GET' && path === '/health') return json(res, 200, { ok: true });
    if (req.method === 'POST' && key && replays.has(key)) return json(res, 200, replays.get(key));
    const answer = (status, object) => {
      if (req.method === 'POST' && key && status === 200) replays.set(key, object);
      json(res, status, object);
    };
    if (req.method === 'POST' && path === '/v1/customers') {
      const f = flat(await body(req));
      const c = fixture('customer');
      Object.assign(c, { id: id('cus'), email: f.email, metadata: { account_id: f['metadata[account_id]'] } });
      customers.set(c.id, c);
      return answer(200, c);
    }
    if (req.method === 'POST' && path === '/v1/checkout/sessions') {
      const f = flat(await body(req));
      const metadata = {};
      for (const [k, v] of Object.entries(f)) {
        const m = /^metadata\[(.+)\]$/.exec(k);
        if (m) metadata[m[1]] = v;
      }
      const mode = f.mode;
      const priceId = f['line_items[0][price]'];
      // A top-up that keeps its card (automatic top-ups): its PaymentIntent's setup and
      // metadata, as the app asked.
      const intentMetadata = {};
      for (const [k, v] of Object.entries(f)) {
        const m = /^payment_intent_data\[metadata\]\[(.+)\]$/.exec(k);
        if (m) intentMetadata[m[1]] = v;
      }
      const s = {
        id: id('cs_test'),
        mode,
        metadata,
        setupFutureUsage: f['payment_intent_data[setup_future_usage]'] ?? null,
        intentMetadata,
        price: priceId,
        customer: f.customer,
        email: f.customer_email,
        clientReference: f.client_reference_id,
        success: f.success_url,
        cancel: f.cancel_url,
        amount:
          mode === 'subscription'
            ? plans[planOfPrice(priceId)]
            : Number(f['line_items[0][price_data][unit_amount]']),
        description:
          mode === 'subscription'
            ? `Subscribe to ${planOfPrice(priceId)}`
            : f['line_items[0][price_data][product_data][name]'],
      };
      if (s.amount === undefined || Number.isNaN(s.amount)) return json(res, 400, { error: { type: 'invalid_request_error', message: 'No such price' } });
      sessions.set(s.id, s);
      return answer(200, { ...sessionObject(s, false), url: `${base}/pay/${s.id}` });
    }
    if (req.method === 'GET' && path === '/v1/checkout/sessions') {
      // Stripe's list, filtered by customer and status as its API does.
      const customer = url.searchParams.get('customer');
      const status = url.searchParams.get('status');
      const state = (s) => (s.expired ? 'expired' : s.paid || s.completed ? 'complete' : 'open');
      const data = [...sessions.values()]
        .filter((s) => !customer || s.customer === customer)
        .filter((s) => !status || state(s) === status)
        .reverse()
        .map((s) => ({ ...sessionObject(s, !!s.paid), status: state(s), url: state(s) === 'open' ? `${base}/pay/${s.id}` : null }));
      return json(res, 200, { object: 'list', data, has_more: false, url: '/v1/checkout/sessions' });
    }
    let expire;
    if (req.method === 'POST' && (expire = /^\/v1\/checkout\/sessions\/(cs_test_\w+)\/expire$/.exec(path)) && sessions.has(expire[1])) {
      const s = sessions.get(expire[1]);
      if (s.paid || s.completed) return json(res, 400, { error: { type: 'invalid_request_error', message: 'Only Checkout Sessions with a status of open can be expired.' } });
      s.expired = true;
      return answer(200, { ...sessionObject(s, false), status: 'expired' });
    }
    let pm;
    if (req.method === 'GET' && (pm = /^\/v1\/payment_methods\/(pm_\w+)$/.exec(path))) {
      return json(res, 200, { ...fixture('payment_method'), id: pm[1] });
    }
    if (req.method === 'POST' && path === '/v1/payment_intents') {
      // An automatic top-up's off-session charge of the saved card: paid at once, and
      // Stripe's event follows the answer.
      const f = flat(await body(req));
      const metadata = {};
      for (const [k, v] of Object.entries(f)) {
        const m = /^metadata\[(.+)\]$/.exec(k);
        if (m) metadata[m[1]] = v;
      }
      const pi = paymentIntent({
        amount: Number(f.amount),
        customer: f.customer,
        payment_method: f.payment_method,
        metadata,
      });
      answer(200, pi);
      setTimeout(() => deliver('payment_intent.succeeded', pi).catch((e) => console.error(e)), 200);
      return;
    }
    if (req.method === 'GET' && path === '/v1/subscriptions') {
      const customer = url.searchParams.get('customer');
      const data = subscriptions.filter((s) => s.customer === customer);
      return json(res, 200, { object: 'list', data, has_more: false, url: '/v1/subscriptions' });
    }
    if (req.method === 'GET' && path === '/v1/prices') {
      const keys = [...url.searchParams.entries()].filter(([k]) => k.startsWith('lookup_keys')).map(([, v]) => v);
      const data = keys.filter((k) => k in plans).map(price);
      return json(res, 200, { object: 'list', data, has_more: false, url: '/v1/prices' });
    }
    let m;
    if (req.method === 'GET' && (m = /^\/v1\/products\/studio_billing_(\w+)$/.exec(path)) && m[1] in plans) {
      const p = fixture('product');
      Object.assign(p, { id: `studio_billing_${m[1]}`, name: m[1], metadata: { plan_id: m[1] } });
      return json(res, 200, p);
    }
    if (req.method === 'GET' && path === '/v1/webhook_endpoints') {
      const e = fixture('webhook_endpoint');
      Object.assign(e, {
        url: `${appUrl}/webhooks/stripe`,
        api_version: '2023-10-16',
        enabled_events: [
          'checkout.session.completed', 'checkout.session.async_payment_succeeded',
          'checkout.session.async_payment_failed', 'checkout.session.expired',
          'customer.subscription.created', 'customer.subscription.updated',
          'customer.subscription.deleted', 'invoice.paid', 'invoice.payment_succeeded',
          'invoice.payment_failed', 'payment_intent.succeeded', 'payment_intent.payment_failed',
        ],
        status: 'enabled',
      });
      return json(res, 200, { object: 'list', data: [e], has_more: false, url: '/v1/webhook_endpoints' });
    }
    if ((m = /^\/pay\/(cs_test_\w+)$/.exec(path)) && sessions.has(m[1])) {
      const s = sessions.get(m[1]);
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        return res.end(page(s));
      }
      if (req.method === 'POST') {
        if (s.expired) {
          res.writeHead(410, { 'content-type': 'text/plain' });
          return res.end('This checkout has expired.');
        }
        const bankDebit = flat(await body(req)).method === 'bank_debit';
        if (!s.paid && !s.pending) await pay(s, bankDebit);
        res.writeHead(303, { location: s.success.replace('{CHECKOUT_SESSION_ID}', s.id) });
        return res.end();
      }
    }
    if (req.method === 'POST' && (m = /^\/settle\/(cs_test_\w+)$/.exec(path)) && sessions.get(m[1])?.pending) {
      await settle(sessions.get(m[1]));
      return json(res, 200, { settled: m[1] });
    }
    json(res, 404, { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such route: ${req.method} ${path}` } });
  } catch (e) {
    console.error(e);
    json(res, 500, { error: { type: 'api_error', message: String(e) } });
  }
});

server.listen(port, '127.0.0.1', () => console.log(`Stripe stand-in on ${base}, webhooks to ${appUrl}`));
