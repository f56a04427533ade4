"""Reads medlake over the PostgreSQL protocol with real drivers: psycopg, then SQLAlchemy's
PostgreSQL dialect (its inspector and a query). Prints one JSON object of what it saw.

Usage: pg_clients_check.py HOST PORT USER DATABASE TABLE   (password in PGPASSWORD)
"""
import json
import os
import sys

import psycopg
import sqlalchemy

host, port, user, database, table = sys.argv[1:6]
password = os.environ["PGPASSWORD"]
seen = {}

with psycopg.connect(host=host, port=int(port), user=user, password=password, dbname=database) as conn:
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        seen["psycopg_count"] = cur.fetchone()[0]
        # A parameterized query goes through the extended protocol (parse, bind, execute).
        cur.execute(f"SELECT count(*) FROM {table} WHERE dt >= %s", ("1900-01-01",))
        seen["psycopg_param_count"] = cur.fetchone()[0]

url = sqlalchemy.engine.URL.create(
    "postgresql+psycopg", username=user, password=password, host=host, port=int(port), database=database
)
engine = sqlalchemy.create_engine(url)
inspector = sqlalchemy.inspect(engine)
seen["schemas"] = inspector.get_schema_names()
seen["tables"] = inspector.get_table_names(schema="public")
seen["columns"] = [c["name"] for c in inspector.get_columns(table, schema="public")]
with engine.connect() as conn:
    seen["sqlalchemy_count"] = conn.execute(sqlalchemy.text(f"SELECT count(*) AS n FROM {table}")).scalar_one()
print(json.dumps(seen))
