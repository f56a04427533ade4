//! The lineage of the ODS layer, from the business schema: what sync and capture land is
//! fixed by `medlake-schema`, not by SQL, so it is declared here once for every path
//! (snapshots, capture by query, binlog, Kafka), which all land the same shapes.
//!
//! - `ods_<t>_full.<c>` is `t.<c>` as it is (IDENTITY), for every captured column; its
//!   `dt` is the day of the snapshot, which no business column decides.
//! - `ods_<t>_inc.data.<c>` is `t.<c>` as it is; `old` holds earlier values of the
//!   captured columns (TRANSFORMATION); `ts` and `dt` are the change's time and business
//!   day, which `t.update_time` records (TRANSFORMATION); `type`, `xid`, `commit`,
//!   `position`, `database` and `table` describe the change event itself (capture
//!   metadata: no business column), and `data_extra` holds columns the schema does not
//!   declare, so none either.
//!
//! Secret columns are not captured, so they have no lineage: nothing in the lake comes
//! from a password hash.

use medlake_schema::{Table, TableKind};

use crate::field::{add_input, ColumnLineage, DatasetLineage, FieldRef, Inputs, Subtype};

/// The fields of a change record that describe the event, not the row.
pub const CHANGE_EVENT_FIELDS: [&str; 6] =
    ["database", "table", "type", "xid", "commit", "position"];

/// The lake column of a change record that no business column fills (undeclared columns).
pub const CHANGE_EXTRA_FIELD: &str = "data_extra";

/// The column a change's time is read from.
const UPDATE_TIME: &str = "update_time";

/// The ODS datasets of business table `table` with their lineage (the snapshot table for
/// master data, the change-record table for tables that change).
pub fn ods_lineage(table: &Table) -> Vec<DatasetLineage> {
    let mut out = Vec::new();
    if table.kind == TableKind::Master {
        out.push(snapshot_lineage(table));
    }
    if table.changes {
        out.push(change_lineage(table));
    }
    out
}

/// The ODS lineage of every business table.
pub fn all_ods_lineage() -> Vec<DatasetLineage> {
    medlake_schema::business_tables()
        .iter()
        .flat_map(ods_lineage)
        .collect()
}

fn snapshot_lineage(table: &Table) -> DatasetLineage {
    let mut columns: Vec<ColumnLineage> = table
        .captured_columns()
        .iter()
        .map(|c| column(c.name, from(table, c.name, Subtype::Identity)))
        .collect();
    columns.push(column("dt", Inputs::new()));
    DatasetLineage {
        dataset: table.ods_full_name(),
        columns,
        dataset_inputs: Inputs::new(),
    }
}

fn change_lineage(table: &Table) -> DatasetLineage {
    let captured = table.captured_columns();
    let mut columns: Vec<ColumnLineage> = CHANGE_EVENT_FIELDS
        .iter()
        .map(|name| column(name, Inputs::new()))
        .collect();
    let has_update_time = captured.iter().any(|c| c.name == UPDATE_TIME);
    for name in ["ts", "dt"] {
        let inputs = if has_update_time {
            from(table, UPDATE_TIME, Subtype::Transformation)
        } else {
            Inputs::new()
        };
        columns.push(column(name, inputs));
    }
    for c in captured {
        let name = format!("data.{}", c.name);
        columns.push(column(&name, from(table, c.name, Subtype::Identity)));
    }
    let mut old = Inputs::new();
    for c in captured {
        add_input(
            &mut old,
            FieldRef::new(table.name, c.name),
            Subtype::Transformation,
        );
    }
    columns.push(column("old", old));
    columns.push(column(CHANGE_EXTRA_FIELD, Inputs::new()));
    DatasetLineage {
        dataset: table.ods_inc_name(),
        columns,
        dataset_inputs: Inputs::new(),
    }
}

fn from(table: &Table, column: &str, subtype: Subtype) -> Inputs {
    let mut inputs = Inputs::new();
    add_input(&mut inputs, FieldRef::new(table.name, column), subtype);
    inputs
}

fn column(name: &str, inputs: Inputs) -> ColumnLineage {
    ColumnLineage {
        name: name.to_string(),
        inputs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_record_field_is_its_business_column() {
        let payment = medlake_schema::table("payment").unwrap();
        let inc = ods_lineage(payment)
            .into_iter()
            .find(|d| d.dataset == "ods_payment_inc")
            .unwrap();
        let amount = inc.column("data.payment_amount").unwrap();
        let subtypes = &amount.inputs[&FieldRef::new("payment", "payment_amount")];
        assert!(subtypes.contains(&Subtype::Identity));
        assert!(inc.column("ts").unwrap().has_direct_input());
        assert!(!inc.column("xid").unwrap().has_direct_input());
    }

    #[test]
    fn secrets_have_no_lineage() {
        let user = medlake_schema::table("user").unwrap();
        for d in ods_lineage(user) {
            for c in &d.columns {
                assert!(!c.name.contains("hashed_password"), "{}", c.name);
                assert!(c.inputs.keys().all(|f| f.field != "hashed_password"));
            }
        }
    }
}
