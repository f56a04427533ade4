// The node-postgres half of the PostgreSQL client compatibility suite: reads one query
// with pg (a plain query), pg-cursor (a portal read BATCH rows at a time) and
// pg-query-stream (the same as a Node stream), and prints what each saw as JSON, in the
// shape py_clients.py prints: {"types": [...], "rows": [[...], ...]}.
//
// Usage: node node_clients.js   (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, and the
// query in MEDLAKE_QUERY)
"use strict";
const { Client } = require("pg");
const Cursor = require("pg-cursor");
const QueryStream = require("pg-query-stream");

const query = process.env.MEDLAKE_QUERY;
const BATCH = 97;
// Values as the server sent them (text), so every client is compared on the same form.
const raw = { getTypeParser: () => (value) => value };

// Type tags by PostgreSQL type OID, in the suite's vocabulary.
const TAGS = {
  16: "bool", 20: "int", 21: "int", 23: "int", 700: "float", 701: "float",
  1700: "decimal", 1082: "date", 1114: "timestamp", 1184: "timestamp",
  25: "text", 1043: "text",
};

// A text-form value: fractions of a second to 6 digits, as the other clients print them.
function canon(value) {
  if (value === null || value === undefined) return null;
  const m = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(\d+))?$/.exec(value);
  if (m) {
    const fraction = m[2] && /[1-9]/.test(m[2]) ? "." + m[2].padEnd(6, "0") : "";
    return m[1] + fraction;
  }
  return value;
}

function seen(fields, rows) {
  return {
    types: fields.map((f) => TAGS[f.dataTypeID] || `oid ${f.dataTypeID}`),
    rows: rows.map((r) => r.map(canon)),
  };
}

async function main() {
  const out = {};
  const client = new Client({ types: raw });
  await client.connect();
  try {
    const plain = await client.query({ text: query, rowMode: "array", types: raw });
    out.pg = seen(plain.fields, plain.rows);

    const cursor = client.query(new Cursor(query, [], { rowMode: "array", types: raw }));
    const rows = [];
    for (;;) {
      const batch = await cursor.read(BATCH);
      if (batch.length === 0) break;
      rows.push(...batch);
    }
    out.pg_cursor = seen(cursor._result.fields, rows);
    await cursor.close();

    const stream = client.query(
      new QueryStream(query, [], { rowMode: "array", types: raw, batchSize: BATCH })
    );
    const streamed = [];
    for await (const row of stream) streamed.push(row);
    out.pg_query_stream = seen(stream.cursor._result.fields, streamed);
  } finally {
    await client.end();
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(`node-postgres: ${e.stack || e}\n`);
  process.exit(1);
});
