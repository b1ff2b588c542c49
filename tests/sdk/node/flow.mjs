// The official Stripe Node SDK (stripe-node 20), unchanged, as a client of Micro's gateway.
//
// `node flow.mjs STEP` runs one step of issue #15's flow and exits non-zero when an
// assertion fails; tests/e2e/test_stripe_sdk_node.py runs each step against a stack it
// started. The steps are those of tests/e2e/test_stripe_sdk_python.py.
//
// Environment: MICRO_API (the gateway, http://127.0.0.1:PORT), STRIPE_KEY (the flow's
// merchant), STRIPE_FRESH_KEY (a merchant with nothing yet), STRIPE_TIGHT_KEY and
// TIGHT_LIMIT (a merchant whose rate limit is that small).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import http from "node:http";

import Stripe from "stripe";

const api = new URL(process.env.MICRO_API);

function sdk(key) {
  // The same client a Stripe user makes, pointed at the gateway; no retries, so every
  // answer the step sees is the first one.
  return new Stripe(key, {
    host: api.hostname,
    port: Number(api.port),
    protocol: api.protocol.replace(":", ""),
    maxNetworkRetries: 0,
    telemetry: false,
  });
}

const stripe = sdk(process.env.STRIPE_KEY);

// The error `call()` rejects with, checked to be of `errorClass`.
async function raises(errorClass, call) {
  try {
    await call();
  } catch (error) {
    assert.ok(error instanceof errorClass, `${error?.type}: ${error?.message}`);
    return error;
  }
  assert.fail(`no ${errorClass.name}`);
}

async function eventually(check, { within = 30_000, what = "it" } = {}) {
  const deadline = Date.now() + within;
  for (;;) {
    const found = await check();
    if (found) return found;
    assert.ok(Date.now() < deadline, `${what} never happened`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// A local webhook receiver: every POST's raw body and headers.
async function receiver() {
  const received = [];
  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      received.push({ body: Buffer.concat(chunks), headers: request.headers });
      response.writeHead(200, { "content-length": "0" });
      response.end();
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}/webhook`;
  return { url, received, close: () => new Promise((resolve) => server.close(resolve)) };
}

const steps = {
  async customers() {
    const email = `ada-${randomUUID().slice(0, 8)}@example.com`;
    const customer = await stripe.customers.create({
      email,
      name: "Ada Lovelace",
      metadata: { order: "7" },
    });
    assert.equal(customer.object, "customer");
    assert.match(customer.id, /^cus_/);
    assert.deepEqual([customer.email, customer.name, customer.livemode], [email, "Ada Lovelace", false]);
    assert.deepEqual(customer.metadata, { order: "7" });
    assert.equal(typeof customer.created, "number");

    const updated = await stripe.customers.update(customer.id, { description: "first customer" });
    assert.deepEqual([updated.id, updated.description], [customer.id, "first customer"]);
    assert.equal((await stripe.customers.retrieve(customer.id)).description, "first customer");
    const found = await stripe.customers.list({ email });
    assert.deepEqual(found.data.map((c) => c.id), [customer.id]);

    const more = [];
    for (let i = 0; i < 4; i++) more.push((await stripe.customers.create({ name: `n${i}` })).id);
    const listed = await stripe.customers.list({ limit: 2 }).autoPagingToArray({ limit: 100 });
    assert.deepEqual(listed.slice(0, 5).map((c) => c.id), [...more].reverse().concat(customer.id));

    const deleted = await stripe.customers.del(more[0]);
    assert.deepEqual([deleted.id, deleted.deleted], [more[0], true]);
    assert.equal((await stripe.customers.retrieve(more[0])).deleted, true);
    const missing = await raises(Stripe.errors.StripeInvalidRequestError, () =>
      stripe.customers.retrieve("cus_doesnotexist"),
    );
    assert.deepEqual([missing.statusCode, missing.code], [404, "resource_missing"]);
  },

  async payment() {
    const customer = await stripe.customers.create({ email: "grace@example.com" });
    const intent = await stripe.paymentIntents.create({
      amount: 5000,
      currency: "usd",
      customer: customer.id,
      capture_method: "manual",
      metadata: { order: "42" },
    });
    assert.equal(intent.object, "payment_intent");
    assert.match(intent.id, /^pi_/);
    assert.deepEqual(
      [intent.status, intent.customer, intent.capture_method, intent.latest_charge],
      ["requires_payment_method", customer.id, "manual", null],
    );
    assert.deepEqual(intent.metadata, { order: "42" });

    const confirmed = await stripe.paymentIntents.confirm(intent.id, {
      payment_method: "pm_card_visa",
    });
    assert.deepEqual([confirmed.id, confirmed.status], [intent.id, "requires_capture"]);
    assert.deepEqual([confirmed.amount_capturable, confirmed.amount_received], [5000, 0]);
    assert.equal(typeof confirmed.latest_charge, "string");

    const captured = await stripe.paymentIntents.capture(intent.id, { amount_to_capture: 3000 });
    assert.deepEqual(
      [captured.status, captured.amount_received, captured.amount_capturable],
      ["succeeded", 3000, 0],
    );

    const refund = await stripe.refunds.create({
      payment_intent: intent.id,
      amount: 1000,
      metadata: { why: "one broken" },
    });
    assert.equal(refund.object, "refund");
    assert.match(refund.id, /^re_/);
    assert.deepEqual(
      [refund.amount, refund.currency, refund.status, refund.payment_intent],
      [1000, "usd", "succeeded", intent.id],
    );
    const noted = await stripe.refunds.update(refund.id, { metadata: { ticket: "9" } });
    assert.deepEqual(noted.metadata, { why: "one broken", ticket: "9" });
    const refunded = await stripe.refunds.retrieve(refund.id, { expand: ["payment_intent"] });
    assert.deepEqual([refunded.payment_intent.object, refunded.payment_intent.id], ["payment_intent", intent.id]);

    const expanded = await stripe.paymentIntents.retrieve(intent.id, {
      expand: ["customer", "payment_method", "latest_charge"],
    });
    assert.deepEqual([expanded.customer.object, expanded.customer.email], ["customer", "grace@example.com"]);
    assert.deepEqual([expanded.payment_method.object, expanded.payment_method.card.last4], ["payment_method", "4242"]);
    const charge = expanded.latest_charge;
    assert.deepEqual([charge.object, charge.id, charge.payment_intent], ["charge", confirmed.latest_charge, intent.id]);
    // As Stripe counts a partial capture: the 2000 not captured are refunded too.
    assert.deepEqual([charge.amount, charge.amount_captured, charge.amount_refunded], [5000, 3000, 3000]);
    assert.equal(charge.refunded, false);
    assert.deepEqual([charge.captured, charge.paid, charge.status], [true, true, "succeeded"]);

    const listed = await stripe.paymentIntents.list({ limit: 1, expand: ["data.customer"] });
    assert.equal(listed.data[0].customer.object, "customer");

    const unknown = await raises(Stripe.errors.StripeInvalidRequestError, () =>
      stripe.paymentIntents.retrieve(intent.id, { expand: ["amount"] }),
    );
    assert.deepEqual([unknown.statusCode, unknown.param], [400, "expand"]);
  },

  async payment_methods() {
    const visa = await stripe.paymentMethods.retrieve("pm_card_visa");
    assert.deepEqual([visa.object, visa.type, visa.customer], ["payment_method", "card", null]);
    assert.deepEqual([visa.card.brand, visa.card.last4], ["visa", "4242"]);

    const customer = await stripe.customers.create({ name: "Katherine Johnson" });
    const attached = await stripe.paymentMethods.attach("pm_card_visa", { customer: customer.id });
    assert.match(attached.id, /^pm_/);
    assert.notEqual(attached.id, "pm_card_visa");
    assert.deepEqual([attached.customer, attached.card.last4], [customer.id, "4242"]);
    const methods = await stripe.paymentMethods.list({ customer: customer.id, type: "card" });
    assert.deepEqual(methods.data.map((m) => m.id), [attached.id]);
    const own = await stripe.customers.listPaymentMethods(customer.id);
    assert.deepEqual(own.data.map((m) => m.id), [attached.id]);

    const paid = await stripe.paymentIntents.create({
      amount: 1200,
      currency: "usd",
      customer: customer.id,
      payment_method: attached.id,
      confirm: true,
    });
    assert.deepEqual([paid.status, paid.payment_method, paid.amount_received], ["succeeded", attached.id, 1200]);

    const stranger = await stripe.customers.create({ name: "someone else" });
    const refused = await raises(Stripe.errors.StripeInvalidRequestError, () =>
      stripe.paymentIntents.create({
        amount: 100,
        currency: "usd",
        customer: stranger.id,
        payment_method: attached.id,
      }),
    );
    assert.equal(refused.statusCode, 400);
    const noCustomer = await raises(Stripe.errors.StripeInvalidRequestError, () =>
      stripe.paymentIntents.create({ amount: 100, currency: "usd", customer: "cus_doesnotexist" }),
    );
    assert.deepEqual([noCustomer.code, noCustomer.param], ["resource_missing", "customer"]);

    const detached = await stripe.paymentMethods.detach(attached.id);
    assert.deepEqual([detached.id, detached.customer], [attached.id, null]);
  },

  async pagination() {
    // Its own merchant, so the list holds exactly what this step made.
    const fresh = sdk(process.env.STRIPE_FRESH_KEY);
    const made = [];
    for (let i = 0; i < 7; i++) {
      made.push(await fresh.paymentIntents.create({ amount: 100 + i, currency: "usd" }));
    }
    const first = await fresh.paymentIntents.list({ limit: 3 });
    assert.deepEqual([first.data.length, first.has_more, first.url], [3, true, "/v1/payment_intents"]);
    const walked = [];
    await fresh.paymentIntents.list({ limit: 3 }).autoPagingEach((intent) => {
      walked.push(intent);
    });
    assert.ok(walked.every((intent) => intent.object === "payment_intent"));
    assert.deepEqual(walked.map((intent) => intent.id), made.map((intent) => intent.id).reverse());
    const iterated = [];
    for await (const intent of fresh.paymentIntents.list({ limit: 2 })) iterated.push(intent.amount);
    assert.deepEqual(iterated, [106, 105, 104, 103, 102, 101, 100]);
  },

  async decline() {
    const intent = await stripe.paymentIntents.create({ amount: 2500, currency: "usd" });
    const declined = await raises(Stripe.errors.StripeCardError, () =>
      stripe.paymentIntents.confirm(intent.id, {
        payment_method: "pm_card_visa_chargeDeclinedInsufficientFunds",
      }),
    );
    assert.deepEqual(
      [declined.statusCode, declined.code, declined.decline_code],
      [402, "card_declined", "insufficient_funds"],
    );
    const failed = declined.payment_intent;
    assert.deepEqual(
      [failed.object, failed.id, failed.status, failed.amount],
      ["payment_intent", intent.id, "requires_payment_method", 2500],
    );
    assert.equal(failed.last_payment_error.decline_code, "insufficient_funds");

    const atOnce = await raises(Stripe.errors.StripeCardError, () =>
      stripe.paymentIntents.create({
        amount: 2500,
        currency: "usd",
        payment_method: "pm_card_chargeDeclined",
        confirm: true,
      }),
    );
    assert.equal(atOnce.decline_code, "generic_decline");
  },

  async idempotency() {
    const idempotencyKey = `order-${randomUUID()}`;
    const first = await stripe.paymentIntents.create({ amount: 700, currency: "usd" }, { idempotencyKey });
    const again = await stripe.paymentIntents.create({ amount: 700, currency: "usd" }, { idempotencyKey });
    assert.deepEqual([again.object, again.id, again.amount, again.created], ["payment_intent", first.id, 700, first.created]);
    assert.equal(again.lastResponse.headers["idempotent-replayed"], "true");
    const reused = await raises(Stripe.errors.StripeIdempotencyError, () =>
      stripe.paymentIntents.create({ amount: 800, currency: "usd" }, { idempotencyKey }),
    );
    assert.equal(reused.statusCode, 400);
  },

  async webhooks() {
    const started = Math.floor(Date.now() / 1000) - 1;
    const app = await receiver();
    let endpoint;
    let delivery;
    let paid;
    try {
      endpoint = await stripe.webhookEndpoints.create({
        url: app.url,
        enabled_events: ["payment_intent.succeeded"],
      });
      assert.equal(endpoint.object, "webhook_endpoint");
      assert.match(endpoint.id, /^we_/);
      assert.deepEqual(
        [endpoint.url, endpoint.status, endpoint.enabled_events],
        [app.url, "enabled", ["payment_intent.succeeded"]],
      );
      assert.match(endpoint.secret, /^whsec_/);
      assert.equal((await stripe.webhookEndpoints.retrieve(endpoint.id)).secret ?? null, null);
      const described = await stripe.webhookEndpoints.update(endpoint.id, { description: "shop" });
      assert.equal(described.description, "shop");
      const endpoints = await stripe.webhookEndpoints.list();
      assert.ok(endpoints.data.some((e) => e.id === endpoint.id));

      paid = await stripe.paymentIntents.create({
        amount: 900,
        currency: "usd",
        payment_method: "pm_card_visa",
        confirm: true,
      });
      delivery = await eventually(
        () =>
          app.received.find((d) => {
            const event = JSON.parse(d.body.toString());
            return event.type === "payment_intent.succeeded" && event.data.object.id === paid.id;
          }),
        { what: "the payment_intent.succeeded delivery" },
      );
    } finally {
      await app.close();
    }
    const header = delivery.headers["stripe-signature"];
    assert.ok(header, `no Stripe-Signature among ${Object.keys(delivery.headers)}`);
    assert.match(header, /^t=\d+(,v1=[0-9a-f]{64})+$/);
    const event = stripe.webhooks.constructEvent(delivery.body, header, endpoint.secret);
    assert.deepEqual([event.object, event.type, event.data.object.id], ["event", "payment_intent.succeeded", paid.id]);
    assert.throws(
      () => stripe.webhooks.constructEvent(Buffer.concat([delivery.body, Buffer.from(" ")]), header, endpoint.secret),
      Stripe.errors.StripeSignatureVerificationError,
    );

    assert.equal((await stripe.events.retrieve(event.id)).id, event.id);
    const listed = await stripe.events.list({ type: "payment_intent.succeeded", created: { gte: started }, limit: 100 });
    assert.ok(listed.data.some((e) => e.id === event.id));
    const gone = await stripe.webhookEndpoints.del(endpoint.id);
    assert.deepEqual([gone.id, gone.deleted], [endpoint.id, true]);
  },

  async invalid_requests() {
    const missing = await raises(Stripe.errors.StripeInvalidRequestError, () =>
      stripe.paymentIntents.retrieve("pi_doesnotexist"),
    );
    assert.deepEqual([missing.statusCode, missing.code], [404, "resource_missing"]);
    // What a user quotes to support: the SDK reads it from the `Request-Id` header.
    assert.match(missing.requestId ?? "", /^req_/);
    const invalid = await raises(Stripe.errors.StripeInvalidRequestError, () =>
      stripe.paymentIntents.create({ amount: -5, currency: "usd" }),
    );
    assert.deepEqual([invalid.statusCode, invalid.param], [400, "amount"]);
    const unserved = await raises(Stripe.errors.StripeInvalidRequestError, () => stripe.charges.list());
    assert.equal(unserved.statusCode, 404);
    assert.match(unserved.message, /^Unrecognized request URL \(GET:? \/v1\/charges\)/);
  },

  async authentication() {
    const refused = await raises(Stripe.errors.StripeAuthenticationError, () =>
      sdk(`sk_test_${"0".repeat(32)}`).paymentIntents.list(),
    );
    assert.equal(refused.statusCode, 401);
  },

  async rate_limit() {
    const tight = sdk(process.env.STRIPE_TIGHT_KEY);
    for (let i = 0; i < Number(process.env.TIGHT_LIMIT); i++) await tight.paymentIntents.list();
    const limited = await raises(Stripe.errors.StripeRateLimitError, () => tight.paymentIntents.list());
    assert.equal(limited.statusCode, 429);
    assert.ok(limited.code);
  },

  async balance() {
    // What the merchant's payments received less what was refunded, as the SDK's own lists
    // tell it, once the ledger has it (it posts a moment after each payment).
    await stripe.paymentIntents.create({ amount: 1500, currency: "usd", payment_method: "pm_card_visa", confirm: true });
    let received = 0;
    await stripe.paymentIntents.list({ limit: 100 }).autoPagingEach((intent) => {
      if (intent.currency === "usd") received += intent.amount_received;
    });
    let refunded = 0;
    await stripe.refunds.list({ limit: 100 }).autoPagingEach((refund) => {
      if (refund.status === "succeeded" && refund.currency === "usd") refunded += refund.amount;
    });
    assert.ok(received - refunded >= 1500);
    const balance = await eventually(
      async () => {
        const found = await stripe.balance.retrieve();
        const usd = (funds) => funds.filter((f) => f.currency === "usd").reduce((sum, f) => sum + f.amount, 0);
        // Every authorization of the flow was captured or declined: nothing is on hold.
        return usd(found.available) === received - refunded && usd(found.pending) === 0 ? found : null;
      },
      { what: `${received - refunded} usd available and none pending` },
    );
    assert.deepEqual([balance.object, balance.livemode], ["balance", false]);
    const available = balance.available.filter((funds) => funds.currency === "usd");
    assert.equal(available.length, 1);
    assert.equal(available[0].source_types.card, available[0].amount);
  },
};

const step = process.argv[2];
assert.ok(step in steps, `no step ${step}: ${Object.keys(steps).join(", ")}`);
try {
  await steps[step]();
} catch (error) {
  // An SDK error says what Micro answered; an assertion says what was expected.
  const raw = error?.raw;
  const answer = raw ? `\nanswer: HTTP ${raw.statusCode} ${JSON.stringify({ ...raw, headers: undefined })}` : "";
  console.error(`FAIL ${step}: ${error?.stack ?? error}${answer}`);
  process.exit(1);
}
console.log(`ok ${step}`);
