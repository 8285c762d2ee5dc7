/**
 * The real AWS CLI (`.venv/bin/aws`, installed by scripts/aws-tests.sh) pointed at a Berth server
 * with dummy credentials and every AWS config file moved out of the way. `null` when absent.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO } from './server';

export function awsCliPath(): string | null {
  const p = process.env.AWS_CLI || path.join(REPO, '.venv', 'bin', 'aws');
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return p;
  } catch {
    return null;
  }
}

export function awsCli(endpoint: string, args: string[]): Promise<string> {
  const bin = awsCliPath();
  if (!bin) throw new Error('the AWS CLI is not installed (.venv/bin/aws): run scripts/aws-tests.sh once');
  const absent = path.join(os.tmpdir(), 'berth-e2e-aws-config-absent');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_')) env[k] = v;
  Object.assign(env, {
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'secret',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: absent,
    AWS_SHARED_CREDENTIALS_FILE: absent,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  });
  return new Promise((resolve, reject) => {
    execFile(bin, [...args, '--endpoint-url', endpoint, '--output', 'json'], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`aws ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}
