/**
 * What the security specs need beyond the shared server: a server of their own with login on
 * (`--auth token`) and a credentials file of known keys, the one-time login URL it prints, a
 * recorder of CSP violations, and a check that a secret never reaches the browser (responses,
 * cookies, storage, the URL).
 *
 * Servers started here are the specs' own: they `stop()` them (tests that need the shared
 * server's state use the `api` fixture instead).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BrowserContext, Page, Response } from '@playwright/test';
import { startServer, type BerthServer, type ServerOptions } from './server';
import { sleep } from './ecs';

/** A key pair of the credentials file. */
export interface Key {
  profile: string;
  accessKeyId: string;
  secret: string;
  role: 'operator' | 'viewer';
}

export const OPERATOR_KEY: Key = {
  profile: 'ops',
  accessKeyId: 'BERTHOPERATOR0000001',
  secret: 'operator-secret-0f6b7f3c1d2e4a5b9c8d7e6f',
  role: 'operator',
};

export const VIEWER_KEY: Key = {
  profile: 'viewer',
  accessKeyId: 'BERTHVIEWER000000001',
  secret: 'viewer-secret-7a1c2e3f4b5d6e7f8091a2b3',
  role: 'viewer',
};

/** Writes a credentials file (AWS shared-credentials INI, with `role`), mode 0600. */
export function writeCredentials(keys: Key[], dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-e2e-keys-'))): string {
  const file = path.join(dir, 'credentials');
  const text = keys
    .map((k) => `[${k.profile}]\naws_access_key_id = ${k.accessKeyId}\naws_secret_access_key = ${k.secret}\nrole = ${k.role}\n`)
    .join('\n');
  fs.writeFileSync(file, text, { mode: 0o600 });
  return file;
}

export interface AuthServer {
  server: BerthServer;
  credentialsFile: string;
  /** The first login URL the server printed (`…/#token=…`). */
  loginUrl: string;
}

/**
 * Starts `berth serve --auth token --credentials-file <keys>` (plus `extraArgs`) and reads the
 * login URL it prints (`berth: login at http://127.0.0.1:PORT/#token=…`).
 */
export async function startAuthServer(
  opts: ServerOptions & { keys?: Key[] } = {},
): Promise<AuthServer> {
  const credentialsFile = writeCredentials(opts.keys ?? [OPERATOR_KEY, VIEWER_KEY]);
  const server = await startServer({
    ...opts,
    extraArgs: ['--auth', 'token', '--credentials-file', credentialsFile, ...(opts.extraArgs ?? [])],
  });
  try {
    const loginUrl = await readLoginUrl(server);
    return { server, credentialsFile, loginUrl };
  } catch (e) {
    await server.stop();
    throw e;
  }
}

/** The login URL in the server's log (waits for it a little). */
export async function readLoginUrl(server: BerthServer, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = fs.existsSync(server.logPath) ? fs.readFileSync(server.logPath, 'utf8') : '';
    const m = log.match(/berth: login at (http:\/\/\S+#token=\S+)/);
    if (m) return m[1];
    if (Date.now() > deadline) {
      throw new Error(`no "berth: login at …#token=…" line in the server's log:\n${server.logTail()}`);
    }
    await sleep(100);
  }
}

/** A CSP violation as the page saw it. */
export interface Violation {
  directive: string;
  blocked: string;
  sample: string;
  source: string;
}

/**
 * Records every CSP violation of `page` (the `securitypolicyviolation` events of every
 * document, and console messages about a Content Security Policy). Call before navigating.
 */
export async function watchCsp(page: Page): Promise<() => Promise<string[]>> {
  const logged: string[] = [];
  page.on('console', (m) => {
    if (/content security policy/i.test(m.text())) logged.push(`console ${m.type()}: ${m.text()}`);
  });
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: Violation[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      w.__csp.push({
        directive: e.violatedDirective,
        blocked: e.blockedURI,
        sample: e.sample,
        source: `${e.sourceFile}:${e.lineNumber}`,
      });
    });
  });
  return async () => {
    const seen = await page
      .evaluate(() => (window as unknown as { __csp?: Violation[] }).__csp ?? [])
      .catch(() => [] as Violation[]);
    return [...seen.map((v) => `${v.directive} blocked ${v.blocked || 'inline'} at ${v.source} ${v.sample}`), ...logged];
  };
}

/** A response as recorded for the secret check. */
export interface Recorded {
  url: string;
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Records every response of `page`: URL, status, headers and body (not the endless change
 * stream's body, which is checked through its events instead).
 */
export function recordResponses(page: Page): Recorded[] {
  const out: Recorded[] = [];
  page.on('response', async (r: Response) => {
    const headers = await r.allHeaders().catch(() => ({}) as Record<string, string>);
    const ct = headers['content-type'] ?? '';
    let body = '';
    if (!ct.startsWith('text/event-stream')) {
      body = await r
        .body()
        .then((b) => b.toString('latin1'))
        .catch(() => '');
    }
    out.push({ url: r.url(), status: r.status(), headers, body });
  });
  return out;
}

/**
 * Where `secret` shows up in what the browser holds: recorded responses (URL, headers, body),
 * cookies, `localStorage`, `sessionStorage`, `document.cookie` and the page's URL. Empty when
 * nowhere.
 */
export async function findSecret(context: BrowserContext, page: Page, secret: string, responses: Recorded[]): Promise<string[]> {
  const hits: string[] = [];
  for (const r of responses) {
    if (r.url.includes(secret)) hits.push(`URL ${r.url}`);
    for (const [k, v] of Object.entries(r.headers)) if (v.includes(secret)) hits.push(`header ${k} of ${r.url}`);
    if (r.body.includes(secret)) hits.push(`body of ${r.url} (${r.status})`);
  }
  for (const c of await context.cookies()) {
    if (c.value.includes(secret) || c.name.includes(secret)) hits.push(`cookie ${c.name}`);
  }
  const inPage = await page.evaluate((s) => {
    const found: string[] = [];
    const scan = (name: string, st: Storage) => {
      for (let i = 0; i < st.length; i++) {
        const k = st.key(i) ?? '';
        if (k.includes(s) || (st.getItem(k) ?? '').includes(s)) found.push(`${name}.${k}`);
      }
    };
    scan('localStorage', localStorage);
    scan('sessionStorage', sessionStorage);
    if (document.cookie.includes(s)) found.push('document.cookie');
    if (location.href.includes(s)) found.push('location');
    return found;
  }, secret);
  return [...hits, ...inPage];
}

/**
 * Calls an ECS operation from inside the page, as the dashboard would (`POST /_berth/api`),
 * with or without the CSRF header (the value comes from `GET /_berth/session`).
 */
export async function callFromPage(
  page: Page,
  action: string,
  body: object,
  opts: { csrf?: boolean; prefix?: string } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  return page.evaluate(
    async ({ action, body, csrf, prefix }) => {
      const headers: Record<string, string> = {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': `${prefix}.${action}`,
      };
      if (csrf) {
        const s = await (await fetch('/_berth/session')).json();
        headers['X-Berth-Csrf'] = s.csrf;
      }
      const r = await fetch('/_berth/api', { method: 'POST', headers, body: JSON.stringify(body) });
      const text = await r.text();
      let json = {};
      try {
        json = JSON.parse(text);
      } catch {
        json = { text };
      }
      return { status: r.status, json };
    },
    { action, body, csrf: opts.csrf ?? true, prefix: opts.prefix ?? 'AmazonEC2ContainerServiceV20141113' },
  );
}
