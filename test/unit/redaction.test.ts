import { describe, expect, it } from 'vitest';
import { maskSecrets, maskSecretsIn } from '../../src/catalog/redaction.js';

describe('maskSecrets', () => {
  it('masks API keys, bearer tokens, key=value credentials and e-mail addresses, and leaves the rest', () => {
    expect(maskSecrets('use sk-proj-abcdefghijklmnop now')).toBe('use sk-**** now');
    expect(maskSecrets('Authorization: Bearer eyJhbGciOi.J9.xyz')).toBe('Authorization: **** ****');
    expect(maskSecrets('a Bearer eyJhbGciOi.J9.xyz token')).toBe('a Bearer **** token');
    expect(maskSecrets('password=hunter2; user=bob')).toBe('password=****; user=bob');
    expect(maskSecrets('{"api_key": "abc123"}')).toBe('{"api_key": ****}');
    expect(maskSecrets('write to ana@example.com today')).toBe('write to ****@**** today');
    expect(maskSecrets('SELECT count(*) FROM orders WHERE total > 10')).toBe('SELECT count(*) FROM orders WHERE total > 10');
  });

  it("masks the values of a request's credential headers written as JSON", () => {
    const headers = '{"Authorization": "Basic dXNlcjpwYXNz", "x-api-key": "k1", "Ocp-Apim-Subscription-Key": "k2", "Cookie": "sid=k3", "x-trace": "on"}';
    expect(maskSecrets(headers)).toBe('{"Authorization": ****, "x-api-key": ****, "Ocp-Apim-Subscription-Key": ****, "Cookie": ****, "x-trace": "on"}');
  });

  it('masks every string inside a JSON value', () => {
    expect(maskSecretsIn({ a: ['token=xyz', 3], b: { c: 'sk-0123456789ab' }, d: null })).toEqual({ a: ['token=****', 3], b: { c: 'sk-****' }, d: null });
  });
});
