/**
 * Starting and stopping a real `berth serve` (release build) on 127.0.0.1.
 *
 * The suite's shared server is started once by `global-setup.ts`; tests that need their own
 * (the reconnect test restarts it, the scale test wants big instances, the security specs want
 * login on or an upstream) call `startServer` — with `extraArgs`, `bare` and `env` as needed —
 * and `stop()` it themselves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..');

/** The server binary: `$BERTH_BIN`, else `target/release/berth`. */
export function berthBin(): string {
  const bin = process.env.BERTH_BIN || path.join(REPO, 'target', 'release', 'berth');
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    throw new Error(
      `berth binary not found at ${bin}: run \`cargo build --release --locked -p berth\` or set BERTH_BIN`,
    );
  }
  return bin;
}

/** A free TCP port on 127.0.0.1 (the kernel picks it; there is a small race, as everywhere). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr && typeof addr === 'object') {
        const { port } = addr;
        srv.close(() => resolve(port));
      } else {
        srv.close(() => reject(new Error('no port')));
      }
    });
  });
}

export interface ServerOptions {
  /** Port to bind (a free one when absent). */
  port?: number;
  /** Data directory (a fresh temporary one when absent). */
  dataDir?: string;
  /** Container instances of the default cluster. */
  instances?: number;
  instanceCpu?: number;
  instanceMemory?: number;
  azs?: string[];
  attributes?: string[];
  /** `system` (default) or `manual`. */
  clock?: 'system' | 'manual';
  /** Anything else for `berth serve`. */
  extraArgs?: string[];
  /**
   * Leave out the embedded cluster's flags (`--instances`, `--azs`, `--attribute` …): for an
   * upstream-mode server, which runs no cluster.
   */
  bare?: boolean;
  /** Extra environment variables of the process (e.g. upstream credentials). */
  env?: Record<string, string>;
  /** How long to wait for /healthz. */
  readyTimeoutMs?: number;
}

/** The instances the shared server starts with (several, over three AZs). */
export const DEFAULT_INSTANCES = {
  instances: 6,
  instanceCpu: 4096,
  instanceMemory: 8192,
  azs: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
  attributes: ['team=berth'],
};

export class BerthServer {
  constructor(
    public proc: ChildProcess,
    public readonly url: string,
    public readonly port: number,
    public readonly dataDir: string,
    public readonly logPath: string,
    public readonly args: string[],
    private readonly ownsDir: string | null,
    private readonly env: Record<string, string> = {},
  ) {}

  get pid(): number | undefined {
    return this.proc.pid;
  }

  logTail(lines = 40): string {
    try {
      return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Kills the process (SIGKILL: like a crash; state survives in the data dir). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running()) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill(signal);
    await Promise.race([exited, sleep(10_000)]);
    if (this.running()) {
      this.proc.kill('SIGKILL');
      await exited;
    }
  }

  /** Starts the server again on the same port and data directory (after `kill`). */
  async restart(): Promise<void> {
    await this.kill();
    this.proc = await launch(this.args, this.logPath, this.env);
    await waitHealthy(this.url, this.proc, this.logPath, 30_000);
  }

  /** Stops the server (SIGTERM, then SIGKILL) and removes the data directory it created. */
  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    if (this.ownsDir && !process.env.BERTH_KEEP_TMP) {
      fs.rmSync(this.ownsDir, { recursive: true, force: true });
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function launch(args: string[], logPath: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  const log = fs.openSync(logPath, 'a');
  const proc = spawn(berthBin(), args, {
    stdio: ['ignore', log, log],
    // The dashboard suite drives the simulated runtime (its fault injection, its clock).
    env: { ...process.env, BERTH_RUNTIME: process.env.BERTH_RUNTIME || 'sim', RUST_LOG: process.env.RUST_LOG || 'warn', ...env },
  });
  fs.closeSync(log);
  await new Promise<void>((resolve, reject) => {
    proc.once('spawn', () => resolve());
    proc.once('error', reject);
  });
  return proc;
}

async function waitHealthy(url: string, proc: ChildProcess, logPath: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) break;
    try {
      const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  const tail = fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8').split('\n').slice(-40).join('\n') : '';
  try {
    proc.kill('SIGKILL');
  } catch {
    // already gone
  }
  throw new Error(
    `berth serve did not answer GET ${url}/healthz within ${timeoutMs / 1000} s ` +
      `(exit ${proc.exitCode ?? proc.signalCode ?? 'none'}); its log:\n${tail}`,
  );
}

/** Starts `berth serve` and waits for `/healthz`. */
export async function startServer(opts: ServerOptions = {}): Promise<BerthServer> {
  const o = { ...DEFAULT_INSTANCES, ...opts };
  const port = o.port ?? (await freePort());
  let dataDir = o.dataDir;
  // The log (and, unless one is given, the data directory) live here; `stop()` removes it.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-e2e-'));
  const ownsDir = tmp;
  if (!dataDir) {
    dataDir = path.join(tmp, 'data');
    fs.mkdirSync(dataDir);
  }
  const logPath = path.join(tmp, 'berth.log');
  const cluster = o.bare
    ? []
    : [
        '--instances',
        String(o.instances),
        '--instance-cpu',
        String(o.instanceCpu),
        '--instance-memory',
        String(o.instanceMemory),
        '--azs',
        o.azs.join(','),
        ...o.attributes.flatMap((a) => ['--attribute', a]),
        ...(o.clock ? ['--clock', o.clock] : []),
      ];
  const args = [
    'serve',
    '--port',
    String(port),
    '--data-dir',
    dataDir,
    ...cluster,
    ...(o.extraArgs ?? []),
    // e.g. BERTH_SERVE_ARGS="--ui-dir ../target/dashboard" to try a fresh dashboard build
    ...(process.env.BERTH_SERVE_ARGS ?? '').split(/\s+/).filter(Boolean),
  ];
  const url = `http://127.0.0.1:${port}`;
  const proc = await launch(args, logPath, o.env);
  await waitHealthy(url, proc, logPath, o.readyTimeoutMs ?? 30_000);
  return new BerthServer(proc, url, port, dataDir, logPath, args, ownsDir, o.env);
}
