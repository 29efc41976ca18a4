// Which values of a model config are credentials, and how the config others may read shows them.

import { describe, expect, it } from 'vitest';
import { credentialsIn, holdsCredentials, visibleConfig } from '../../src/crypto/config-secrets.js';

describe('credentials in a model config', () => {
  it('a URL\'s user, password and query values are credentials; its host and path are not', () => {
    expect(credentialsIn('base_url', 'https://svc:pa%24ss@gw.example/v1?key=AIzaQueryKey&x=1')).toEqual(['svc', 'pa$ss', 'key=AIzaQueryKey&x=1', 'key', 'AIzaQueryKey', 'x', '1']);
    // A key may be the whole query, = signs and all (review S).
    expect(credentialsIn('base_url', 'https://gw.example/v1?c2stUXVlcnlLZXk==')).toEqual(['c2stUXVlcnlLZXk==', 'c2stUXVlcnlLZXk', '=']);
    expect(visibleConfig({ base_url: 'https://gw.example/v1?sk-QueryNameKey0123&x=1' }).base_url).toBe('https://gw.example/v1?****');
    // Without a scheme, as Ollama's clients take a host (review S).
    expect(credentialsIn('base_url', 'u:OllamaKey012345@127.0.0.1:11434')).toEqual(['u', 'OllamaKey012345']);
    expect(credentialsIn('base_url', '127.0.0.1:11434?OllamaKey012345')).toEqual(['OllamaKey012345']);
    expect(credentialsIn('base_url', 'ollama.internal:11434')).toEqual([]);
    expect(visibleConfig({ base_url: 'u:OllamaKey012345@127.0.0.1:11434' }).base_url).toBe('****');
    expect(credentialsIn('base_url', 'https://sk-key-as-user@gw.example/v1')).toEqual(['sk-key-as-user']);
    expect(credentialsIn('base_url', 'https://gw.example/v1')).toEqual([]);
    expect(credentialsIn('model_name', 'https://svc:pass@gw.example')).toEqual([]);
    expect(credentialsIn('api_token', 'abc')).toEqual(['abc']);
  });

  it('a URL with a user or a query that does not parse is a credential whole, and shown masked whole', () => {
    for (const url of ['http://usr:pass@[::1/v1', 'http://usr:pa/ss@gw.example:x/v1', 'http://[::1/v1?key=AIzaQueryKey']) {
      expect(credentialsIn('base_url', url)).toEqual([url]);
      expect(visibleConfig({ base_url: url, model_name: 'm' })).toEqual({ base_url: '****', model_name: 'm' });
    }
    expect(credentialsIn('base_url', 'http://[::1/v1')).toEqual([]);
    expect(credentialsIn('base_url', 'not a url')).toEqual([]);
  });

  it('a config holding one is sealed, and shown masked', () => {
    const config = { base_url: 'https://svc:secretpass@gw.example/v1?key=AIzaQueryKey', model_name: 'm', auth_token: 'tok-0123456789' };
    expect(holdsCredentials(config)).toBe(true);
    expect(holdsCredentials({ base_url: 'https://gw.example/v1', model_name: 'm' })).toBe(false);
    expect(visibleConfig(config)).toEqual({ base_url: 'https://****:****@gw.example/v1?****', model_name: 'm', auth_token: '****' });
  });

  it("a request's headers and query parameters are credentials, each of them, at any depth; so are hyphenated key names", () => {
    const config = { base_url: 'https://gw.example/v1', default_headers: { 'X-Trace': 'on', Authorization: 'Bearer sk-head' }, nested: { 'x-api-key': 'sk-deep', keep: 'me' } };
    expect(credentialsIn('default_headers', config.default_headers)).toEqual(['on', 'Bearer sk-head']);
    // A query parameter's name may be the key too (review S).
    expect(credentialsIn('extra_query', { key: 'AIzaKey', 'sk-NameKey': '' })).toEqual(['key', 'AIzaKey', 'sk-NameKey', '']);
    expect(credentialsIn('nested', config.nested)).toEqual(['sk-deep']);
    expect(holdsCredentials({ 'api-key': 'k' })).toBe(true);
    expect(holdsCredentials({ options: { temperature: 0.2 } })).toBe(false);
    expect(visibleConfig(config)).toEqual({ base_url: 'https://gw.example/v1', default_headers: { 'X-Trace': '****', Authorization: '****' }, nested: { 'x-api-key': '****', keep: 'me' } });
  });
});
