"""The Python half of the PostgreSQL client compatibility suite: reads one query through
every way the Python drivers analysts use pull rows, and prints what each saw as JSON.

Usage: py_clients.py HOST PORT USER DATABASE   (password in PGPASSWORD, query in MEDLAKE_QUERY)

Each entry of the output is {"types": [...], "rows": [[...], ...]} with values in one
canonical text form (see canon()), so the test compares every client with the lake:
psycopg 3 (text, binary, named cursor, named cursor WITH HOLD, COPY text / csv / binary),
psycopg2 (plain, named cursor, COPY csv), asyncpg (prepared statement, cursor, COPY csv)
and pandas over SQLAlchemy 2 (whole, and chunked with stream_results, on both dialects).
"""
import asyncio
import csv
import datetime
import decimal
import io
import json
import numbers
import os
import sys

import asyncpg
import pandas as pd
import psycopg
import psycopg2
import sqlalchemy

host, port, user, database = sys.argv[1:5]
port = int(port)
password = os.environ["PGPASSWORD"]
query = os.environ["MEDLAKE_QUERY"]
# Batches smaller than the result, so every streamed read takes several.
BATCH = 97


def missing(value):
    """A null as a client decodes it: None, or pandas' NaN / NA / NaT in a frame."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def tag(value):
    """The kind of a decoded value, in one vocabulary for every client."""
    if missing(value):
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, decimal.Decimal):
        return "decimal"
    if isinstance(value, datetime.datetime):
        return "timestamp"
    if isinstance(value, datetime.date):
        return "date"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def canon(value):
    """A decoded value as text: the form the test compares."""
    if missing(value):
        return None
    if isinstance(value, datetime.datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        return text + (".%06d" % value.microsecond if value.microsecond else "")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)


def canon_text(value):
    """A value in PostgreSQL's text form (COPY, csv): fractions of a second to 6 digits."""
    if value is None or value == "":
        return None
    if len(value) >= 19 and value[4] == "-" and value[10] == " " and value[13] == ":":
        head, _, fraction = value.partition(".")
        return head + ("." + fraction.ljust(6, "0") if fraction and fraction.strip("0") else "")
    return value


def decoded(rows):
    rows = [list(r) for r in rows]
    types = []
    for column in range(len(rows[0]) if rows else 0):
        kinds = {tag(r[column]) for r in rows} - {None}
        types.append(kinds.pop() if len(kinds) == 1 else sorted(kinds))
    return {"types": types, "rows": [[canon(v) for v in r] for r in rows]}


def as_text(rows):
    return {"types": None, "rows": [[canon_text(v) for v in r] for r in rows]}


def from_csv(data, header=True):
    reader = csv.reader(io.StringIO(data))
    rows = list(reader)
    return as_text(rows[1:] if header else rows)


seen = {}
dsn = dict(host=host, port=port, user=user, password=password, dbname=database)

with psycopg.connect(**dsn) as conn:
    with conn.cursor() as cur:
        cur.execute(query)
        seen["psycopg"] = decoded(cur.fetchall())
        oids = [d.type_code for d in cur.description]
    with conn.cursor(binary=True) as cur:
        cur.execute(query)
        seen["psycopg_binary"] = decoded(cur.fetchall())
    # A named (server-side) cursor: DECLARE, describe its portal, FETCH FORWARD n.
    with conn.cursor(name="big") as cur:
        cur.itersize = BATCH
        cur.execute(query)
        seen["psycopg_named_cursor"] = decoded(list(cur))
    conn.commit()
    # A named cursor with a parameter: DECLARE ... $1 through Parse/Bind/Execute.
    with conn.cursor(name="big_param") as cur:
        cur.itersize = BATCH
        cur.execute(
            # (% doubled: with parameters psycopg reads a lone % as a placeholder)
            "SELECT * FROM (" + query.replace("%", "%%") + ") AS q "
            "WHERE q.payment_id >= %s ORDER BY q.payment_id",
            (0,),
        )
        seen["psycopg_named_cursor_params"] = decoded(list(cur))
    conn.commit()
    with conn.cursor(name="big_binary", binary=True) as cur:
        cur.execute(query)
        first = cur.fetchmany(BATCH)
        seen["psycopg_named_cursor_binary"] = decoded(first + cur.fetchall())
    conn.commit()
    with conn.cursor() as cur:
        with cur.copy(f"COPY ({query}) TO STDOUT") as copy:
            seen["psycopg_copy_text"] = as_text(list(copy.rows()))
        with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER)") as copy:
            seen["psycopg_copy_csv"] = from_csv(b"".join(bytes(b) for b in copy).decode())
        with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as copy:
            copy.set_types(oids)
            seen["psycopg_copy_binary"] = decoded(list(copy.rows()))
    conn.commit()

# A cursor WITH HOLD outlives its transaction (autocommit), and pg_cursors lists it.
with psycopg.connect(**dsn, autocommit=True) as conn:
    cur = conn.cursor(name="held", withhold=True)
    cur.itersize = BATCH
    cur.execute(query)
    listed = conn.execute(
        "SELECT name, is_holdable FROM pg_catalog.pg_cursors ORDER BY name"
    ).fetchall()
    seen["pg_cursors"] = [list(r) for r in listed]
    seen["psycopg_named_cursor_hold"] = decoded(list(cur))
    cur.close()
    seen["pg_cursors_after_close"] = conn.execute("SELECT count(*) FROM pg_cursors").fetchone()[0]

with psycopg2.connect(**dsn) as conn:
    with conn.cursor() as cur:
        cur.execute(query)
        seen["psycopg2"] = decoded(cur.fetchall())
    with conn.cursor(name="c2") as cur:
        cur.itersize = BATCH
        cur.execute(query)
        seen["psycopg2_named_cursor"] = decoded(list(cur))
    with conn.cursor() as cur:
        out = io.StringIO()
        cur.copy_expert(f"COPY ({query}) TO STDOUT WITH CSV HEADER", out)
        seen["psycopg2_copy_csv"] = from_csv(out.getvalue())
conn.close()


async def with_asyncpg():
    conn = await asyncpg.connect(
        host=host, port=port, user=user, password=password, database=database
    )
    try:
        seen["asyncpg"] = decoded(await conn.fetch(query))
        statement = await conn.prepare(query)
        seen["asyncpg_prepared"] = decoded(await statement.fetch())
        async with conn.transaction():
            rows = [r async for r in conn.cursor(query, prefetch=BATCH)]
        seen["asyncpg_cursor"] = decoded(rows)
        out = io.BytesIO()
        await conn.copy_from_query(query, output=out, format="csv", header=True)
        seen["asyncpg_copy_csv"] = from_csv(out.getvalue().decode())
    finally:
        await conn.close()


asyncio.run(with_asyncpg())

for dialect in ("psycopg", "psycopg2"):
    url = sqlalchemy.engine.URL.create(
        f"postgresql+{dialect}", username=user, password=password, host=host, port=port,
        database=database,
    )
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        frame = pd.read_sql(sqlalchemy.text(query), conn, coerce_float=False)
        seen[f"pandas_{dialect}"] = decoded(frame.astype(object).itertuples(index=False))
    with engine.connect().execution_options(stream_results=True) as conn:
        chunks = pd.read_sql(sqlalchemy.text(query), conn, coerce_float=False, chunksize=BATCH)
        rows = [r for chunk in chunks for r in chunk.astype(object).itertuples(index=False)]
        seen[f"pandas_{dialect}_chunked"] = decoded(rows)
    engine.dispose()

print(json.dumps(seen, ensure_ascii=False))
