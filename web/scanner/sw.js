// Scanner service worker: the app shell works offline (network first, cache as fallback).
// API calls (/edge/, /api/) are never cached: offline scans go through the page's own queue.
const CACHE = "karcis-scanner-v5";
const SHELL = ["/scanner/", "/scanner/index.html", "/scanner/scanner.js", "/scanner/device-key.js",
  "/scanner/pin-lock.js", "/scanner/pin-policy.js", "/scanner/sealed-store.js", "/scanner/vault.js",
  "/scanner/camera.js", "/scanner/gate-feedback.js", "/scanner/manifest.webmanifest",
  "/shared/app.css", "/shared/api.js", "/shared/idb.js", "/shared/ticket-format.js",
  "/shared/i18n.js", "/shared/i18n/id.js", "/shared/i18n/en.js", "/shared/format.js", "/vendor/jsQR.js", "/config.json"];

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys().then((ks) => Promise.all(ks.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/edge/") || url.pathname.startsWith("/api/")) return;
  e.respondWith(
    fetch(e.request)
      .then((res) => {
        if (res.ok) {
          const copy = res.clone();
          caches.open(CACHE).then((c) => c.put(e.request, copy));
        }
        return res;
      })
      .catch(() => caches.match(e.request, { ignoreSearch: true }).then((r) => r || Response.error())),
  );
});
