/**
 * Scenarios seeded through the real ECS API (and the test-control API), shared by the specs.
 */
import { arnId, Berth, BREAKER, container, type Json, waitUntil } from './ecs';

export interface Scene {
  /** Task ids of the service `web` that are RUNNING. */
  webTasks: Json[];
  /** A task of `web` that crashed with exit code 1 (STOPPED, EssentialContainerExited). */
  crashed: Json;
}

/** Registers `web` (2 revisions: nginx:1.27 then nginx:1.28) with a port mapping. */
export async function registerWeb(api: Berth, family = 'web'): Promise<void> {
  const port = { containerPort: 80, hostPort: 0, protocol: 'tcp' };
  await api.registerTaskDefinition(family, { containers: [container({ portMappings: [port] })] });
  await api.registerTaskDefinition(family, { containers: [container({ image: 'nginx:1.28', portMappings: [port] })] });
}

/**
 * The default cluster with services `web` (3 × web:1), `api` (2 × api:1) and `worker` (1),
 * all deployments COMPLETED; one `web` task crashed (exit 1) and was replaced; clusters `c1`
 * (two FARGATE tasks) and `c2` (empty).
 */
export async function seedCluster(api: Berth): Promise<Scene> {
  await registerWeb(api);
  await api.registerTaskDefinition('api', { containers: [container({ name: 'api', image: 'public.ecr.aws/docker/library/httpd:2.4' })] });
  await api.registerTaskDefinition('worker', { containers: [container({ name: 'worker', image: 'busybox:1.36', command: ['sleep', '3600'] })] });
  await api.createService({ name: 'web', taskDefinition: 'web:1', desiredCount: 3, deploymentConfiguration: BREAKER });
  await api.createService({ name: 'api', taskDefinition: 'api:1', desiredCount: 2 });
  await api.createService({ name: 'worker', taskDefinition: 'worker:1', desiredCount: 1 });
  await api.waitStable('default', 'web');
  const before = await api.serviceTasks('default', 'web');
  const victim = before[0];
  await api.crash(victim.taskArn, 1);
  await waitUntil('the crashed task to stop and be replaced', async () => {
    const [t] = await api.describeTasks('default', [victim.taskArn]);
    const s = await api.describeService('default', 'web');
    return t.lastStatus === 'STOPPED' && s.runningCount === 3;
  }, { timeoutMs: 30_000 });
  for (const s of ['web', 'api', 'worker']) await api.settle('default', s);

  await api.createCluster('c1');
  await api.createCluster('c2');
  await api.registerTaskDefinition('fg', {
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    cpu: '256',
    memory: '512',
    containers: [{ name: 'app', image: 'nginx:1.27', essential: true }],
  });
  const fg = await api.ecs('RunTask', {
    cluster: 'c1',
    taskDefinition: 'fg',
    launchType: 'FARGATE',
    count: 2,
    networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-12345678'], assignPublicIp: 'DISABLED' } },
  });
  await api.waitTasksRunning('c1', fg.tasks.map((t: Json) => t.taskArn));

  const [crashed] = await api.describeTasks('default', [victim.taskArn]);
  return { webTasks: await api.serviceTasks('default', 'web'), crashed };
}

/** The service deployment whose id ends like `deploymentId` (ECS `ecs-svc/<n>`). */
export const deploymentKeySuffix = (deploymentId: string) => arnId(deploymentId);
