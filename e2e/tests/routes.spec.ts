/**
 * The dashboard's server routes without a browser (CONTRACT "Server routes"): `/_berth/api`
 * answers like `POST /`, `/_berth/info` has its facts, and the change stream speaks the
 * documented SSE (ids `<epoch>-<seq>`, `hello`, coalesced `changes`, `resync`).
 */
import { test, expect } from '../lib/fixtures';
import { rawRequest, SseClient } from '../lib/http';
import { TARGET_PREFIX } from '../lib/ecs';

const ID = /^\S+-\d+$/;

async function call(base: string, path: string, action: string, body: object) {
  const r = await rawRequest(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': TARGET_PREFIX + action },
    body: JSON.stringify(body),
  });
  return { status: r.status, json: JSON.parse(r.body.toString('utf8') || '{}'), headers: r.headers };
}

test('/_berth/api gives the same answers as POST / (success and error)', async ({ api, baseURL }) => {
  await api.createCluster('c1');
  for (const [action, body] of [
    ['ListClusters', {}],
    ['DescribeClusters', { clusters: ['default', 'c1'], include: ['STATISTICS'] }],
    ['ListContainerInstances', { cluster: 'default' }],
  ] as const) {
    const a = await call(baseURL!, '/', action, body);
    const b = await call(baseURL!, '/_berth/api', action, body);
    expect(b.status, action).toBe(200);
    expect(b.json, action).toEqual(a.json);
  }
  const a = await call(baseURL!, '/', 'DescribeServices', { cluster: 'nope', services: ['x'] });
  const b = await call(baseURL!, '/_berth/api', 'DescribeServices', { cluster: 'nope', services: ['x'] });
  expect(a.status).toBeGreaterThanOrEqual(400);
  expect(b.status).toBe(a.status);
  expect(b.json).toEqual(a.json);
});

test('/_berth/info has the server facts', async ({ baseURL }) => {
  const r = await rawRequest(`${baseURL}/_berth/info`);
  expect(r.status).toBe(200);
  const info = JSON.parse(r.body.toString('utf8'));
  for (const k of ['version', 'backend', 'runtime', 'region', 'account', 'clock', 'readOnly']) {
    expect(info, `info.${k}`).toHaveProperty(k);
  }
  expect(info.region).toBe('us-east-1');
  expect(info.account).toBe('000000000000');
  expect(info.readOnly).toBe(false);
});

test('the change stream: hello, then coalesced changes with <epoch>-<seq> ids', async ({ api, baseURL }) => {
  const sse = await SseClient.open(`${baseURL}/_berth/events`);
  try {
    expect(sse.status).toBe(200);
    expect(sse.headers['content-type']).toMatch(/^text\/event-stream/);
    const hello = await sse.waitFor((e) => e.event === 'hello');
    expect(hello.id ?? '', 'hello has an id').toMatch(ID);
    const h = JSON.parse(hello.data);
    expect(h).toHaveProperty('epoch');
    expect(h).toHaveProperty('seq');

    await api.createCluster('streamed');
    const ev = await sse.waitFor(
      (e) => e.event === 'changes' && JSON.parse(e.data).changes.some((c: { kind: string; name: string }) => c.kind === 'cluster' && c.name === 'streamed'),
      3000,
    );
    expect(ev.id ?? '').toMatch(ID);
    for (const c of JSON.parse(ev.data).changes) {
      expect(['cluster', 'service', 'task', 'instance', 'taskdef', 'scaling', 'logs']).toContain(c.kind);
      expect(c).toHaveProperty('cluster');
      expect(c).toHaveProperty('name');
      expect(c).toHaveProperty('arn');
    }
    const ids = sse.events.filter((e) => e.id).map((e) => e.id as string);
    const epoch = ids[0].slice(0, ids[0].lastIndexOf('-'));
    expect(ids.every((i) => i.startsWith(`${epoch}-`)), 'one epoch per server run').toBe(true);
    const seqs = ids.map((i) => Number(i.split('-').pop()));
    expect([...seqs].sort((x, y) => x - y), 'seq grows').toEqual(seqs);

    // Coalescing: a burst of 60 changes arrives in at most ~10 events per second.
    const before = sse.events.length;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 60 }, (_, i) => api.createCluster(`burst-${i}`)));
    await sse.waitFor(
      (e) => e.event === 'changes' && JSON.parse(e.data).changes.some((c: { name: string }) => c.name === 'burst-59'),
      3000,
    );
    await new Promise((r) => setTimeout(r, 300));
    const seconds = Math.max(1, (Date.now() - t0) / 1000);
    const changesEvents = sse.events.slice(before).filter((e) => e.event === 'changes').length;
    expect(changesEvents, `changes events for 60 writes in ${seconds.toFixed(1)} s`).toBeLessThanOrEqual(Math.ceil(10 * seconds) + 1);
  } finally {
    sse.close();
  }
});

test('the change stream: a Last-Event-ID from another epoch gets resync', async ({ baseURL }) => {
  const sse = await SseClient.open(`${baseURL}/_berth/events`, { 'Last-Event-ID': 'not-an-epoch-0' });
  try {
    await sse.waitFor((e) => e.event === 'resync', 3000);
  } finally {
    sse.close();
  }
});
