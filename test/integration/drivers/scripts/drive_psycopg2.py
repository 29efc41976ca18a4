"""The driver matrix with psycopg2 (see matrix.py).

psycopg2 speaks only the simple protocol: it binds parameters itself, so "extended" and "binary" show what it does
instead (client-side parameters; bytea and typed values decoded from text), and "prepared" uses SQL PREPARE.
"""

import io
import threading

import psycopg2
import psycopg2.errors

import matrix


def connect(port=matrix.PORT, password=matrix.PASSWORD, **params):
    params.setdefault("sslmode", "disable")
    conn = psycopg2.connect(
        host=matrix.HOST, port=port, dbname=matrix.DATABASE, user=matrix.USER, password=password,
        connect_timeout=10, **params,
    )
    conn.autocommit = True
    return conn


def one(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def connect_scenario():
    conn = connect()
    user = one(conn, "SELECT current_user")[0]
    conn.close()
    try:
        connect(password="wrong").close()
        refused = False
    except psycopg2.OperationalError as error:
        refused = matrix.password_refused(error)
    return {"user": user, "wrongPasswordRefused": refused}


def simple():
    conn = connect()
    total, word = one(conn, matrix.SIMPLE)
    conn.close()
    return {"total": total, "word": word}


def extended():
    conn = connect()
    row = one(conn, "SELECT %s::int + 1, %s::text", (41, "été"))
    conn.close()
    return list(row)


def prepared():
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("PREPARE doubled(int) AS SELECT $1 * 2")
    results = [one(conn, "EXECUTE doubled(%s)", (n,))[0] for n in (1, 2, 3)]
    server = one(conn, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'doubled'")[0]
    conn.close()
    return {"results": results, "serverPrepared": server > 0}


def binary():
    conn = connect()
    i, f, b, t, d = one(conn, matrix.BINARY)
    conn.close()
    return [i, f, bytes(b).hex(), t, d.isoformat()]


def copy():
    conn = connect()
    with conn.cursor() as cur:
        cur.execute(matrix.COPY_TABLE)
        cur.copy_expert(matrix.COPY_IN, io.StringIO(matrix.COPY_DATA))
        copied_in = one(conn, matrix.COPIED)[0]
        out = io.StringIO()
        cur.copy_expert(matrix.COPY_OUT, out)
    conn.close()
    return {"copiedIn": copied_in, "copiedOut": out.getvalue()}


def transaction():
    conn = connect()
    with conn.cursor() as cur:
        errors = matrix.transaction_errors(cur.execute)
    committed = one(conn, matrix.COMMITTED)[0]
    conn.close()
    return {"errors": errors, "committed": committed}


def cancelled(sql):
    conn = connect()
    timer = threading.Timer(matrix.CANCEL_AFTER, conn.cancel)
    timer.start()
    try:
        one(conn, sql)
        outcome = None
    except psycopg2.errors.QueryCanceled as error:
        outcome = error.pgcode
    finally:
        timer.cancel()
    after = one(conn, "SELECT 1")[0]
    conn.close()
    return {"cancelled": outcome == "57014", "after": after}


def llm():
    conn = connect()
    answer = one(conn, "SELECT pg_llm_chat('llm', %s)", (matrix.PROMPT,))[0]
    conn.close()
    return answer


def close():
    conn = connect(application_name=matrix.CLOSING_APP)
    one(conn, "SELECT 1")
    conn.close()
    observer = connect()
    gone = matrix.wait_until(lambda: one(observer, matrix.BACKENDS_OF_CLOSED)[0] == 0)
    observer.close()
    return {"closed": conn.closed != 0, "backendGone": gone}


def tls():
    conn = connect(port=matrix.TLS_PORT, sslmode="verify-full", sslrootcert=matrix.CA_FILE, application_name=matrix.TLS_APP)
    user, ssl = one(conn, matrix.UPSTREAM_SSL)
    conn.close()
    return {"user": user, "upstreamSsl": ssl}


matrix.play([
    ("connect", connect_scenario),
    ("simple", simple),
    ("extended", extended),
    ("prepared", prepared),
    ("binary", binary),
    ("copy", copy),
    ("transaction", transaction),
    ("cancelSleep", lambda: cancelled(matrix.SLEEP)),
    ("cancelLlm", lambda: cancelled(matrix.SILENT_CALL)),
    ("llm", llm),
    ("close", close),
    ("tls", tls),
])
