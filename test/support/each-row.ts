// A statement's rows handed over one at a time as they come, the client keeping none (a row listener and no
// callback): what a test of the proxy's memory runs, so that only the proxy's holding counts.

import pg from 'pg';

export function eachRow<Row>(client: pg.Client, sql: string, onRow: (row: Row) => void): Promise<void> {
  const query = new pg.Query(sql);
  query.on('row', onRow);
  const ended = new Promise<void>((resolve, reject) => {
    query.on('end', () => resolve());
    query.on('error', reject);
  });
  void client.query(query);
  return ended;
}
