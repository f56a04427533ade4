"""Superset's REST API against medlake: register the database, run a SQL Lab query, create
a dataset and run a chart's query. Prints what came back; raises on anything unexpected."""
import json
import os
import sys
import urllib.request

base = os.environ["SUPERSET_URL"]


def call(method, path, body=None, token=None):
    request = urllib.request.Request(base + path, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(request, data, timeout=120) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {path}: HTTP {e.code}: {e.read().decode()[:2000]}")


token = call("POST", "/api/v1/security/login", {
    "username": "admin", "password": os.environ["SUPERSET_PASSWORD"], "provider": "db", "refresh": False,
})["access_token"]

database = call("POST", "/api/v1/database/", {
    "database_name": "medlake",
    "sqlalchemy_uri": os.environ["MEDLAKE_URI"],
    "expose_in_sqllab": True,
}, token)
database_id = database["id"]
print(f"registered medlake as Superset database {database_id}")

tables = call("GET", f"/api/v1/database/{database_id}/tables/?q=(schema_name:public)", token=token)
names = [t["value"] for t in tables["result"]]
assert "ads_metric_value" in names, names
print(f"Superset lists {len(names)} medlake tables")

sql = ("SELECT dimension, count(*) AS n FROM ads_metric_value "
       "WHERE window_days = 1 GROUP BY dimension ORDER BY n DESC")
result = call("POST", "/api/v1/sqllab/execute/", {
    "database_id": database_id, "sql": sql, "schema": "public", "runAsync": False,
}, token)
rows = result["data"]
assert rows and rows[0]["n"] > 0, result
print(f"SQL Lab query returned {len(rows)} rows, first {rows[0]}")

dataset = call("POST", "/api/v1/dataset/", {
    "database": database_id, "schema": "public", "table_name": "ads_metric_value",
}, token)
dataset_id = dataset["id"]
columns = call("GET", f"/api/v1/dataset/{dataset_id}", token=token)["result"]["columns"]
assert any(c["column_name"] == "value" for c in columns), columns
print(f"dataset {dataset_id} with {len(columns)} columns")

chart = call("POST", "/api/v1/chart/data", {
    "datasource": {"id": dataset_id, "type": "table"},
    "queries": [{
        "columns": ["dimension"],
        "metrics": [{"expressionType": "SIMPLE", "column": {"column_name": "value"},
                     "aggregate": "SUM", "label": "total"}],
        "filters": [{"col": "window_days", "op": "==", "val": 1}],
        "orderby": [[{"expressionType": "SIMPLE", "column": {"column_name": "value"},
                      "aggregate": "SUM", "label": "total"}, False]],
        "row_limit": 10,
    }],
    "result_format": "json",
    "result_type": "full",
}, token)
data = chart["result"][0]["data"]
assert data and "total" in data[0], chart
print(f"chart query returned {len(data)} rows, first {data[0]}")
print("Superset works with medlake")
