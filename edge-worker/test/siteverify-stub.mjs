// A loopback stand-in for Turnstile's siteverify, as documented (the same rules as the Rust stub
// in functions/src/captcha/stub.rs): the secret checked (`invalid-input-secret`), the token known
// (`invalid-input-response`), single use (`timeout-or-duplicate`, except a repeat with the first
// use's `idempotency_key`, which gets the same answer), `success` with `hostname` and `action`.
// `issue(hostname, action)` makes a token as the widget would after a solved challenge; `mode`
// makes it answer 500 or `internal-error`, or hang (bounded) so the worker's call fails.
import { createServer } from "node:http";

export async function startSiteverify(secret) {
  const tokens = new Map();
  let next = 0;
  const stub = { calls: 0, mode: "ok", issue: null, url: null, close: null };
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      stub.calls += 1;
      const answer = (status, value) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      if (req.method !== "POST" || req.url !== "/turnstile/v0/siteverify") return answer(404, {});
      if (stub.mode === "500") return answer(500, {});
      if (stub.mode === "internal") return answer(200, { success: false, "error-codes": ["internal-error"] });
      let form;
      try {
        form = JSON.parse(body);
      } catch {
        return answer(400, { success: false, "error-codes": ["bad-request"] });
      }
      if (form.secret !== secret) return answer(200, { success: false, "error-codes": ["invalid-input-secret"] });
      const issued = tokens.get(form.response);
      if (!issued) return answer(200, { success: false, "error-codes": ["invalid-input-response"] });
      const key = form.idempotency_key ?? "";
      if (issued.redeemed !== undefined && (issued.redeemed === "" || issued.redeemed !== key)) {
        return answer(200, { success: false, "error-codes": ["timeout-or-duplicate"] });
      }
      issued.redeemed = key;
      return answer(200, { success: true, hostname: issued.hostname, action: issued.action, challenge_ts: new Date().toISOString() });
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  stub.url = `http://127.0.0.1:${server.address().port}/turnstile/v0/siteverify`;
  stub.issue = (hostname = "tickets.example", action = "queue") => {
    next += 1;
    const token = `stub-token-${next}-${Math.random().toString(36).slice(2)}`;
    tokens.set(token, { hostname, action, redeemed: undefined });
    return token;
  };
  stub.close = () => new Promise((resolve) => server.close(resolve));
  return stub;
}
