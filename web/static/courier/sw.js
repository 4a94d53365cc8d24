// Service worker of the courier app (scope /courier/): keeps the app shell and the scanner library on the
// phone so the app opens and scans without network. Data never comes from here: scans wait in IndexedDB and
// the app sends them itself when the network returns.
const VERSION = "dp-courier-v1";
const SHELL = [
  "/courier/",
  "/courier/manifest.webmanifest",
  "/courier/icon-192.png",
  "/static/app.css",
  "/static/courier/courier.css",
  "/static/courier/app.js",
  "/static/courier/store.js",
  "/vendor/qr-scanner/qr-scanner.min.js",
  "/vendor/qr-scanner/qr-scanner-worker.min.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(VERSION).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== VERSION).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/courier/api/") || url.pathname.startsWith("/api/")) return; // live data only
  const isShell = SHELL.includes(url.pathname);
  if (req.mode === "navigate" || url.pathname === "/courier/") {
    // Network first for the page (fresh run, fresh session), the cached shell when offline.
    event.respondWith(
      fetch(req).then((resp) => {
        if (resp.ok && !resp.redirected) caches.open(VERSION).then((c) => c.put("/courier/", resp.clone()));
        return resp;
      }).catch(() => caches.match("/courier/")),
    );
    return;
  }
  if (isShell) {
    // Stale-while-revalidate for the static files.
    event.respondWith(
      caches.open(VERSION).then(async (cache) => {
        const cached = await cache.match(url.pathname);
        const network = fetch(req).then((resp) => {
          if (resp.ok) cache.put(url.pathname, resp.clone());
          return resp;
        }).catch(() => cached);
        return cached || network;
      }),
    );
  }
});
