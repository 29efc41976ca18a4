"""The driver matrix with psycopg 3 (see matrix.py)."""

import threading

import psycopg

import matrix


def connect(port=matrix.PORT, password=matrix.PASSWORD, **params):
    params.setdefault("sslmode", "disable")
    return psycopg.connect(
        host=matrix.HOST, port=port, dbname=matrix.DATABASE, user=matrix.USER, password=password,
        autocommit=True, connect_timeout=10, **params,
    )


def connect_scenario():
    with connect() as conn:
        user = conn.execute("SELECT current_user").fetchone()[0]
    try:
        connect(password="wrong").close()
        refused = False
    except psycopg.OperationalError as error:
        refused = matrix.password_refused(error)
    return {"user": user, "wrongPasswordRefused": refused}


def simple():
    with connect() as conn:
        # Without parameters psycopg sends the string as one simple Query.
        cur = conn.execute(matrix.SIMPLE)
        while cur.nextset():
            pass
        total, word = cur.fetchone()
        return {"total": total, "word": word}


def extended():
    with connect() as conn:
        return list(conn.execute("SELECT %s::int + 1, %s::text", (41, "été")).fetchone())


def prepared():
    with connect() as conn:
        results = [conn.execute("SELECT %s::int * 2", (n,), prepare=True).fetchone()[0] for n in (1, 2, 3)]
        server = conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql").fetchone()[0]
        return {"results": results, "serverPrepared": server > 0}


def binary():
    with connect() as conn, conn.cursor(binary=True) as cur:
        cur.execute(matrix.BINARY)
        formats = {cur.pgresult.fformat(column) for column in range(cur.pgresult.nfields)}
        if formats != {1}:
            raise AssertionError(f"result formats {formats}, not binary")
        i, f, b, t, d = cur.fetchone()
        return [i, f, b.hex(), t, d.isoformat()]


def copy():
    with connect() as conn, conn.cursor() as cur:
        cur.execute(matrix.COPY_TABLE)
        with cur.copy(matrix.COPY_IN) as stream:
            stream.write(matrix.COPY_DATA)
        copied_in = cur.execute(matrix.COPIED).fetchone()[0]
        out = b""
        with cur.copy(matrix.COPY_OUT) as stream:
            for data in stream:
                out += bytes(data)
        return {"copiedIn": copied_in, "copiedOut": out.decode()}


def transaction():
    with connect() as conn:
        errors = matrix.transaction_errors(conn.execute)
        return {"errors": errors, "committed": conn.execute(matrix.COMMITTED).fetchone()[0]}


def cancelled(sql):
    with connect() as conn:
        timer = threading.Timer(matrix.CANCEL_AFTER, conn.cancel)
        timer.start()
        try:
            conn.execute(sql)
            outcome = None
        except psycopg.errors.QueryCanceled as error:
            outcome = error.sqlstate
        finally:
            timer.cancel()
        return {"cancelled": outcome == "57014", "after": conn.execute("SELECT 1").fetchone()[0]}


def llm():
    with connect() as conn:
        return conn.execute("SELECT pg_llm_chat('llm', %s)", (matrix.PROMPT,)).fetchone()[0]


def close():
    conn = connect(application_name=matrix.CLOSING_APP)
    conn.execute("SELECT 1")
    conn.close()
    with connect() as observer:
        gone = matrix.wait_until(lambda: observer.execute(matrix.BACKENDS_OF_CLOSED).fetchone()[0] == 0)
    return {"closed": conn.closed, "backendGone": gone}


def tls():
    with connect(port=matrix.TLS_PORT, sslmode="verify-full", sslrootcert=matrix.CA_FILE, application_name=matrix.TLS_APP) as conn:
        user, ssl = conn.execute(matrix.UPSTREAM_SSL).fetchone()
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
