"""Shared by the driver matrix's Python scripts: where to connect, the statements of each scenario, and the report.

Each script plays every scenario once, on a connection of its own, and prints one JSON line per scenario:
{"scenario": name, "value": ...} or {"scenario": name, "error": "..."}; test/support/driver-matrix.ts says what
each value must be.
"""

import json
import os
import sys
import time
import traceback

HOST = os.environ["MATRIX_HOST"]
PORT = int(os.environ["MATRIX_PORT"])
TLS_PORT = int(os.environ["MATRIX_TLS_PORT"])
CA_FILE = os.environ["MATRIX_CA_FILE"]
DATABASE = os.environ["MATRIX_DATABASE"]
USER = os.environ["MATRIX_USER"]
PASSWORD = os.environ["MATRIX_PASSWORD"]

PROMPT = "hello from the driver matrix"
# Seconds before a cancel is sent: the statement is running by then.
CANCEL_AFTER = 0.5

SIMPLE_RESULT = "SELECT sum(n)::int AS total, 'été' AS word FROM simple_t"
SIMPLE = f"CREATE TEMP TABLE simple_t (n int); INSERT INTO simple_t VALUES (1), (2), (3); {SIMPLE_RESULT}"
BINARY = "SELECT 42::int4 AS i, 1.5::float8 AS f, '\\xdeadbeef'::bytea AS b, 'été'::text AS t, '2024-02-29'::date AS d"
COPY_TABLE = "CREATE TEMP TABLE copy_t (id int, word text)"
COPY_IN = "COPY copy_t FROM STDIN"
COPY_OUT = "COPY copy_t TO STDOUT"
COPY_DATA = "1\tone\n2\ttwo\n3\tété\n"
COPIED = "SELECT count(*)::int FROM copy_t"
COMMITTED = "SELECT array_agg(id ORDER BY id) FROM tx_t"
SLEEP = "SELECT pg_sleep(20)"
SILENT_CALL = "SELECT pg_llm_chat('silent', 'never answered')"
CLOSING_APP = "matrix-close"
BACKENDS_OF_CLOSED = (
    f"SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND application_name = '{CLOSING_APP}'"
)
CANCELLED_APP = "matrix-cancel"
ACTIVE_CANCELLED = (
    "SELECT count(*)::int FROM pg_stat_activity "
    f"WHERE datname = current_database() AND application_name = '{CANCELLED_APP}' AND state = 'active'"
)
TLS_APP = "matrix-tls"
UPSTREAM_SSL = (
    "SELECT current_user::text, ssl FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
    f"WHERE datname = current_database() AND application_name = '{TLS_APP}'"
)


def sqlstate(error):
    """The SQLSTATE a driver's error carries, whatever the driver calls it."""
    return getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)


def password_refused(error):
    return "password authentication failed" in str(error)


# The transaction scenario: (statement, whether it fails). The answer is the SQLSTATEs of the failing ones, in order.
TRANSACTION = [
    ("CREATE TEMP TABLE tx_t (id int)", False),
    ("BEGIN", False),
    ("INSERT INTO tx_t VALUES (1)", False),
    ("SAVEPOINT s", False),
    ("SELECT 1/0", True),
    ("SELECT 1", True),
    ("ROLLBACK TO SAVEPOINT s", False),
    ("INSERT INTO tx_t VALUES (2)", False),
    ("COMMIT", False),
    ("BEGIN", False),
    ("INSERT INTO tx_t VALUES (3)", False),
    ("SELECT 1/0", True),
    ("ROLLBACK", False),
]


def transaction_errors(run):
    """Runs TRANSACTION with `run(sql)`; answers the SQLSTATEs of the statements that failed."""
    errors = []
    for sql, fails in TRANSACTION:
        if not fails:
            run(sql)
            continue
        try:
            run(sql)
            errors.append(None)
        except Exception as error:
            errors.append(sqlstate(error))
    return errors


def wait_until(check, seconds=10.0):
    """Polls check() until it is true or the time is up; answers its last result."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def play(scenarios):
    """Plays (name, function) pairs in order, reporting each one's value or error."""
    for name, scenario in scenarios:
        try:
            report = {"scenario": name, "value": scenario()}
        except Exception as error:
            report = {"scenario": name, "error": f"{type(error).__name__} ({sqlstate(error)}): {error}"}
            traceback.print_exc(file=sys.stderr)
        print(json.dumps(report), flush=True)
