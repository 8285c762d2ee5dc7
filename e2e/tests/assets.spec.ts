/**
 * Asset serving (CONTRACT "Server routes"; dashboard check 39): the app's index.html is
 * `no-cache` on every app route; hashed assets are `immutable` with an ETag, precompressed by
 * `Accept-Encoding`, 304 on `If-None-Match`; `.wasm` is `application/wasm`.
 * These checks use raw HTTP (no decompression) and need no browser.
 */
import { test, expect } from '../lib/fixtures';
import { rawRequest } from '../lib/http';

const BR = { 'Accept-Encoding': 'br' };

/** The hashed asset URLs the app loads: from index.html, and the .wasm the JS module names. */
async function assetUrls(base: string): Promise<{ html: string; assets: string[]; wasm: string[] }> {
  const index = await rawRequest(`${base}/ui/clusters`);
  expect(index.status, 'GET /ui/clusters').toBe(200);
  const html = index.body.toString('utf8');
  const refs = new Set<string>();
  for (const m of html.matchAll(/(?:src|href)\s*=\s*["']([^"']+)["']|import\s*(?:[^'"]*from\s*)?["']([^"']+)["']/g)) {
    const u = m[1] ?? m[2];
    if (u && !u.startsWith('data:') && !/^https?:\/\/(?!127\.0\.0\.1)/.test(u)) refs.add(new URL(u, `${base}/ui/clusters`).toString());
  }
  const assets = [...refs].filter((u) => new URL(u).pathname.startsWith('/assets/'));
  const wasm = new Set(assets.filter((u) => u.endsWith('.wasm')));
  for (const js of assets.filter((u) => u.endsWith('.js'))) {
    const r = await rawRequest(js);
    for (const m of r.body.toString('utf8').matchAll(/["'`]([^"'`]*?[\w-]+\.wasm)["'`]/g)) {
      wasm.add(new URL(m[1], js).toString());
    }
  }
  return { html, assets, wasm: [...wasm] };
}

test('index.html is served no-cache on /, /ui and every /ui/* deep link', async ({ baseURL }) => {
  const app = (await rawRequest(`${baseURL}/ui/clusters`)).body.toString('utf8');
  expect(app, 'index.html loads the app as a module').toMatch(/<script[^>]*type=["']?module/);
  for (const path of ['/', '/ui', '/ui/clusters', '/ui/clusters/default/services/web/deployments', '/ui/task-definitions/web/3']) {
    const r = await rawRequest(`${baseURL}${path}`);
    expect(r.status, `GET ${path}`).toBe(200);
    expect(r.headers['content-type'], `GET ${path} content-type`).toMatch(/^text\/html/);
    expect(r.headers['cache-control'] ?? '', `GET ${path} cache-control`).toMatch(/no-cache/);
    expect(r.body.toString('utf8'), `GET ${path} is the app's index.html`).toBe(app);
  }
});

test('hashed assets: immutable, ETag, 304 on If-None-Match', async ({ baseURL }) => {
  const { assets } = await assetUrls(baseURL!);
  expect(assets.length, 'index.html references hashed /assets/ files').toBeGreaterThan(0);
  for (const u of assets) {
    expect(new URL(u).pathname, 'hashed name <name>-<hash>.<ext>').toMatch(/^\/assets\/.+-[0-9A-Za-z_]{6,}\.[a-z0-9.]+$/);
    const r = await rawRequest(u, { headers: BR });
    expect(r.status, u).toBe(200);
    expect(r.headers['cache-control'] ?? '', `${u} cache-control`).toMatch(/immutable/);
    const etag = r.headers.etag;
    expect(etag, `${u} ETag`).toBeTruthy();
    const again = await rawRequest(u, { headers: { ...BR, 'If-None-Match': etag as string } });
    expect(again.status, `${u} conditional GET`).toBe(304);
    expect(again.body.length, `${u} 304 has no body`).toBe(0);
  }
});

test('.wasm is application/wasm, brotli when asked, with an ETag and 304', async ({ baseURL }) => {
  const { wasm } = await assetUrls(baseURL!);
  expect(wasm.length, 'the app loads a .wasm under /assets/').toBeGreaterThan(0);
  const u = wasm[0];
  expect(new URL(u).pathname).toMatch(/^\/assets\//);

  const br = await rawRequest(u, { headers: BR });
  expect(br.status).toBe(200);
  expect(br.headers['content-type']).toMatch(/^application\/wasm/);
  expect(br.headers['content-encoding']).toBe('br');
  expect(String(br.headers.vary ?? '')).toMatch(/accept-encoding/i);
  const etag = br.headers.etag as string;
  expect(etag, 'ETag').toBeTruthy();

  const identity = await rawRequest(u, { headers: { 'Accept-Encoding': 'identity' } });
  expect(identity.status).toBe(200);
  expect(identity.headers['content-type']).toMatch(/^application\/wasm/);
  expect(identity.headers['content-encoding'] ?? 'identity').toBe('identity');
  expect(identity.body.subarray(0, 4).toString('latin1'), 'uncompressed body is a wasm module').toBe('\0asm');
  expect(br.body.length, 'brotli is smaller than the raw module').toBeLessThan(identity.body.length);

  const notModified = await rawRequest(u, { headers: { ...BR, 'If-None-Match': etag } });
  expect(notModified.status).toBe(304);

  const gz = await rawRequest(u, { headers: { 'Accept-Encoding': 'gzip' } });
  expect(gz.status).toBe(200);
  expect(gz.headers['content-encoding'] ?? 'identity').toMatch(/^(gzip|identity)$/);
});
