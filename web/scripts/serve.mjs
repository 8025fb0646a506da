// A small static server for web/ on 127.0.0.1 that also proxies the back ends, so the pages
// talk to one origin (as behind CloudFront / the edge in production):
//   /api/v1/...   -> the functions (KARCIS_API_URL, or per function KARCIS_CHECKOUT_URL,
//                    KARCIS_TICKETS_URL, KARCIS_PRIVACY_URL, KARCIS_STAFF_URL)
//   /edge/v1/...  -> the edge worker (KARCIS_EDGE_URL)
//   /config.json  -> the pages' configuration (generated; a static file when deployed)
// Usage: node scripts/serve.mjs [port]    (prints the URL)
import { createReadStream, statSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// Only these folders are public (never node_modules, tests or scripts).
const MOUNTS = { "/scanner/": "scanner", "/console/": "console", "/shared/": "shared", "/vendor/": "vendor", "/": "site" };
const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".json": "application/json", ".webmanifest": "application/manifest+json",
  ".svg": "image/svg+xml", ".png": "image/png",
};
const CSP = [
  "default-src 'self'", "script-src 'self' https://challenges.cloudflare.com",
  "frame-src https://challenges.cloudflare.com", "img-src 'self' data: blob:",
  "style-src 'self'", "connect-src 'self'", "media-src 'self' blob:", "object-src 'none'",
  "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join("; ");

function pickUpstream(env, rest) {
  const api = env.KARCIS_API_URL;
  if (/^\/v1\/privacy\//.test(rest)) return env.KARCIS_PRIVACY_URL || api;
  if (/^\/v1\/staff\//.test(rest)) return env.KARCIS_STAFF_URL || api;
  if (/^\/v1\/(tickets\/|orders\/[^/]+\/tickets)/.test(rest)) return env.KARCIS_TICKETS_URL || api;
  return env.KARCIS_CHECKOUT_URL || api;
}

function proxy(req, res, upstream, rest) {
  if (!upstream) {
    res.writeHead(502, { "content-type": "application/problem+json" });
    res.end(JSON.stringify({ type: "urn:karcis:problem:no_backend", title: "Back end not configured",
      status: 502, detail: "this development server has no upstream for this route" }));
    return;
  }
  const target = new URL(rest, upstream);
  const headers = { ...req.headers, host: target.host };
  delete headers.origin;
  delete headers.referer;
  delete headers.cookie;
  const up = http.request(target, { method: req.method, headers }, (r) => {
    res.writeHead(r.statusCode, r.headers);
    r.pipe(res);
  });
  up.on("error", () => {
    if (!res.headersSent) res.writeHead(502, { "content-type": "application/problem+json" });
    res.end(JSON.stringify({ type: "urn:karcis:problem:upstream", title: "Back end unreachable", status: 502 }));
  });
  req.pipe(up);
}

export function startServer({ port = 0, env = process.env, config = {} } = {}) {
  const cfg = {
    apiBase: "/api", edgeBase: "/edge", eventId: env.KARCIS_EVENT_ID || "jkt-fest-2026",
    privacyPolicyVersion: env.KARCIS_PRIVACY_POLICY_VERSION || "2026-01",
    turnstileSiteKey: env.KARCIS_TURNSTILE_SITE_KEY || "", paymentProvider: env.KARCIS_PAYMENT_PROVIDER || "",
    bundleSigningKey: env.KARCIS_BUNDLE_PUBLIC_KEY || "", rotateSeconds: 5, ...config,
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    const common = { "x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
      "content-security-policy": CSP, "permissions-policy": "camera=(self), geolocation=(self), interest-cohort=()" };
    if (url.pathname.startsWith("/api/")) return proxy(req, res, pickUpstream(env, url.pathname.slice(4)), url.pathname.slice(4) + url.search);
    if (url.pathname.startsWith("/edge/")) return proxy(req, res, env.KARCIS_EDGE_URL, url.pathname.slice(5) + url.search);
    if (url.pathname === "/config.json") {
      res.writeHead(200, { ...common, "content-type": "application/json", "cache-control": "no-store" });
      return res.end(JSON.stringify(cfg));
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, common);
      return res.end();
    }
    const mount = Object.keys(MOUNTS).find((m) => url.pathname.startsWith(m));
    let rel = decodeURIComponent(url.pathname.slice(mount.length));
    if (rel === "" || rel.endsWith("/")) rel += "index.html";
    const base = path.join(web, MOUNTS[mount]);
    const file = path.resolve(base, rel);
    let st;
    if (file.startsWith(base + path.sep) && (st = statSync(file, { throwIfNoEntry: false })) && st.isFile()) {
      const extra = path.basename(file) === "sw.js" ? { "service-worker-allowed": "/scanner/" } : {};
      res.writeHead(200, { ...common, ...extra, "content-type": TYPES[path.extname(file)] || "application/octet-stream",
        "cache-control": "no-cache" });
      if (req.method === "HEAD") return res.end();
      return createReadStream(file).pipe(res);
    }
    res.writeHead(404, { ...common, "content-type": "text/plain" });
    res.end("not found");
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const { port: p } = server.address();
      resolve({ url: `http://127.0.0.1:${p}`, config: cfg, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const s = await startServer({ port: Number(process.argv[2] || 8080) });
  console.log(`karcis web on ${s.url}  (buyers: /  scanner: /scanner/  console: /console/)`);
}
