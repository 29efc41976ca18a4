// How long other sessions wait while calls with big prompts, or with big answers, go through the proxy (issue 12,
// review R3), and while big statements that only seem to call a function do (review O): a session's SELECT 1, sent every 5 ms through the proxy, its worst and 99th-percentile wait, against
// the same sent direct to PostgreSQL meanwhile (what the machine's load alone costs). The probes run in processes
// of their own: the fake provider, in this one, parses tens of MB of prompts, which must not count against them.

import { spawn } from 'node:child_process';
import pg from 'pg';
import type { FakeProvider } from '../support/fake-provider.js';

const PROMPT_PAIRS = 3_500_000;
const PROMPT_CALLS = 4;
const ANSWER_BYTES = 7_000_000;
const ANSWER_CALLS = 8;
/**
 * Statements that name pg_llm_chat in a comment only, of millions of tokens, which the proxy's scan reads whole: held
 * until they are in (8 MiB), and relayed as they come (64 MiB, past the 9 MiB the proxy holds).
 */
const STATEMENTS = [
  { bytes: 8 * 1024 * 1024, sessions: 4 },
  { bytes: 64 * 1024 * 1024, sessions: 2 },
];

export interface ProbeResult {
  worstMs: number;
  p99Ms: number;
}

export interface BigCallsResult {
  scenario: string;
  callsMs: number;
  proxy: ProbeResult;
  direct: ProbeResult;
}

/** A process that sends SELECT 1 to `port` every 5 ms until its stdin closes, then prints its waits. */
const PROBE = `
import pg from 'pg';
const client = new pg.Client({ host: '127.0.0.1', port: Number(process.argv[1]), user: 'postgres', database: 'postgres' });
await client.connect();
const waits = [];
let stopping = false;
process.stdin.on('end', () => (stopping = true)).resume();
process.stdout.write('ready\\n');
while (!stopping) {
  const started = performance.now();
  await client.query('SELECT 1');
  waits.push(performance.now() - started);
  await new Promise((resolve) => setTimeout(resolve, 5));
}
await client.end();
waits.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ worstMs: waits.at(-1), p99Ms: waits[Math.floor(waits.length * 0.99)] }) + '\\n');
`;

export async function measureBigCalls(proxyPort: number, directPort: number, fake: FakeProvider): Promise<BigCallsResult[]> {
  const setup = new pg.Client({ host: '127.0.0.1', port: proxyPort, user: 'postgres', database: 'postgres' });
  await setup.connect();
  try {
    await setup.query('CREATE EXTENSION IF NOT EXISTS pg_llm');
    const config = { provider: 'openai', model_name: 'gpt-bench', base_url: fake.baseUrl, max_retries: 0 };
    await setup.query(`SELECT pg_llm_add_model(false, 'openai', 'bench_big', 'sk-bench-0123456789abcdef', $1)`, [JSON.stringify(config)]);
  } finally {
    await setup.end();
  }
  const prompt = `SELECT length(pg_llm_chat('bench_big', repeat(E'\\\\u00e9"', ${PROMPT_PAIRS}) || $1::text)) AS n`;
  const answer = `SELECT length(pg_llm_chat('bench_big', 'hi' || $1::text)) AS n`;
  const results = [await scenario(`${PROMPT_CALLS} calls, prompts of ${(PROMPT_PAIRS * 7) / 1e6} MB`, PROMPT_CALLS, (client, i) => client.query(prompt, [String(i)]))];
  fake.script(...Array.from({ length: ANSWER_CALLS }, () => ({ kind: 'answer' as const, content: 'a'.repeat(ANSWER_BYTES) })));
  results.push(await scenario(`${ANSWER_CALLS} calls, answers of ${ANSWER_BYTES / 1e6} MB`, ANSWER_CALLS, (client, i) => client.query(answer, [String(i)])));
  for (const { bytes, sessions } of STATEMENTS) {
    // The server stops at the first "" (a zero-length identifier), so only the proxy's reading of them costs.
    const statement = `SELECT 1 /* pg_llm_chat */; SELECT ${'"",'.repeat(bytes / 3)}1`;
    const refused = async (client: pg.Client): Promise<void> => {
      const code = await client.query(statement).then(() => 'none', (error: { code?: string }) => error.code);
      if (code !== '42601') throw new Error(`the server was to refuse the statement with 42601, not ${code}`);
    };
    results.push(await scenario(`${sessions} sessions, statements of ${bytes / 1024 / 1024} MiB`, sessions, refused));
  }
  return results;

  async function scenario(name: string, calls: number, run: (client: pg.Client, i: number) => Promise<unknown>): Promise<BigCallsResult> {
    const clients = await Promise.all(Array.from({ length: calls }, async () => {
      const client = new pg.Client({ host: '127.0.0.1', port: proxyPort, user: 'postgres', database: 'postgres' });
      await client.connect();
      return client;
    }));
    try {
      const probes = [startProbe(proxyPort), startProbe(directPort)];
      await Promise.all(probes.map((probe) => probe.ready));
      const started = performance.now();
      await Promise.all(clients.map(run));
      const callsMs = performance.now() - started;
      const [proxy, direct] = await Promise.all(probes.map((probe) => probe.stop()));
      return { scenario: name, callsMs, proxy: proxy!, direct: direct! };
    } finally {
      await Promise.all(clients.map((client) => client.end()));
    }
  }
}

function startProbe(port: number): { ready: Promise<void>; stop(): Promise<ProbeResult> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PROBE, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  let readyNow: () => void;
  const ready = new Promise<void>((resolve) => (readyNow = resolve));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (output.includes('ready\n')) readyNow();
  });
  return {
    ready,
    async stop() {
      child.stdin.end();
      await exited;
      return JSON.parse(output.split('\n').at(-2)!) as ProbeResult;
    },
  };
}
