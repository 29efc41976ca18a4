import { describe, expect, it } from 'vitest';
import { isReplicationConnection } from '../../proxy/replication-startup.js';

const startup = (replication?: string) => new Map(replication === undefined ? [] : [['replication', replication]]);

describe('a replication connection, by its startup parameters', () => {
  it('is asked for by every spelling PostgreSQL reads as true, and by "database"', () => {
    for (const value of ['database', 'true', 'TRUE', 't', 'tr', 'on', 'On', 'yes', 'y', '1']) expect(isReplicationConnection(startup(value))).toBe(true);
  });

  it('is not asked for without the parameter, nor by a spelling of false', () => {
    expect(isReplicationConnection(startup())).toBe(false);
    for (const value of ['false', 'FALSE', 'f', 'fal', 'off', 'OF', 'no', 'n', '0']) expect(isReplicationConnection(startup(value))).toBe(false);
  });
});
