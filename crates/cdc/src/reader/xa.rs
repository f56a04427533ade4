//! XA transactions and MariaDB's GTID events in the binlog: the raw event layouts the
//! MySQL driver does not decode, and the XA ids in the statements that end them.
//!
//! An XA transaction reaches the binlog in two parts, possibly far apart and with other
//! transactions between them:
//!
//! 1. `XA PREPARE`: the transaction's row events, then an `XA_PREPARE_LOG_EVENT`. Nothing
//!    is committed yet: the rows are held, keyed by the XA id.
//! 2. `XA COMMIT <id>` (a query event) makes the held rows one committed transaction at
//!    *that* position; `XA ROLLBACK <id>` drops them. `XA COMMIT <id> ONE PHASE` commits
//!    without a prepare: its prepare event says `one_phase` and ends the transaction there.
//!
//! MariaDB (with `@mariadb_slave_capability=4`, as a GTID-aware replica) opens every
//! transaction with a GTID event instead of a `BEGIN` query; for XA its flags say prepared
//! or completed and it carries the XA id. MySQL 8 logs `XA START`/`XA END` queries around
//! the rows and names the id in the `XA COMMIT`/`XA ROLLBACK` text.

/// The id of an XA transaction: format id, global transaction id and branch qualifier
/// (`XA START 'gtrid','bqual',format`), as bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct XaId {
    /// The format id (1 unless the application names another).
    pub format: u32,
    /// The global transaction id.
    pub gtrid: Vec<u8>,
    /// The branch qualifier (often empty).
    pub bqual: Vec<u8>,
}

/// MariaDB's GTID event (type 162), as far as capture needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MariadbGtid {
    /// The event stands alone (a DDL statement or an XA COMMIT/ROLLBACK follows, with no
    /// `COMMIT`/XID after it).
    pub standalone: bool,
    /// The XA id of an XA transaction's prepare part.
    pub prepared_xa: Option<XaId>,
    /// The XA id of an `XA COMMIT`/`XA ROLLBACK`.
    pub completed_xa: Option<XaId>,
}

/// MariaDB's event type numbers that capture reads from the raw event.
pub mod event_type {
    /// `GTID_EVENT` (MariaDB): opens a transaction.
    pub const MARIADB_GTID: u8 = 162;
    /// First of MariaDB's compressed events (`QUERY_COMPRESSED_EVENT`).
    pub const MARIADB_FIRST_COMPRESSED: u8 = 165;
    /// Last of MariaDB's compressed events (`DELETE_ROWS_COMPRESSED_EVENT`).
    pub const MARIADB_LAST_COMPRESSED: u8 = 171;
}

const FL_STANDALONE: u8 = 1;
const FL_GROUP_COMMIT_ID: u8 = 2;
const FL_PREPARED_XA: u8 = 64;
const FL_COMPLETED_XA: u8 = 128;

/// Reads MariaDB's GTID event body: `seq_no` (8), `domain_id` (4), `flags2` (1), the
/// commit id (8) when flagged, and the XA id when flagged prepared or completed
/// (`formatID` 4, `gtrid_length` 1, `bqual_length` 1, the bytes). `None` when the
/// body is shorter than its flags say.
pub fn parse_mariadb_gtid(body: &[u8]) -> Option<MariadbGtid> {
    let flags = *body.get(12)?;
    let mut at = 13;
    if flags & FL_GROUP_COMMIT_ID != 0 {
        at += 8;
    }
    let xa = if flags & (FL_PREPARED_XA | FL_COMPLETED_XA) != 0 {
        let format = u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?);
        let gtrid_len = usize::from(*body.get(at + 4)?);
        let bqual_len = usize::from(*body.get(at + 5)?);
        let data = body.get(at + 6..at + 6 + gtrid_len + bqual_len)?;
        Some(XaId {
            format,
            gtrid: data[..gtrid_len].to_vec(),
            bqual: data[gtrid_len..].to_vec(),
        })
    } else {
        None
    };
    Some(MariadbGtid {
        standalone: flags & FL_STANDALONE != 0,
        prepared_xa: xa.clone().filter(|_| flags & FL_PREPARED_XA != 0),
        completed_xa: xa.filter(|_| flags & FL_COMPLETED_XA != 0),
    })
}

/// Reads an `XA_PREPARE_LOG_EVENT` body (MySQL and MariaDB alike): `one_phase` (1),
/// `formatID` (4), `gtrid_length` (4), `bqual_length` (4), the bytes. Returns whether the
/// commit is one-phase, and the id.
pub fn parse_xa_prepare(body: &[u8]) -> Option<(bool, XaId)> {
    let one_phase = *body.first()? != 0;
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?))
    };
    let format = word(1)?;
    let gtrid_len = usize::try_from(word(5)?).ok()?;
    let bqual_len = usize::try_from(word(9)?).ok()?;
    let data = body.get(13..13 + gtrid_len.checked_add(bqual_len)?)?;
    Some((
        one_phase,
        XaId {
            format,
            gtrid: data[..gtrid_len].to_vec(),
            bqual: data[gtrid_len..].to_vec(),
        },
    ))
}

/// An XA statement of the binlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XaStatement {
    /// `XA START` / `XA BEGIN`: the rows of an XA transaction follow.
    Start(Option<XaId>),
    /// `XA END`: the rows are done (the prepare follows).
    End,
    /// `XA PREPARE` logged as a statement.
    Prepare(Option<XaId>),
    /// `XA COMMIT`; `one_phase` for `... ONE PHASE`.
    Commit {
        /// The id, when the text names one capture can read.
        id: Option<XaId>,
        /// Committed without a prepare.
        one_phase: bool,
    },
    /// `XA ROLLBACK`.
    Rollback(Option<XaId>),
}

/// Reads an XA statement (`XA COMMIT X'61',X'',1`, `XA ROLLBACK 'a'`, ...); `None` when
/// the statement is not one.
pub fn parse_xa_statement(statement: &str) -> Option<XaStatement> {
    let rest = strip_keyword(statement.trim_start(), "XA")?;
    let (verb, rest) = split_word(rest);
    let verb = verb.to_ascii_uppercase();
    let id = || parse_xid_text(rest);
    Some(match verb.as_str() {
        "START" | "BEGIN" => XaStatement::Start(id()),
        "END" => XaStatement::End,
        "PREPARE" => XaStatement::Prepare(id()),
        "COMMIT" => XaStatement::Commit {
            id: id(),
            one_phase: rest.to_ascii_uppercase().contains("ONE PHASE"),
        },
        "ROLLBACK" => XaStatement::Rollback(id()),
        _ => return None,
    })
}

fn strip_keyword<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
    let (word, rest) = split_word(text);
    word.eq_ignore_ascii_case(keyword).then_some(rest)
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    (&text[..end], &text[end..])
}

/// Reads `gtrid[, bqual[, format]]`, each string either `X'hex'`, `0xhex` or `'text'`.
fn parse_xid_text(text: &str) -> Option<XaId> {
    let mut rest = text.trim_start();
    let gtrid = read_xid_string(&mut rest)?;
    let mut bqual = Vec::new();
    let mut format = 1;
    if let Some(after) = rest.trim_start().strip_prefix(',') {
        rest = after.trim_start();
        bqual = read_xid_string(&mut rest)?;
        if let Some(after) = rest.trim_start().strip_prefix(',') {
            let after = after.trim_start();
            let digits = after
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len());
            format = after[..digits].parse().ok()?;
        }
    }
    Some(XaId {
        format,
        gtrid,
        bqual,
    })
}

fn read_xid_string(rest: &mut &str) -> Option<Vec<u8>> {
    let text = *rest;
    if let Some(hex) = text.strip_prefix("X'").or_else(|| text.strip_prefix("x'")) {
        let end = hex.find('\'')?;
        *rest = &hex[end + 1..];
        return decode_hex(&hex[..end]);
    }
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        let end = hex
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(hex.len());
        *rest = &hex[end..];
        return decode_hex(&hex[..end]);
    }
    let quoted = text.strip_prefix('\'')?;
    let mut out = Vec::new();
    let mut chars = quoted.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' if chars.peek().map(|&(_, n)| n) == Some('\'') => {
                chars.next();
                out.push(b'\'');
            }
            '\'' => {
                *rest = &quoted[i + 1..];
                return Some(out);
            }
            '\\' => {
                let (_, escaped) = chars.next()?;
                let mut buf = [0; 4];
                out.extend_from_slice(escaped.encode_utf8(&mut buf).as_bytes());
            }
            c => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    None
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(gtrid: &str, bqual: &str, format: u32) -> XaId {
        XaId {
            format,
            gtrid: gtrid.as_bytes().to_vec(),
            bqual: bqual.as_bytes().to_vec(),
        }
    }

    #[test]
    fn xa_statements_name_their_id_in_every_notation() {
        assert_eq!(
            parse_xa_statement("XA COMMIT X'61',X'',1"),
            Some(XaStatement::Commit {
                id: Some(id("a", "", 1)),
                one_phase: false
            })
        );
        assert_eq!(
            parse_xa_statement("xa rollback 'it''s', 'b', 7"),
            Some(XaStatement::Rollback(Some(id("it's", "b", 7))))
        );
        assert_eq!(
            parse_xa_statement("XA COMMIT 0x6162 ONE PHASE"),
            Some(XaStatement::Commit {
                id: Some(id("ab", "", 1)),
                one_phase: true
            })
        );
        assert_eq!(
            parse_xa_statement("XA START X'61',X'',1"),
            Some(XaStatement::Start(Some(id("a", "", 1))))
        );
        assert_eq!(
            parse_xa_statement("XA END X'61',X'',1"),
            Some(XaStatement::End)
        );
        assert_eq!(parse_xa_statement("XAVIER"), None);
        assert_eq!(parse_xa_statement("UPDATE xa SET a = 1"), None);
        // Unreadable ids are `None`, never a panic.
        assert_eq!(
            parse_xa_statement("XA COMMIT X'6"),
            Some(XaStatement::Commit {
                id: None,
                one_phase: false
            })
        );
    }

    #[test]
    fn mariadb_gtid_events_carry_their_xa_id_and_flags() {
        let mut body = vec![0u8; 12];
        body.push(FL_PREPARED_XA | FL_GROUP_COMMIT_ID);
        body.extend_from_slice(&[9; 8]); // commit id
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&[1, 2]);
        body.extend_from_slice(b"abc");
        let gtid = parse_mariadb_gtid(&body).unwrap();
        assert_eq!(gtid.prepared_xa, Some(id("a", "bc", 1)));
        assert_eq!(gtid.completed_xa, None);
        assert!(!gtid.standalone);
        // Cut short: no answer rather than a wrong one.
        assert_eq!(parse_mariadb_gtid(&body[..body.len() - 1]), None);
        let plain = parse_mariadb_gtid(&[0u8; 13]).unwrap();
        assert_eq!((plain.prepared_xa, plain.completed_xa), (None, None));
    }

    #[test]
    fn xa_prepare_events_say_one_phase_and_the_id() {
        let mut body = vec![1u8];
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        body.push(b'a');
        assert_eq!(parse_xa_prepare(&body), Some((true, id("a", "", 1))));
        assert_eq!(parse_xa_prepare(&body[..5]), None);
    }
}
