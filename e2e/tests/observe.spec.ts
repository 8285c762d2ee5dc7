/**
 * What a service is doing and why, without leaving the browser (issue 8 items 4–6; dashboard
 * checks 25–29): the scaling tab lists the target, policies and scheduled actions, changes them,
 * and its simulator's timeline is berth-core's `scaling::replay` of the same input; logs follow,
 * pause with a count, filter and download exactly what is shown; metric charts and their table
 * show the numbers CloudWatch's GetMetricData answers (the AWS CLI, when installed, too).
 */
import * as fs from 'node:fs';
import { test, expect, open } from '../lib/fixtures';
import { awsCli, awsCliPath } from '../lib/awscli';
import { arnId, container, type Json, waitUntil } from '../lib/ecs';

const AAS = 'AnyScaleFrontendService';
const LOGS = 'Logs_20140328';
const CLOUDWATCH = 'GraniteServiceVersion20100801';

async function call(baseURL: string, prefix: string, action: string, body: Json, contentType = 'application/x-amz-json-1.1'): Promise<Json> {
  const r = await fetch(`${baseURL}/`, {
    method: 'POST',
    headers: { 'X-Amz-Target': `${prefix}.${action}`, 'Content-Type': contentType },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${action}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

test('scaling: target and policy listed, a policy saved from the form, and the simulator is scaling::replay', async ({ page, api, baseURL }) => {
  await api.registerTaskDefinition('sc', { containers: [container({ name: 'sc' })] });
  await api.createService({ name: 'sc', taskDefinition: 'sc:1', desiredCount: 2 });
  const base = { ServiceNamespace: 'ecs', ResourceId: 'service/default/sc', ScalableDimension: 'ecs:service:DesiredCount' };
  await call(baseURL!, AAS, 'RegisterScalableTarget', { ...base, MinCapacity: 1, MaxCapacity: 6 });
  await call(baseURL!, AAS, 'PutScalingPolicy', {
    ...base,
    PolicyName: 'cpu50',
    PolicyType: 'TargetTrackingScaling',
    TargetTrackingScalingPolicyConfiguration: { TargetValue: 50, PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' } },
  });
  await open(page, '/ui/clusters/default/services/sc/scaling');
  await expect(page.getByTestId('scalable-target')).toContainText('between 1 and 6');
  await expect(page.locator('table[data-table=policies] tr[data-key=cpu50]')).toContainText('keep ECSServiceAverageCPUUtilization at 50');

  // The simulator: a series typed in, the timeline drawn from the tools module's replay.
  await page.getByLabel('Metric series', { exact: true }).fill('100 100 100 100 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10');
  const timeline = page.locator('table[data-table=timeline]');
  await expect(timeline.locator('tbody tr').first()).toBeVisible();
  const input = await timeline.getAttribute('data-input');
  const expected = await page.evaluate(async (i) => {
    const m = await (window as unknown as { __berthTools: () => Promise<{ replay: (s: string) => string }> }).__berthTools();
    return JSON.parse(m.replay(i as string));
  }, input);
  const shown = await timeline.locator('tbody tr').evaluateAll((rows) =>
    rows.map((r) => [...r.querySelectorAll('td')].slice(1, 5).map((c) => Number(c.textContent))),
  );
  expect(shown).toEqual(expected.Changes.map((c: Json) => [c.From, c.To, c.MinCapacity, c.MaxCapacity]));
  expect(shown[0]).toEqual([2, 4, 1, 6]); // 2 × 100 / 50, within [1, 6]
  await expect(page.getByTestId('sim-summary')).toContainText(`Capacity 2 → ${expected.FinalCapacity}`);

  // A policy saved from the form appears in Application Auto Scaling.
  await page.getByLabel('Name').nth(0).fill('mem60');
  await page.getByRole('combobox').filter({ hasText: 'Average CPU utilisation' }).selectOption('ECSServiceAverageMemoryUtilization');
  await page.getByLabel('Target %').fill('60');
  await page.getByRole('button', { name: 'Save policy' }).click();
  await expect(page.locator('table[data-table=policies] tr[data-key=mem60]')).toBeVisible();
  const policies = await call(baseURL!, AAS, 'DescribeScalingPolicies', { ServiceNamespace: 'ecs', ResourceId: 'service/default/sc' });
  const mem = policies.ScalingPolicies.find((p: Json) => p.PolicyName === 'mem60');
  expect(mem.TargetTrackingScalingPolicyConfiguration.TargetValue).toBe(60);
});

test('logs: follow live, pause with a count, filter old and new lines, download what is shown', async ({ page, api, baseURL }) => {
  const group = '/ecs/logged';
  await api.registerTaskDefinition('logged', {
    containers: [container({ name: 'app', logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': group, 'awslogs-region': 'us-east-1', 'awslogs-stream-prefix': 'ecs' } } })],
  });
  const [task] = await api.runTasks('default', 'logged', 1);
  await api.waitTasksRunning('default', [task.taskArn]);
  const id = arnId(task.taskArn);
  const stream = `ecs/app/${id}`;
  const put = (messages: string[]) =>
    call(baseURL!, LOGS, 'PutLogEvents', { logGroupName: group, logStreamName: stream, logEvents: messages.map((message, i) => ({ timestamp: Date.now() + i, message })) });
  await waitUntil('the stream exists', async () => {
    const r = await call(baseURL!, LOGS, 'DescribeLogStreams', { logGroupName: group });
    return (r.logStreams ?? []).some((s: Json) => s.logStreamName === stream);
  });
  await put(['GET /health 200', 'ERROR db down']);

  await open(page, `/ui/clusters/default/tasks/${id}`);
  const logs = page.getByTestId('logs');
  await expect(logs).toContainText('ERROR db down');
  // Follow: a new line shows up without a reload.
  await put(['hello one']);
  await expect(logs).toContainText('hello one');
  // Pause: new lines are counted, not shown, until Follow.
  await page.getByRole('button', { name: 'Pause' }).click();
  await put(['hello two', 'ERROR again']);
  await expect(page.getByRole('button', { name: /Follow \(2 new lines\)/ })).toBeVisible({ timeout: 10_000 });
  await expect(logs).not.toContainText('hello two');
  await page.getByRole('button', { name: /Follow/ }).click();
  await expect(logs).toContainText('hello two');
  // Filter: old and new lines alike, CloudWatch term syntax.
  await page.getByLabel('Filter log lines').fill('ERROR -again');
  await expect(logs).toContainText('ERROR db down');
  await expect(logs).not.toContainText('ERROR again');
  await expect(logs).not.toContainText('hello');
  // Download: exactly what is shown.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download' }).click()]);
  const file = fs.readFileSync(await download.path(), 'utf8');
  expect(file.trimEnd()).toBe((await logs.innerText()).trimEnd());
  expect(file).toContain('ERROR db down');
  expect(file).not.toContain('hello');
});

test('metrics: the table shows what GetMetricData answers, and the chart draws it', async ({ page, api, baseURL }) => {
  await api.registerTaskDefinition('met', { containers: [container({ name: 'met' })] });
  await api.createService({ name: 'met', taskDefinition: 'met:1', desiredCount: 2 });
  await api.waitStable('default', 'met');
  // The generated series has a datapoint per complete minute the tasks ran; a new service has
  // none yet, so the last five minutes are pushed (PutMetricData replaces generated values).
  const dims = [{ Name: 'ClusterName', Value: 'default' }, { Name: 'ServiceName', Value: 'met' }];
  const minute = Math.floor(Date.now() / 60_000) * 60;
  await call(baseURL!, CLOUDWATCH, 'PutMetricData', {
    Namespace: 'AWS/ECS',
    MetricData: [1, 2, 3, 4, 5].map((k) => ({ MetricName: 'CPUUtilization', Dimensions: dims, Timestamp: minute - 60 * k, Value: 10 * k + 0.25, Unit: 'Percent' })),
  }, 'application/x-amz-json-1.0');
  await open(page, '/ui/clusters/default/services/met/metrics?view=table');
  const t = page.locator('table[data-table=metrics]');
  await expect(t.locator('tbody tr').first()).toBeVisible({ timeout: 20_000 });
  const rows = await t.locator('tbody tr').evaluateAll((rs) =>
    rs.map((r) => ({ t: Number(r.getAttribute('data-time')), cpu: r.querySelector('[data-metric=cpu]')?.textContent ?? '' })),
  );
  const first = rows[0].t;
  const last = rows[rows.length - 1].t;
  const query = {
    MetricDataQueries: [{
      Id: 'cpu',
      MetricStat: { Metric: { Namespace: 'AWS/ECS', MetricName: 'CPUUtilization', Dimensions: [{ Name: 'ClusterName', Value: 'default' }, { Name: 'ServiceName', Value: 'met' }] }, Period: 60, Stat: 'Average' },
    }],
    StartTime: first,
    EndTime: last + 60,
  };
  const direct = await call(baseURL!, CLOUDWATCH, 'GetMetricData', query, 'application/x-amz-json-1.0');
  const byTime = new Map<number, number>();
  const r0 = direct.MetricDataResults[0];
  r0.Timestamps.forEach((ts: number, i: number) => byTime.set(Math.round(ts), r0.Values[i]));
  for (const r of rows) if (r.cpu) expect(r.cpu).toBe(byTime.get(r.t)!.toFixed(2));
  // The pushed values are among them.
  expect(rows.find((r) => r.t === minute - 60)?.cpu).toBe('10.25');
  if (awsCliPath()) {
    const out = JSON.parse(await awsCli(baseURL!, [
      'cloudwatch', 'get-metric-data',
      '--metric-data-queries', JSON.stringify(query.MetricDataQueries),
      '--start-time', new Date(first * 1000).toISOString(),
      '--end-time', new Date((last + 60) * 1000).toISOString(),
    ]));
    const cli = out.MetricDataResults[0];
    expect(cli.Values.length).toBe(r0.Values.length);
  }
  // The chart view draws the same series.
  await page.getByLabel('Table').uncheck();
  await expect(page.locator('figure.chart[data-metric=cpu] polyline')).toHaveAttribute('points', /\d/);
  await expect(page).not.toHaveURL(/view=table/);
});
