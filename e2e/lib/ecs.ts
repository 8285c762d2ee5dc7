/**
 * The real ECS API of a running `berth serve` (POST / with `X-Amz-Target`), its test-control API
 * (/_berth/*), and seeding helpers built on them. Everything goes to 127.0.0.1.
 *
 * `Berth` is bound to one server URL; the module-level functions use the shared server of the run
 * (`BERTH_URL`, set by global-setup.ts).
 */

export const TARGET_PREFIX = 'AmazonEC2ContainerServiceV20141113.';
export const REGION = 'us-east-1';
export const ACCOUNT = '000000000000';

/** An error answered by the ECS API (`__type` and `message`, as the AWS SDKs see them). */
export class EcsError extends Error {
  constructor(
    public readonly action: string,
    public readonly status: number,
    public readonly code: string,
    public readonly ecsMessage: string,
  ) {
    super(`${action}: HTTP ${status} ${code}: ${ecsMessage}`);
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export function sharedUrl(): string {
  const url = process.env.BERTH_URL;
  if (!url) throw new Error('BERTH_URL is not set: the global setup starts the server and sets it');
  return url;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` until it returns something truthy; `between` runs between polls (e.g. advance). */
export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number; between?: () => Promise<unknown> } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let last: unknown;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last as T;
    if (opts.between) await opts.between();
    else await sleep(opts.intervalMs ?? 250);
  }
  throw new Error(`timed out after ${(opts.timeoutMs ?? 60_000) / 1000} s waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
}

/** The short id at the end of an ARN (`…/task/default/<id>` → `<id>`). */
export const arnId = (arn: string) => arn.split('/').pop() as string;

export interface ContainerDef {
  name?: string;
  image?: string;
  cpu?: number;
  memory?: number;
  essential?: boolean;
  portMappings?: Json[];
  [k: string]: Json;
}

export function container(c: ContainerDef = {}): Json {
  return { name: 'web', image: 'nginx:1.27', cpu: 64, memory: 128, essential: true, ...c };
}

/** Deployment configuration with the circuit breaker (rollback on). */
export const BREAKER = {
  maximumPercent: 200,
  minimumHealthyPercent: 100,
  deploymentCircuitBreaker: { enable: true, rollback: true },
};

export class Berth {
  constructor(public readonly url: string = sharedUrl()) {}

  /** Calls one ECS action; throws `EcsError` with ECS's code and message on failure. */
  async ecs(action: string, body: Json = {}): Promise<Json> {
    const r = await fetch(`${this.url}/`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': TARGET_PREFIX + action,
      },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    let v: Json = {};
    try {
      v = text ? JSON.parse(text) : {};
    } catch {
      throw new EcsError(action, r.status, 'InvalidJson', text.slice(0, 500));
    }
    if (!r.ok) {
      const code = String(v.__type ?? r.headers.get('x-amzn-errortype') ?? 'Unknown').split('#').pop() as string;
      throw new EcsError(action, r.status, code, v.message ?? v.Message ?? text);
    }
    return v;
  }

  /** POST /_berth/<op> with a JSON body. */
  async control(op: string, body: Json = {}): Promise<Json> {
    const r = await fetch(`${this.url}/_berth/${op}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(300_000),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`/_berth/${op} answered ${r.status}: ${text}`);
    return text ? JSON.parse(text) : {};
  }

  /** Back to the `default` cluster with its configured instances, nothing else. */
  reset() {
    return this.control('reset');
  }
  /** Moves the cluster clock forward, one reconciler pass per simulated second. */
  advance(seconds: number) {
    return this.control('advance', { seconds: Math.round(seconds) });
  }
  /** The next `count` task starts fail (stopCode TaskFailedToStart). */
  failStarts(count: number) {
    return this.control('fail-starts', { count });
  }
  /** A running task's essential container exits with `exitCode`. */
  crash(task: string, exitCode = 1) {
    return this.control('crash', { task, exitCode });
  }
  health(task: string, healthy: boolean) {
    return this.control('health', { task, healthy });
  }

  // ---- seeding ----

  async createCluster(name: string): Promise<Json> {
    return (await this.ecs('CreateCluster', { clusterName: name })).cluster;
  }

  async registerTaskDefinition(family: string, opts: { containers?: Json[]; [k: string]: Json } = {}): Promise<Json> {
    const { containers, ...extra } = opts;
    const r = await this.ecs('RegisterTaskDefinition', {
      family,
      containerDefinitions: containers ?? [container()],
      ...extra,
    });
    return r.taskDefinition;
  }

  async createService(opts: {
    cluster?: string;
    name: string;
    taskDefinition: string;
    desiredCount?: number;
    deploymentConfiguration?: Json;
    [k: string]: Json;
  }): Promise<Json> {
    const { cluster = 'default', name, taskDefinition, desiredCount = 1, ...extra } = opts;
    const r = await this.ecs('CreateService', {
      cluster,
      serviceName: name,
      taskDefinition,
      desiredCount,
      launchType: 'EC2',
      ...extra,
    });
    return r.service;
  }

  async updateService(cluster: string, service: string, changes: Json): Promise<Json> {
    return (await this.ecs('UpdateService', { cluster, service, ...changes })).service;
  }

  async describeService(cluster: string, service: string): Promise<Json> {
    const r = await this.ecs('DescribeServices', { cluster, services: [service] });
    if (r.failures?.length) throw new Error(`DescribeServices ${service}: ${JSON.stringify(r.failures)}`);
    return r.services[0];
  }

  /** RunTask, 10 per call as ECS allows; returns the tasks. */
  async runTasks(cluster: string, taskDefinition: string, count: number, extra: Json = {}): Promise<Json[]> {
    const out: Json[] = [];
    for (let left = count; left > 0; left -= 10) {
      const r = await this.ecs('RunTask', {
        cluster,
        taskDefinition,
        count: Math.min(10, left),
        launchType: 'EC2',
        ...extra,
      });
      if (r.failures?.length) throw new Error(`RunTask failures: ${JSON.stringify(r.failures)}`);
      out.push(...r.tasks);
    }
    return out;
  }

  /** RunTask in parallel batches (10 tasks per call, `parallel` calls at a time). */
  async runManyTasks(cluster: string, taskDefinition: string, count: number, parallel = 16, extra: Json = {}): Promise<string[]> {
    const calls = Math.ceil(count / 10);
    const arns: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < calls) {
        const i = next++;
        const n = Math.min(10, count - i * 10);
        const r = await this.ecs('RunTask', { cluster, taskDefinition, count: n, launchType: 'EC2', ...extra });
        if (r.failures?.length) throw new Error(`RunTask failures: ${JSON.stringify(r.failures).slice(0, 500)}`);
        for (const t of r.tasks) arns.push(t.taskArn);
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    return arns;
  }

  async listTasks(cluster: string, filter: Json = {}): Promise<string[]> {
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const r = await this.ecs('ListTasks', { cluster, maxResults: 100, nextToken, ...filter });
      arns.push(...r.taskArns);
      nextToken = r.nextToken;
    } while (nextToken);
    return arns;
  }

  async describeTasks(cluster: string, arns: string[]): Promise<Json[]> {
    const out: Json[] = [];
    for (let i = 0; i < arns.length; i += 100) {
      const r = await this.ecs('DescribeTasks', { cluster, tasks: arns.slice(i, i + 100) });
      out.push(...r.tasks);
    }
    return out;
  }

  /** A service's tasks (`desiredStatus` RUNNING or STOPPED). */
  async serviceTasks(cluster: string, service: string, desiredStatus: 'RUNNING' | 'STOPPED' = 'RUNNING'): Promise<Json[]> {
    const arns = await this.listTasks(cluster, { serviceName: service, desiredStatus });
    return arns.length ? this.describeTasks(cluster, arns) : [];
  }

  async waitTasksRunning(cluster: string, arns: string[], timeoutMs = 30_000): Promise<Json[]> {
    return waitUntil(
      `${arns.length} tasks RUNNING`,
      async () => {
        const ts = await this.describeTasks(cluster, arns);
        return ts.every((t: Json) => t.lastStatus === 'RUNNING') ? ts : null;
      },
      { timeoutMs, intervalMs: 300 },
    );
  }

  async waitTasksStopped(cluster: string, arns: string[], timeoutMs = 30_000): Promise<Json[]> {
    return waitUntil(
      `${arns.length} tasks STOPPED`,
      async () => {
        const ts = await this.describeTasks(cluster, arns);
        return ts.every((t: Json) => t.lastStatus === 'STOPPED') ? ts : null;
      },
      { timeoutMs, intervalMs: 300 },
    );
  }

  /** Waits for running == desired (wall clock: the simulated runtime starts a task in ~3 s). */
  async waitStable(cluster: string, service: string, timeoutMs = 60_000): Promise<Json> {
    return waitUntil(
      `${service} running == desired`,
      async () => {
        const s = await this.describeService(cluster, service);
        return s.runningCount === s.desiredCount && s.pendingCount === 0 ? s : null;
      },
      { timeoutMs, intervalMs: 300 },
    );
  }

  /**
   * Advances the clock until the service's only deployment is COMPLETED at its desired count
   * (a deployment completes once its tasks have been healthy for 40 s of cluster time).
   */
  async settle(cluster: string, service: string, timeoutMs = 90_000): Promise<Json> {
    return waitUntil(
      `${service} to complete its deployment`,
      async () => {
        const s = await this.describeService(cluster, service);
        const ds = s.deployments ?? [];
        const ok = ds.length === 1 && ds[0].rolloutState === 'COMPLETED' && s.runningCount === s.desiredCount && s.pendingCount === 0;
        return ok ? s : null;
      },
      { timeoutMs, between: () => this.advance(5).then(() => sleep(100)) },
    );
  }

  /** A service on the default cluster, settled (deployment COMPLETED). */
  async seedService(name: string, opts: { family?: string; desiredCount?: number; cluster?: string; deploymentConfiguration?: Json } = {}): Promise<Json> {
    const family = opts.family ?? name;
    const cluster = opts.cluster ?? 'default';
    await this.registerTaskDefinition(family);
    await this.createService({
      cluster,
      name,
      taskDefinition: family,
      desiredCount: opts.desiredCount ?? 2,
      deploymentConfiguration: opts.deploymentConfiguration,
    });
    return this.settle(cluster, name);
  }

  async describeClusters(names: string[]): Promise<Json[]> {
    const r = await this.ecs('DescribeClusters', { clusters: names, include: ['STATISTICS'] });
    return r.clusters;
  }

  async containerInstances(cluster = 'default'): Promise<Json[]> {
    const r = await this.ecs('ListContainerInstances', { cluster });
    if (!r.containerInstanceArns.length) return [];
    const d = await this.ecs('DescribeContainerInstances', { cluster, containerInstances: r.containerInstanceArns });
    return d.containerInstances;
  }

  async serviceDeployments(cluster: string, service: string): Promise<Json[]> {
    const r = await this.ecs('ListServiceDeployments', { cluster, service });
    const arns = (r.serviceDeployments ?? []).map((d: Json) => d.serviceDeploymentArn);
    if (!arns.length) return [];
    return (await this.ecs('DescribeServiceDeployments', { serviceDeploymentArns: arns })).serviceDeployments;
  }
}

let shared: Berth | null = null;
/** The shared server of the run. */
export function berth(): Berth {
  if (!shared || shared.url !== sharedUrl()) shared = new Berth(sharedUrl());
  return shared;
}

export const ecs = (action: string, body: Json = {}) => berth().ecs(action, body);
export const reset = () => berth().reset();
export const advance = (seconds: number) => berth().advance(seconds);
export const crash = (task: string, exitCode = 1) => berth().crash(task, exitCode);
export const failStarts = (count: number) => berth().failStarts(count);
