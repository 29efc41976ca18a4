// The admin dashboard in a real browser (Debian's chromium, driven by playwright-core): against a running proxy and
// a fake provider that answers slowly, with an admin token given once in the address, a model call appears in flight
// with its session's statement shown without its values, then among the recent calls with its tokens and cost. A
// screenshot of the page is left in a temp dir.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAdmin } from '../support/admin.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

const CHROMIUM = '/usr/bin/chromium';
const SECRET = 'sk-dashboard-0123456789abcdef';
const TOKEN = 'dashboard-admin-token-0123';
const shared = proxyAndFakeProvider();
let admin: FastifyInstance;
let base: string;
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  ({ app: admin, base } = await startTestAdmin(shared.proxy, { token: TOKEN }));
  // A fresh profile, and nothing that reaches for the network: the machine has none.
  profile = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 1100 },
  });
});
afterAll(async () => {
  await browser?.close();
  await admin?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('the admin dashboard', () => {
  it('shows a model call in flight, then among the recent calls, with its cost', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { price_per_million_input_tokens: 2000, price_per_million_output_tokens: 4000 });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${base}/?token=${TOKEN}`);
    expect(page.url()).toBe(`${base}/`);
    await expect.poll(() => cell(page, '#recent tbody td.empty')).toBe('no model call has ended yet');

    shared.fake.script({ kind: 'reply', answer: () => 'a slow answer', delayMs: 3000 });
    const answered = client.query(`SELECT pg_llm_chat('llm', 'the key is ${SECRET}') AS answer`);
    const running = page.locator('#running tbody tr', { hasText: 'llm' });
    await running.waitFor({ timeout: 10_000 });
    expect(await running.textContent()).toContain('chat');
    expect(await running.textContent()).toContain('postgres@');
    const session = page.locator('#sessions tbody tr', { hasText: 'pg_llm_chat' });
    await session.waitFor({ timeout: 5000 });
    expect(await session.locator('td.statement').textContent()).toBe("SELECT pg_llm_chat('…', '…') AS answer");
    expect(await session.locator('td.state').textContent()).toBe('active');
    expect(await page.content()).not.toContain(SECRET.slice(3, 15));

    expect((await answered).rows[0].answer).toBe('a slow answer');
    const recent = page.locator('#recent tbody tr', { hasText: 'llm' });
    await recent.waitFor({ timeout: 10_000 });
    const cells = await recent.locator('td').allTextContents();
    expect(cells.slice(1, 5)).toEqual(['llm', 'gpt-test', 'chat', expect.stringMatching(/^postgres@/)]);
    expect(Number.parseFloat(cells[5]!)).toBeGreaterThanOrEqual(2.9);
    expect(cells.slice(6)).toEqual(['7 / 3', '$0.0260', 'ok']);
    await expect.poll(() => cell(page, '#running tbody td.empty')).toBe('no model call is running');
    expect(await page.locator('#cost-by-model rect').count()).toBeGreaterThan(0);
    expect(await page.locator('#legend-by-model li').first().textContent()).toContain('llm');
    expect(errors).toEqual([]);

    const shot = path.join(mkdtempSync(path.join(os.tmpdir(), 'pg-llm-dashboard-')), 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`dashboard screenshot: ${shot}`);
  });
});

async function cell(page: Page, selector: string): Promise<string | null> {
  const found = page.locator(selector);
  return (await found.count()) > 0 ? found.first().textContent() : null;
}
