/**
 * The task-definition editor and the revision diff (issue 8 items 1–2; dashboard checks 13–20):
 * berth-core's validator runs in the browser (the lazily loaded tools module) on every
 * keystroke and marks each finding at its span; a syntax error is marked where it is; Register
 * stays disabled while errors remain, shows the diff against the base revision, registers and
 * lands on the new revision; a diff URL lists image and environment changes and hides ECS's
 * metadata unless asked for.
 */
import type { Page } from '@playwright/test';
import { test, expect, open } from '../lib/fixtures';
import { container } from '../lib/ecs';
import { registerWeb } from '../lib/seed';

const editor = (page: Page) => page.getByRole('textbox', { name: 'Task definition JSON' });
const registerButton = (page: Page) => page.getByRole('button', { name: 'Register…' });

/** Replaces the editor's text as a paste would (one input event, on the undo stack). */
async function setText(page: Page, text: string): Promise<void> {
  await editor(page).focus();
  await page.evaluate((t) => {
    const ta = document.querySelector('textarea.ed-text') as HTMLTextAreaElement;
    ta.select();
    document.execCommand('insertText', false, t);
  }, text);
}

/** Types `ch` at the end of `before` (its first occurrence) and measures, in the page, the time
 * until an error mark reads `marked` (checked every animation frame). */
async function typeAndTime(page: Page, before: string, ch: string, marked: string): Promise<number> {
  return page.evaluate(
    async ([before, ch, marked]) => {
      const ta = document.querySelector('textarea.ed-text') as HTMLTextAreaElement;
      const at = ta.value.indexOf(before) + before.length;
      ta.focus();
      ta.setSelectionRange(at, at);
      const check = () => [...document.querySelectorAll('mark.diag-error')].some((m) => m.textContent === marked);
      const t0 = performance.now();
      document.execCommand('insertText', false, ch);
      for (;;) {
        if (check()) return performance.now() - t0;
        if (performance.now() - t0 > 5000) return Infinity;
        await new Promise((r) => requestAnimationFrame(r));
      }
    },
    [before, ch, marked],
  );
}

test('typing "cpu": "abc" marks exactly "abc" within 100 ms, and fixing it clears it', async ({ page, api }) => {
  await registerWeb(api);
  await open(page, '/ui/editor?from=web:1');
  await expect(editor(page)).toBeVisible();
  await expect(page.getByTestId('findings')).toContainText(/No findings|warning/);
  const doc = JSON.stringify({ family: 'web', cpu: 'ab', containerDefinitions: [container()] }, null, 2);
  await setText(page, doc);
  await expect(page.locator('mark.diag-error')).toHaveCount(1);
  // The keystroke that makes it "abc": the mark covers exactly the value.
  const ms = await typeAndTime(
    page,
    '"ab',
    'c',
    '"abc"',
  );
  expect(ms, 'time from keystroke to the mark').toBeLessThan(100);
  await expect(page.locator('mark.diag-error')).toHaveText('"abc"');
  await expect(page.getByTestId('findings').locator('li').first()).toContainText(/cpu/i);
  await expect(registerButton(page)).toBeDisabled();

  // Fix it: "abc" → "256".
  await setText(page, doc.replace('"ab"', '"256"'));
  await expect(page.locator('mark.diag-error')).toHaveCount(0);
  await expect(registerButton(page)).toBeEnabled();
});

test('an unclosed brace is marked at its position, with the last findings kept (dimmed)', async ({ page }) => {
  await open(page, '/ui/editor');
  const good = JSON.stringify({ family: 'x', containerDefinitions: [{ name: 'a', image: 'nginx:latest', memory: 128 }] }, null, 2);
  await setText(page, good);
  // nginx:latest is a warning; it stays listed (stale) while the syntax error stands.
  await expect(page.getByTestId('findings').locator('li')).not.toHaveCount(0);
  const warnings = await page.getByTestId('findings').locator('li').count();
  const broken = good.slice(0, good.lastIndexOf('}'));
  await setText(page, broken);
  const syntax = page.getByTestId('findings').locator('li:not(.stale)');
  await expect(syntax).toHaveCount(1);
  const lines = broken.split('\n').length;
  await expect(syntax).toContainText(new RegExp(`\\(${lines}:`));
  await expect(page.getByTestId('findings').locator('li.stale')).toHaveCount(warnings);
  // One finding is marked (a mark may be split where tokens meet), at the end of the text.
  const marks = page.locator('mark.diag-error');
  await expect(marks.first()).toBeAttached();
  expect(await marks.evaluateAll((ms) => new Set(ms.map((m) => m.getAttribute('data-i'))).size)).toBe(1);
  await expect(registerButton(page)).toBeDisabled();
  // Clicking the finding puts the cursor there.
  await syntax.getByRole('button').click();
  const caret = await page.evaluate(() => (document.querySelector('textarea.ed-text') as HTMLTextAreaElement).selectionStart);
  expect(caret).toBeGreaterThan(broken.length - 3);
});

test('Register shows the diff against the base, then registers and opens the new revision', async ({ page, api }) => {
  await registerWeb(api);
  await open(page, '/ui/editor?from=web:2');
  await expect(registerButton(page)).toBeEnabled();
  const text = await editor(page).inputValue();
  await setText(page, text.replace('nginx:1.28', 'nginx:1.29'));
  await registerButton(page).click();
  const d = page.getByRole('dialog');
  await expect(d).toContainText('/containerDefinitions/web/image');
  await expect(d).toContainText('nginx:1.29');
  await d.getByRole('button', { name: 'Register', exact: true }).click();
  await expect(page).toHaveURL(/\/ui\/task-definitions\/web\/3$/);
  const td = (await api.ecs('DescribeTaskDefinition', { taskDefinition: 'web:3' })).taskDefinition;
  expect(td.containerDefinitions[0].image).toBe('nginx:1.29');
});

test('a file dropped on the editor replaces the text and is validated', async ({ page }) => {
  await open(page, '/ui/editor');
  const doc = JSON.stringify({ family: 'dropped', networkMode: 'bridge', requiresCompatibilities: ['FARGATE'], cpu: '256', memory: '512', containerDefinitions: [{ name: 'a', image: 'nginx:1.27' }] });
  const dt = await page.evaluateHandle((t) => {
    const dt = new DataTransfer();
    dt.items.add(new File([t], 'td.json', { type: 'application/json' }));
    return dt;
  }, doc);
  await page.locator('.ed').dispatchEvent('drop', { dataTransfer: dt });
  await expect(editor(page)).toHaveValue(doc);
  await expect(page.getByTestId('findings')).toContainText('Fargate only supports network mode ‘awsvpc’.');
});

test('Format pretty-prints without reordering, and Undo brings the old text back', async ({ page }) => {
  await open(page, '/ui/editor');
  const compact = '{"family":"z","containerDefinitions":[{"name":"a","image":"nginx:1.27","memory":64}]}';
  await setText(page, compact);
  await page.getByRole('button', { name: 'Format' }).click();
  const formatted = await editor(page).inputValue();
  expect(formatted).toContain('\n  "family": "z",\n  "containerDefinitions": [');
  expect(JSON.parse(formatted)).toEqual(JSON.parse(compact));
  await page.getByRole('button', { name: 'Undo' }).click();
  await expect(editor(page)).toHaveValue(compact);
});

test('a diff URL lists the changed image and environment variable and hides metadata', async ({ page, api }) => {
  await registerWeb(api);
  await api.registerTaskDefinition('web', {
    containers: [container({ image: 'nginx:1.29', environment: [{ name: 'MODE', value: 'blue' }], portMappings: [{ containerPort: 80, hostPort: 0, protocol: 'tcp' }] })],
  });
  await open(page, '/ui/diff?a=web:1&b=web:3');
  const image = page.locator('[data-group=image]');
  await expect(image).toContainText('nginx:1.27');
  await expect(image).toContainText('nginx:1.29');
  await expect(page.locator('[data-group=environment]')).toContainText('MODE');
  const paths = await page.locator('li.change').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
  for (const p of paths) expect(p).not.toMatch(/revision|registeredAt|taskDefinitionArn|status$/);
  // Asking for metadata shows what normalisation hides.
  await page.getByLabel('Show ECS defaults and metadata').check();
  await expect(page).toHaveURL(/all=1/);
  await expect(page.locator('li.change[data-path*="revision"]')).not.toHaveCount(0);
  // The family page's "Compare revisions" starts at the last two; the pickers choose any two.
  await open(page, '/ui/task-definitions/web');
  await page.getByRole('link', { name: 'Compare revisions' }).click();
  await expect(page).toHaveURL(/\/ui\/diff\?a=web(%3A|:)2&b=web(%3A|:)3/);
  await expect(page.locator('[data-group=image]')).toContainText('nginx:1.29');
  await page.getByLabel('First revision').selectOption('1');
  await expect(page).toHaveURL(/a=web(%3A|:)1/);
  await expect(page.locator('[data-group=image]')).toContainText('nginx:1.27');
});
