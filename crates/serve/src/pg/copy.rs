//! `COPY (query) TO STDOUT` and `COPY table [(columns)] TO STDOUT`: psql's `\copy ... to
//! 'file.csv' csv header`, psycopg's `cursor.copy()`, asyncpg's `copy_from_query` and the
//! export of database tools. The rows come from the one query path (the read inside the
//! `COPY`, see [`crate::query::read_of`]: admitted, audited, limited like the same
//! `SELECT`) and stream to the client batch by batch in PostgreSQL's copy formats:
//!
//! - `text`: columns separated by a tab, `\N` for null, backslash escapes for the
//!   delimiter, backslash, newline, carriage return, tab, backspace, form feed and
//!   vertical tab;
//! - `csv`: columns separated by a comma, null as an empty unquoted field, a field quoted
//!   when it holds the delimiter, the quote, a line break, or equals the null string;
//! - `binary`: the `PGCOPY` signature and header, each row as a field count and each field
//!   as a length and PostgreSQL's binary send format (the same bytes a binary `DataRow`
//!   carries), a `-1` trailer.
//!
//! Each copy message carries one row, as PostgreSQL sends them (psycopg parses them so);
//! the header line of `csv`/`text` and the binary signature travel with the first row.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use deltalake::datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, Statement,
};
use futures::StreamExt;
use pgwire::api::portal::Format;
use pgwire::api::results::{CopyResponse, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::copy::CopyData;
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;

use crate::query::RowStream;

/// The signature, flags and header-extension length that open a binary copy.
const BINARY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The field count `-1` that ends a binary copy.
const BINARY_TRAILER: &[u8] = &[0xff, 0xff];

/// Which copy format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Csv,
    Binary,
}

/// How a `COPY ... TO STDOUT` writes its rows, from its options (the parenthesised
/// `WITH (...)` syntax and the older `CSV HEADER` one psql's `\copy` sends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CopyFormat {
    kind: Kind,
    delimiter: u8,
    null: String,
    header: bool,
    quote: u8,
    escape: u8,
    /// Columns always quoted (csv), by name; `*` in PostgreSQL is every column.
    force_quote: Vec<String>,
}

impl CopyFormat {
    /// The format a `COPY` statement asks for, or why it cannot be written.
    pub(super) fn of(statement: &Statement) -> Result<CopyFormat, String> {
        let Statement::Copy {
            options,
            legacy_options,
            ..
        } = statement
        else {
            return Err("not a COPY statement".to_string());
        };
        let mut set = Settings::default();
        for option in options {
            set.option(option)?;
        }
        for option in legacy_options {
            set.legacy(option)?;
        }
        set.finish()
    }

    /// The wire code of the format: 0 for text and csv, 1 for binary.
    fn wire_format(&self) -> i8 {
        i8::from(self.kind == Kind::Binary)
    }
}

/// Options as written, before defaults that depend on the format are applied.
#[derive(Default)]
struct Settings {
    kind: Option<Kind>,
    delimiter: Option<char>,
    null: Option<String>,
    header: bool,
    quote: Option<char>,
    escape: Option<char>,
    force_quote: Vec<String>,
}

impl Settings {
    fn option(&mut self, option: &CopyOption) -> Result<(), String> {
        match option {
            CopyOption::Format(name) => {
                self.kind = Some(match name.value.to_ascii_lowercase().as_str() {
                    "text" => Kind::Text,
                    "csv" => Kind::Csv,
                    "binary" => Kind::Binary,
                    other => return Err(format!("COPY format \"{other}\" not recognized")),
                })
            }
            CopyOption::Delimiter(c) => self.delimiter = Some(*c),
            CopyOption::Null(s) => self.null = Some(s.clone()),
            CopyOption::Header(h) => self.header = *h,
            CopyOption::Quote(c) => self.quote = Some(*c),
            CopyOption::Escape(c) => self.escape = Some(*c),
            CopyOption::ForceQuote(columns) => {
                self.force_quote = columns.iter().map(|c| c.value.clone()).collect()
            }
            CopyOption::Encoding(encoding) => check_encoding(encoding)?,
            // Options of COPY FROM: meaningless for a copy to the client, as in PostgreSQL
            // (which refuses them there too).
            CopyOption::Freeze(_) | CopyOption::ForceNotNull(_) | CopyOption::ForceNull(_) => {
                return Err(format!("COPY option {option} applies to COPY FROM only"))
            }
        }
        Ok(())
    }

    fn legacy(&mut self, option: &CopyLegacyOption) -> Result<(), String> {
        match option {
            CopyLegacyOption::Binary => self.kind = Some(Kind::Binary),
            CopyLegacyOption::Delimiter(c) => self.delimiter = Some(*c),
            CopyLegacyOption::Null(s) => self.null = Some(s.clone()),
            CopyLegacyOption::Csv(csv) => {
                self.kind = Some(Kind::Csv);
                for option in csv {
                    match option {
                        CopyLegacyCsvOption::Header => self.header = true,
                        CopyLegacyCsvOption::Quote(c) => self.quote = Some(*c),
                        CopyLegacyCsvOption::Escape(c) => self.escape = Some(*c),
                        CopyLegacyCsvOption::ForceQuote(columns) => {
                            self.force_quote = columns.iter().map(|c| c.value.clone()).collect()
                        }
                        CopyLegacyCsvOption::ForceNotNull(_) => {
                            return Err(
                                "COPY option FORCE NOT NULL applies to COPY FROM only".to_string()
                            )
                        }
                    }
                }
            }
            other => return Err(format!("COPY option {other} is not supported")),
        }
        Ok(())
    }

    fn finish(self) -> Result<CopyFormat, String> {
        let kind = self.kind.unwrap_or(Kind::Text);
        let ascii = |c: char, what: &str| -> Result<u8, String> {
            u8::try_from(c)
                .ok()
                .filter(|b| b.is_ascii() && *b != b'\r' && *b != b'\n')
                .ok_or_else(|| format!("COPY {what} must be a single one-byte character"))
        };
        if kind == Kind::Binary && (self.delimiter.is_some() || self.null.is_some() || self.header)
        {
            return Err("cannot specify DELIMITER, NULL or HEADER in BINARY mode".to_string());
        }
        if kind != Kind::Csv
            && (self.quote.is_some() || self.escape.is_some() || !self.force_quote.is_empty())
        {
            return Err(
                "COPY QUOTE, ESCAPE and FORCE_QUOTE are available only in CSV mode".to_string(),
            );
        }
        let csv = kind == Kind::Csv;
        let delimiter = ascii(
            self.delimiter.unwrap_or(if csv { ',' } else { '\t' }),
            "delimiter",
        )?;
        let quote = ascii(self.quote.unwrap_or('"'), "quote")?;
        let escape = match self.escape {
            Some(c) => ascii(c, "escape")?,
            None => quote,
        };
        if csv && delimiter == quote {
            return Err("COPY delimiter and quote must be different".to_string());
        }
        if kind == Kind::Text && delimiter == b'\\' {
            return Err("COPY delimiter cannot be backslash".to_string());
        }
        Ok(CopyFormat {
            kind,
            delimiter,
            null: self.null.unwrap_or_else(|| {
                if csv {
                    String::new()
                } else {
                    "\\N".to_string()
                }
            }),
            header: self.header,
            quote,
            escape,
            force_quote: self.force_quote,
        })
    }
}

/// Only UTF-8 is written: the server's one encoding.
fn check_encoding(encoding: &str) -> Result<(), String> {
    let normal = encoding.to_ascii_lowercase().replace(['-', '_'], "");
    if normal == "utf8" {
        Ok(())
    } else {
        Err(format!(
            "COPY ENCODING '{encoding}' is not supported: medlake writes UTF8"
        ))
    }
}

/// The copy-out response for `rows`, written in `format` as the client reads them.
pub(super) fn copy_out(
    rows: RowStream,
    format: CopyFormat,
    options: Arc<FormatOptions>,
) -> PgWireResult<CopyResponse> {
    let schema = rows.schema();
    let wire = if format.kind == Kind::Binary {
        Format::UnifiedBinary
    } else {
        Format::UnifiedText
    };
    let fields = Arc::new(arrow_schema_to_pg_fields(&schema, &wire, Some(options))?);
    let columns = fields.len();
    let mut writer = RowWriter::new(format.clone(), &fields);
    let opening = writer.opening();
    let mut first = Some(opening.clone());
    let wire_format = format.wire_format();
    let data = rows
        .map(move |batch| -> Vec<PgWireResult<CopyData>> {
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => return vec![Err(PgWireError::ApiError(Box::new(e)))],
            };
            encode_recordbatch(fields.clone(), batch)
                .map(|row| row.map(|row| writer.row(first.take(), &row)))
                .collect()
        })
        .flat_map(futures::stream::iter);
    // The opening (header line, binary signature) goes with the first row; with no rows
    // it goes alone, followed by the binary trailer.
    let data = Ended::new(Box::pin(data), opening, format.kind == Kind::Binary);
    // Built as text so pgwire adds no trailer of its own (`Ended` sends the binary one,
    // and with no rows it must travel with the signature), then marked binary if it is.
    let mut response = CopyResponse::new(0, columns, data);
    response.format = wire_format;
    Ok(response)
}

/// Writes rows (as encoded for a `DataRow`) in a copy format.
struct RowWriter {
    format: CopyFormat,
    names: Vec<String>,
    /// Per column: always quoted (csv `FORCE_QUOTE`).
    forced: Vec<bool>,
}

impl RowWriter {
    fn new(format: CopyFormat, fields: &[FieldInfo]) -> RowWriter {
        let names: Vec<String> = fields.iter().map(|f| f.name().to_string()).collect();
        let forced = names
            .iter()
            .map(|n| {
                format
                    .force_quote
                    .iter()
                    .any(|q| q == "*" || q.eq_ignore_ascii_case(n))
            })
            .collect();
        RowWriter {
            format,
            names,
            forced,
        }
    }

    /// What precedes the first row: the binary signature, or the header line.
    fn opening(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self.format.kind {
            Kind::Binary => out.put_slice(BINARY_SIGNATURE),
            _ if self.format.header => {
                let names: Vec<Option<&[u8]>> =
                    self.names.iter().map(|n| Some(n.as_bytes())).collect();
                self.line(&mut out, &names, false);
            }
            _ => {}
        }
        out.freeze()
    }

    /// One row's copy message, after `opening` when it is the first.
    fn row(&mut self, opening: Option<Bytes>, row: &DataRow) -> CopyData {
        let mut out = BytesMut::with_capacity(row.data.len() + 16);
        if let Some(opening) = opening {
            out.put_slice(&opening);
        }
        if self.format.kind == Kind::Binary {
            out.put_i16(row.field_count);
            out.put_slice(&row.data);
        } else {
            let fields = data_row_fields(row);
            self.line(&mut out, &fields, true);
        }
        CopyData::new(out.freeze())
    }

    /// A text or csv line of `fields` (`None`: null), ended by a newline.
    fn line(&self, out: &mut BytesMut, fields: &[Option<&[u8]>], values: bool) {
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                out.put_u8(self.format.delimiter);
            }
            match (self.format.kind, field) {
                (_, None) => out.put_slice(self.format.null.as_bytes()),
                (Kind::Csv, Some(value)) => {
                    let forced = values && self.forced.get(i).copied().unwrap_or(false);
                    csv_field(out, value, &self.format, forced)
                }
                (_, Some(value)) => text_field(out, value, self.format.delimiter),
            }
        }
        out.put_u8(b'\n');
    }
}

/// The fields of an encoded row: a length (`-1`: null) and that many bytes each.
fn data_row_fields(row: &DataRow) -> Vec<Option<&[u8]>> {
    let data: &[u8] = &row.data;
    let mut fields = Vec::with_capacity(row.field_count.max(0) as usize);
    let mut at = 0;
    for _ in 0..row.field_count {
        let Some(length) = data.get(at..at + 4) else {
            break;
        };
        let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
        at += 4;
        if length < 0 {
            fields.push(None);
            continue;
        }
        let end = (at + length as usize).min(data.len());
        fields.push(Some(&data[at..end]));
        at = end;
    }
    fields
}

/// A text-format field: backslash escapes as PostgreSQL's `CopyAttributeOutText`.
fn text_field(out: &mut BytesMut, value: &[u8], delimiter: u8) {
    for &byte in value {
        match byte {
            b'\\' => out.put_slice(b"\\\\"),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            b'\t' if delimiter != b'\t' => out.put_slice(b"\\t"),
            0x08 => out.put_slice(b"\\b"),
            0x0c => out.put_slice(b"\\f"),
            0x0b => out.put_slice(b"\\v"),
            b if b == delimiter => {
                out.put_u8(b'\\');
                out.put_u8(b);
            }
            b => out.put_u8(b),
        }
    }
}

/// A csv field, quoted when it must be (or is forced to be), as PostgreSQL's
/// `CopyAttributeOutCSV`.
fn csv_field(out: &mut BytesMut, value: &[u8], format: &CopyFormat, forced: bool) {
    let needs_quotes = forced
        || value == format.null.as_bytes()
        || value
            .iter()
            .any(|&b| b == format.delimiter || b == format.quote || b == b'\n' || b == b'\r')
        // A lone `\.` would read back as the end of data.
        || value == b"\\.";
    if !needs_quotes {
        out.put_slice(value);
        return;
    }
    out.put_u8(format.quote);
    for &byte in value {
        if byte == format.quote || byte == format.escape {
            out.put_u8(format.escape);
        }
        out.put_u8(byte);
    }
    out.put_u8(format.quote);
}

/// The copy messages with the end of the copy made right: the opening (header line or
/// binary signature) alone when no row came, and the binary trailer last.
struct Ended<S> {
    rows: S,
    opening: Bytes,
    binary: bool,
    any_row: bool,
    tail: Option<VecDeque<CopyData>>,
}

impl<S> Ended<S> {
    fn new(rows: S, opening: Bytes, binary: bool) -> Ended<S> {
        Ended {
            rows,
            opening,
            binary,
            any_row: false,
            tail: None,
        }
    }

    /// What follows the last row.
    fn tail(&self) -> VecDeque<CopyData> {
        let mut tail = VecDeque::new();
        match (self.any_row, self.binary) {
            // As PostgreSQL sends an empty binary copy: signature and trailer in one
            // message (psycopg reads a signature alone as a broken row).
            (false, true) => {
                let mut both = BytesMut::from(&self.opening[..]);
                both.put_slice(BINARY_TRAILER);
                tail.push_back(CopyData::new(both.freeze()));
            }
            (false, false) if !self.opening.is_empty() => {
                tail.push_back(CopyData::new(self.opening.clone()))
            }
            (true, true) => tail.push_back(CopyData::new(Bytes::from_static(BINARY_TRAILER))),
            _ => {}
        }
        tail
    }
}

impl<S> futures::Stream for Ended<S>
where
    S: futures::Stream<Item = PgWireResult<CopyData>> + Unpin,
{
    type Item = PgWireResult<CopyData>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = &mut *self;
        if let Some(tail) = this.tail.as_mut() {
            return Poll::Ready(tail.pop_front().map(Ok));
        }
        match this.rows.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(item)) => {
                this.any_row |= item.is_ok();
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                let mut tail = this.tail();
                let next = tail.pop_front();
                this.tail = Some(tail);
                Poll::Ready(next.map(Ok))
            }
        }
    }
}
