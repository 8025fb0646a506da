// The waiting room (edge-worker/src/waiting_room.rs, line.rs, queue_token.rs) over HTTP, against
// the release .wasm in workerd (Miniflare API) on 127.0.0.1, with a loopback siteverify stub.
// The line's clock is set per request (`x-test-now-ms`, honoured only with ALLOW_TEST_ROUTES) so
// that the rate, abandonment and expiry are shown without waiting. Attacks: a forged or moved
// place, another event's place, a bot with no/used/foreign Turnstile token, a burst of joins from
// one client, siteverify down (fail closed), a line nobody opened.
import assert from "node:assert/strict";
import { createECDH, createPublicKey, verify } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { makeFixture, request, startWorker } from "./harness.mjs";
import { startSiteverify } from "./siteverify-stub.mjs";

const SIGNING_KEY = "5a".repeat(32);
const TURNSTILE_SECRET = "turnstile-secret-test";
let fx;
let worker;
let siteverify;

const vars = () => ({
  WAITING_ROOM_SIGNING_KEY: SIGNING_KEY,
  TURNSTILE_SECRET,
  TURNSTILE_HOSTNAMES: "tickets.example",
  TURNSTILE_SITEVERIFY_URL: siteverify.url,
  QUEUE_ALLOWED_ORIGINS: "https://tickets.example",
});

before(async () => {
  fx = makeFixture();
  siteverify = await startSiteverify(TURNSTILE_SECRET);
  worker = await startWorker(fx, vars());
});

after(async () => {
  await worker?.mf.dispose();
  await siteverify?.close();
  fx?.cleanup();
});

const code = (r) => r.json?.type?.split(":").pop();
let clientNo = 0;
/** A client of its own (address), so that join limits of one test do not reach another. */
const newClient = () => `198.51.100.${++clientNo}`;

async function open(event, { rate = 2, abandon = 30, at = 0, token = fx.data.tokens.admin_all } = {}) {
  return request(worker.url, "PUT", `/v1/queue/${event}/config`, {
    bearer: token,
    body: { rate_per_sec: rate, abandon_after_secs: abandon },
    headers: { "x-test-now-ms": String(at) },
  });
}

async function join(event, { at = 0, ip = newClient(), device = "dev-1", token = siteverify.issue(), key, base = worker.url } = {}) {
  const headers = { "x-test-now-ms": String(at), "cf-connecting-ip": ip };
  if (key) headers["idempotency-key"] = key;
  return request(base, "POST", `/v1/queue/${event}/join`, { body: { turnstile_token: token, device_id: device }, headers });
}

const status = (event, place, at) =>
  request(worker.url, "GET", `/v1/queue/${event}/status`, { bearer: place, headers: { "x-test-now-ms": String(at) } });
const stats = async (event) => (await request(worker.url, "GET", `/v1/queue/${event}/stats`)).json;

/** The public key of SIGNING_KEY, as the back end's WAITING_ROOM_PUBLIC_KEY. */
function publicKey() {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(Buffer.from(SIGNING_KEY, "hex"));
  const point = ecdh.getPublicKey();
  return createPublicKey({
    key: { kty: "EC", crv: "P-256", x: point.subarray(1, 33).toString("base64url"), y: point.subarray(33).toString("base64url") },
    format: "jwk",
  });
}

/** The claims of an ES256 JWS once its signature checks with the public key alone. */
function verifyAdmission(jws) {
  const [header, claims, sig] = jws.split(".");
  assert.deepEqual(JSON.parse(Buffer.from(header, "base64url")), { alg: "ES256", typ: "JWT" });
  const ok = verify("sha256", Buffer.from(`${header}.${claims}`), { key: publicKey(), dsaEncoding: "ieee-p1363" }, Buffer.from(sig, "base64url"));
  assert.ok(ok, "the admission's signature checks with the public key");
  return JSON.parse(Buffer.from(claims, "base64url"));
}

describe("a line is opened by an admin only", () => {
  test("joining a line nobody opened is 404 queue_not_open", async () => {
    const r = await join("q-closed");
    assert.equal(r.status, 404, r.text);
    assert.equal(code(r), "queue_not_open");
    assert.equal((await request(worker.url, "GET", "/v1/queue/q-closed/stats")).status, 404);
  });

  test("a door token, another event's admin and no token cannot set the rate", async () => {
    assert.equal((await open("evt-a", { token: fx.data.tokens.staff })).status, 403);
    assert.equal((await open("evt-a", { token: fx.data.tokens.admin_b })).status, 403);
    assert.equal((await open("evt-a", { token: "" })).status, 401);
    const bad = await open("evt-a", { rate: 0, token: fx.data.tokens.admin_a });
    assert.equal(bad.status, 400);
    assert.equal((await join("evt-a")).status, 404, "still closed");
    const ok = await open("evt-a", { rate: 7, token: fx.data.tokens.admin_a });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.rate_per_sec, 7);
  });
});

describe("places in arrival order, advancing at the rate", () => {
  test("concurrent joins take distinct positions 1..N", async () => {
    assert.equal((await open("q-order", { rate: 1 })).status, 200);
    const answers = await Promise.all(Array.from({ length: 20 }, () => join("q-order")));
    for (const a of answers) assert.equal(a.status, 200, a.text);
    const positions = answers.map((a) => a.json.position).sort((x, y) => x - y);
    assert.deepEqual(positions, Array.from({ length: 20 }, (_, i) => i + 1));
    assert.equal((await stats("q-order")).arrivals, 20);
  });

  test("the counter admits `rate` a second and the admission verifies with the public key", async () => {
    assert.equal((await open("q-rate", { rate: 2, at: 0 })).status, 200);
    const places = [];
    for (let i = 0; i < 5; i += 1) {
      const r = await join("q-rate", { at: 0 });
      assert.equal(r.status, 200, r.text);
      places.push(r.json);
    }
    assert.equal(places[4].position, 5);
    assert.equal(places[4].ahead, 4);
    assert.equal(places[4].estimated_wait_secs, 3);
    // One second later: two admitted, the third next.
    const first = await status("q-rate", places[0].place, 1000);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.state, "admitted");
    const claims = verifyAdmission(first.json.admission);
    assert.equal(claims.iss, "karcis-waiting-room");
    assert.equal(claims.aud, "karcis-checkout");
    assert.equal(claims.event_id, "q-rate");
    assert.equal(claims.place, 1);
    assert.equal(claims.exp - claims.iat, 600);
    assert.match(claims.jti, /^[0-9a-f]{32}$/);
    assert.equal((await status("q-rate", places[1].place, 1000)).json.state, "admitted");
    const third = await status("q-rate", places[2].place, 1000);
    assert.deepEqual(
      { state: third.json.state, ahead: third.json.ahead, wait: third.json.estimated_wait_secs },
      { state: "waiting", ahead: 0, wait: 1 },
    );
    assert.equal(third.json.admission, undefined);
    // Polled again: the same admission (one jti per place).
    const again = await status("q-rate", places[0].place, 2000);
    assert.equal(verifyAdmission(again.json.admission).jti, claims.jti);
    const s = await stats("q-rate");
    assert.equal(s.served_through, 4);
    assert.equal(s.admitted, 4);
  });

  test("a place not polled when its turn comes is skipped and counted", async () => {
    assert.equal((await open("q-gone", { rate: 1, abandon: 5, at: 0 })).status, 200);
    const a = (await join("q-gone", { at: 0 })).json;
    const b = (await join("q-gone", { at: 0 })).json;
    // Nobody polls until 5.5 s: the next join moves the counter past both.
    const c = (await join("q-gone", { at: 5500 })).json;
    assert.equal(c.position, 3);
    const r = await status("q-gone", c.place, 5600);
    assert.equal(r.json.state, "admitted", r.text);
    for (const gone of [a, b]) {
      const g = await status("q-gone", gone.place, 5600);
      assert.equal(g.status, 410);
      assert.equal(code(g), "place_abandoned");
    }
    const s = await stats("q-gone");
    assert.deepEqual({ arrivals: s.arrivals, admitted: s.admitted, abandoned: s.abandoned }, { arrivals: 3, admitted: 1, abandoned: 2 });
    assert.equal(s.max_wait_ms, 100);
  });

  test("an admission expires after its ttl", async () => {
    assert.equal((await open("q-exp", { rate: 5, at: 0 })).status, 200);
    const p = (await join("q-exp", { at: 0 })).json;
    assert.equal((await status("q-exp", p.place, 1000)).json.state, "admitted");
    const late = await status("q-exp", p.place, 1000 + 600_000);
    assert.equal(late.status, 410);
    assert.equal(code(late), "admission_expired");
  });
});

describe("attacks on places", () => {
  test("an edited, foreign or missing place is 401 invalid_place", async () => {
    assert.equal((await open("q-forge", { rate: 1 })).status, 200);
    assert.equal((await open("q-other", { rate: 1 })).status, 200);
    const p = (await join("q-forge")).json;
    const [payload, mac] = p.place.split(".");
    const moved = JSON.parse(Buffer.from(payload, "base64url"));
    moved.p = 1_000;
    const forged = `${Buffer.from(JSON.stringify(moved)).toString("base64url")}.${mac}`;
    for (const [event, token] of [["q-forge", forged], ["q-other", p.place], ["q-forge", ""], ["q-forge", "a.b"]]) {
      const r = await status(event, token, 0);
      assert.equal(r.status, 401, `${event} ${token}`);
      assert.equal(code(r), "invalid_place");
      assert.match(r.type, /problem\+json/);
    }
  });
});

describe("bots meet Turnstile and the join limits", () => {
  test("no, unknown, used, foreign-site or other-form tokens are 403 and join nothing", async () => {
    assert.equal((await open("q-bot", { rate: 1 })).status, 200);
    const used = siteverify.issue();
    assert.equal((await join("q-bot", { token: used })).status, 200);
    for (const token of ["", "never-issued", used, siteverify.issue("evil.example"), siteverify.issue("tickets.example", "checkout")]) {
      const r = await join("q-bot", { token });
      assert.equal(r.status, 403, `${token}: ${r.text}`);
      assert.equal(code(r), "captcha_failed");
    }
    assert.equal((await stats("q-bot")).arrivals, 1);
  });

  test("a retried join with its Idempotency-Key gets the same place", async () => {
    assert.equal((await open("q-retry", { rate: 1 })).status, 200);
    const token = siteverify.issue();
    const ip = newClient();
    const first = await join("q-retry", { token, ip, key: "retry-key-1" });
    const second = await join("q-retry", { token, ip, key: "retry-key-1" });
    assert.equal(first.status, 200, first.text);
    assert.equal(second.status, 200, second.text);
    assert.equal(second.json.position, first.json.position);
    assert.equal((await stats("q-retry")).arrivals, 1);
    // Another key with the used token is a second use: refused.
    assert.equal((await join("q-retry", { token, ip, key: "retry-key-2" })).status, 403);
  });

  test("a burst of joins from one device gets exactly the limit", async () => {
    assert.equal((await open("q-burst", { rate: 1 })).status, 200);
    const ip = newClient();
    const answers = await Promise.all(Array.from({ length: 12 }, () => join("q-burst", { ip, device: "bot-1" })));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [...Array(5).fill(200), ...Array(7).fill(429)]);
    assert.equal(code(answers.find((a) => a.status === 429)), "queue_join_limited");
    // Another device at the same address still joins; a minute later the device does too.
    assert.equal((await join("q-burst", { ip, device: "phone-2" })).status, 200);
    assert.equal((await join("q-burst", { ip, device: "bot-1", at: 61_000 })).status, 200);
    const s = await stats("q-burst");
    assert.equal(s.arrivals, 7);
    assert.equal(s.joins_limited, 7);
  });

  test("siteverify down or failing refuses the join (fail closed)", async () => {
    assert.equal((await open("q-down", { rate: 1 })).status, 200);
    for (const mode of ["500", "internal"]) {
      siteverify.mode = mode;
      try {
        const r = await join("q-down");
        assert.equal(r.status, 503, r.text);
        assert.equal(code(r), "captcha_unavailable");
      } finally {
        siteverify.mode = "ok";
      }
    }
    assert.equal((await stats("q-down")).arrivals, 0);
  });
});

describe("configuration and the browser", () => {
  test("without its signing key or Turnstile secret the line refuses (503)", async () => {
    for (const unset of ["WAITING_ROOM_SIGNING_KEY", "TURNSTILE_SECRET"]) {
      const bare = await startWorker(fx, { ...vars(), [unset]: undefined });
      try {
        const r = await join("evt-a", { base: bare.url });
        assert.equal(r.status, 503, r.text);
        assert.equal(code(r), "queue_unconfigured");
      } finally {
        await bare.mf.dispose();
      }
    }
  });

  test("CORS answers the site's origin only", async () => {
    const pre = (origin) =>
      fetch(new URL("/v1/queue/evt-a/join", worker.url), { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST" } });
    const ours = await pre("https://tickets.example");
    assert.equal(ours.status, 204);
    assert.equal(ours.headers.get("access-control-allow-origin"), "https://tickets.example");
    const theirs = await pre("https://evil.example");
    assert.equal(theirs.headers.get("access-control-allow-origin"), null);
  });
});
