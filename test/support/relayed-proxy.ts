// A proxy whose upstream connections pass through a TcpRelay, and a fake provider, for the tests of a file: started
// before the first, stopped after the last. A test reads what the server sent the proxy in relay.bytesFromTarget.

import { afterAll, beforeAll } from 'vitest';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { cluster, startProxy, type TestProxy } from './proxy.js';
import { TcpRelay } from './tcp-relay.js';

export function relayedProxyAndFakeProvider(): { proxy: TestProxy; fake: FakeProvider; relay: TcpRelay } {
  const shared = {} as { proxy: TestProxy; fake: FakeProvider; relay: TcpRelay };
  beforeAll(async () => {
    shared.relay = await TcpRelay.start(cluster().port);
    shared.proxy = await startProxy({ upstream: { port: shared.relay.port } });
    shared.fake = await startFakeProvider();
  });
  afterAll(async () => {
    await shared.proxy.stop();
    await shared.fake.close();
    await shared.relay.stop();
  });
  return shared;
}
