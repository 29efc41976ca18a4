// A small shop schema with foreign keys and comments, for the text-to-SQL tests: customers and their orders are
// granted to trust_user, products and order items are not, and neither is a table of secrets.

import type pg from 'pg';
import { ROLES } from './cluster.js';

export const READER = ROLES.trust.user;

export async function createShop(client: pg.Client): Promise<void> {
  await client.query(`
    CREATE TABLE customers (
      id integer PRIMARY KEY,
      name text NOT NULL,
      email varchar(200) UNIQUE,
      region text NOT NULL DEFAULT 'north'
    );
    COMMENT ON TABLE customers IS 'People who buy from the shop';
    COMMENT ON COLUMN customers.region IS 'Sales region';
    CREATE TABLE orders (
      id integer PRIMARY KEY,
      customer_id integer NOT NULL REFERENCES customers ON DELETE CASCADE,
      placed_on date NOT NULL,
      total numeric(10, 2) NOT NULL
    );
    CREATE INDEX orders_placed_on ON orders (placed_on);
    CREATE TABLE products (id integer PRIMARY KEY, title text NOT NULL, price numeric(10, 2));
    CREATE TABLE order_items (
      order_id integer REFERENCES orders,
      product_id integer REFERENCES products,
      quantity integer NOT NULL CHECK (quantity > 0),
      PRIMARY KEY (order_id, product_id)
    );
    CREATE TABLE secrets (id integer PRIMARY KEY, payroll numeric);
    INSERT INTO customers VALUES (1, 'Ada', 'ada@example.com', 'north'), (2, 'Grace', 'grace@example.com', 'south'), (3, 'Linus', NULL, 'south');
    INSERT INTO orders VALUES (10, 1, '2024-01-05', 120.00), (11, 1, '2024-02-07', 80.50), (12, 2, '2024-02-09', 42.00), (13, 3, '2024-03-01', 300.00);
    INSERT INTO products VALUES (100, 'Keyboard', 49.90);
    GRANT SELECT ON customers, orders TO ${READER};
    ANALYZE;
  `);
}
