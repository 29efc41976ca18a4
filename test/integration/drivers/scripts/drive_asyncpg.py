"""The driver matrix with asyncpg (see matrix.py).

asyncpg reads no rows from a simple query, so "simple" reads its result back apart; it always reads results in
binary. It cancels a statement when the statement's timeout passes (a CancelRequest, its error swallowed), so
"cancelled" means it raised its timeout and, for pg_sleep, that the backend stopped sleeping. Only "close" closes
gracefully; the other scenarios drop their connections, so that a close that hangs fails that scenario alone.
"""

import asyncio
import io
import ssl

import asyncpg

import matrix

CLOSE_GUARD = 5


async def connect(port=matrix.PORT, password=matrix.PASSWORD, application_name="matrix", **params):
    params.setdefault("ssl", False)
    return await asyncpg.connect(
        host=matrix.HOST, port=port, database=matrix.DATABASE, user=matrix.USER, password=password, timeout=10,
        server_settings={"application_name": application_name}, **params,
    )


async def connect_scenario():
    conn = await connect()
    user = await conn.fetchval("SELECT current_user")
    conn.terminate()
    try:
        (await connect(password="wrong")).terminate()
        refused = False
    except asyncpg.InvalidPasswordError as error:
        refused = matrix.password_refused(error)
    return {"user": user, "wrongPasswordRefused": refused}


async def simple():
    conn = await connect()
    await conn.execute(matrix.SIMPLE)
    total, word = await conn.fetchrow(matrix.SIMPLE_RESULT)
    conn.terminate()
    return {"total": total, "word": word}


async def extended():
    conn = await connect()
    row = await conn.fetchrow("SELECT $1::int + 1, $2::text", 41, "été")
    conn.terminate()
    return list(row)


async def prepared():
    conn = await connect()
    statement = await conn.prepare("SELECT $1::int * 2")
    results = [await statement.fetchval(n) for n in (1, 2, 3)]
    server = await conn.fetchval("SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql")
    conn.terminate()
    return {"results": results, "serverPrepared": server > 0}


async def binary():
    conn = await connect()
    i, f, b, t, d = await conn.fetchrow(matrix.BINARY)
    conn.terminate()
    return [i, f, b.hex(), t, d.isoformat()]


async def copy():
    conn = await connect()
    await conn.execute(matrix.COPY_TABLE)
    await conn.copy_to_table("copy_t", source=io.BytesIO(matrix.COPY_DATA.encode()))
    copied_in = await conn.fetchval(matrix.COPIED)
    out = io.BytesIO()
    await conn.copy_from_table("copy_t", output=out)
    conn.terminate()
    return {"copiedIn": copied_in, "copiedOut": out.getvalue().decode()}


async def transaction():
    conn = await connect()
    errors = []
    for sql, fails in matrix.TRANSACTION:
        try:
            await conn.execute(sql)
            if fails:
                errors.append(None)
        except asyncpg.PostgresError as error:
            if not fails:
                raise
            errors.append(error.sqlstate)
    committed = await conn.fetchval(matrix.COMMITTED)
    conn.terminate()
    return {"errors": errors, "committed": committed}


async def cancelled(sql, backend_stops):
    conn = await connect(application_name=matrix.CANCELLED_APP)
    try:
        await conn.fetchval(sql, timeout=matrix.CANCEL_AFTER)
        timed_out = False
    except asyncio.TimeoutError:
        timed_out = True
    stopped = True
    if backend_stops:
        observer = await connect()
        stopped = await wait_until(lambda: observer.fetchval(matrix.ACTIVE_CANCELLED), 0)
        observer.terminate()
    after = await conn.fetchval("SELECT 1")
    conn.terminate()
    return {"cancelled": timed_out and stopped, "after": after}


async def wait_until(query, wanted, seconds=10.0):
    """Polls the query until it answers `wanted` or the time is up."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        if await query() == wanted:
            return True
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.1)


async def llm():
    conn = await connect()
    answer = await conn.fetchval("SELECT pg_llm_chat('llm', $1)", matrix.PROMPT)
    conn.terminate()
    return answer


async def close():
    conn = await connect(application_name=matrix.CLOSING_APP)
    await conn.fetchval("SELECT 1")
    try:
        await asyncio.wait_for(conn.close(), CLOSE_GUARD)
        closed = True
    except asyncio.TimeoutError:
        closed = False
        conn.terminate()
    observer = await connect()
    gone = await wait_until(lambda: observer.fetchval(matrix.BACKENDS_OF_CLOSED), 0)
    observer.terminate()
    return {"closed": closed, "backendGone": gone}


async def tls():
    context = ssl.create_default_context(cafile=matrix.CA_FILE)
    conn = await connect(port=matrix.TLS_PORT, ssl=context, application_name=matrix.TLS_APP)
    user, upstream_ssl = await conn.fetchrow(matrix.UPSTREAM_SSL)
    conn.terminate()
    return {"user": user, "upstreamSsl": upstream_ssl}


def synchronously(scenario, *args):
    return lambda: asyncio.run(scenario(*args))


matrix.play([
    ("connect", synchronously(connect_scenario)),
    ("simple", synchronously(simple)),
    ("extended", synchronously(extended)),
    ("prepared", synchronously(prepared)),
    ("binary", synchronously(binary)),
    ("copy", synchronously(copy)),
    ("transaction", synchronously(transaction)),
    ("cancelSleep", synchronously(cancelled, matrix.SLEEP, True)),
    ("cancelLlm", synchronously(cancelled, matrix.SILENT_CALL, False)),
    ("llm", synchronously(llm)),
    ("close", synchronously(close)),
    ("tls", synchronously(tls)),
])
