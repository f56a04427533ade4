"""Reads every Delta table under a lake folder with Python's deltalake (an outside reader)
and prints `<table> <rows>` per table. Used by the tests and handy for a quick look."""
import os
import sys

from deltalake import DeltaTable


def main(root: str) -> None:
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if not os.path.isdir(os.path.join(path, "_delta_log")):
            continue
        table = DeltaTable(path).to_pyarrow_table()
        print(f"{name} {table.num_rows}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: read_lake.py LAKE_FOLDER")
    main(sys.argv[1])
    sys.stdout.flush()
    # deltalake's background runtime can abort during interpreter teardown
    # ("terminate called without an active exception"); everything is printed by now.
    os._exit(0)
