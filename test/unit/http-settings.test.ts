// A model's HTTP settings are any role's to choose, so each is bounded: one call may not become hundreds of
// requests, nor hold a process-wide model-call slot for days.

import { describe, expect, it } from 'vitest';
import { httpSettings } from '../../src/providers/http.js';

describe("a model config's HTTP settings", () => {
  it.each([
    ['max_retries', 11, 'from 0 to 10'],
    ['timeout_ms', 3_600_001, 'from 1 to 3600000'],
    ['connect_timeout_ms', 120_001, 'from 1 to 120000'],
    ['max_retries', -1, 'from 0 to 10'],
  ])('%s %d is 22023', (key, value, range) => {
    expect(() => httpSettings({ [key]: value }, 'm', 'chat')).toThrow(expect.objectContaining({ sqlstate: '22023', message: expect.stringContaining(range) }));
  });

  it('takes values within the bounds', () => {
    expect(httpSettings({ max_retries: 10, timeout_ms: 3_600_000, connect_timeout_ms: 120_000 }, 'm', 'chat')).toMatchObject({ maxRetries: 10, timeout: 3_600_000 });
  });
});
