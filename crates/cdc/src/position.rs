//! A place in the binlog: file and byte offset, and its number for Delta `txn` markers.

use std::fmt;

/// A position in a server's binlog: the file name and the byte offset in it. Capture keeps
/// the position after a transaction's commit event (where the next transaction starts).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BinlogPosition {
    /// Binlog file name, e.g. `binlog.000003`.
    pub file: String,
    /// Byte offset in the file.
    pub offset: u64,
}

impl BinlogPosition {
    /// A position in `file` at `offset`.
    pub fn new(file: impl Into<String>, offset: u64) -> Self {
        BinlogPosition {
            file: file.into(),
            offset,
        }
    }

    /// The position as one number that grows along the binlog: the file's sequence number
    /// (its numeric extension) in the high 32 bits, the offset in the low 32. This is the
    /// `version` of the `txn` marker a capture commit carries. `None` when the file name
    /// has no numeric extension or the offset does not fit in 32 bits.
    pub fn version(&self) -> Option<i64> {
        let seq: i64 = self.file.rsplit_once('.')?.1.parse().ok()?;
        let offset = u32::try_from(self.offset).ok()?;
        (seq < (1 << 31)).then_some((seq << 32) | i64::from(offset))
    }

    /// The position a [`version`](Self::version) stands for, in the binlog whose files are
    /// named like `like` (same base name and width of the sequence number).
    pub fn from_version(version: i64, like: &str) -> Option<BinlogPosition> {
        let (base, ext) = like.rsplit_once('.')?;
        let seq = version >> 32;
        let offset = (version & 0xffff_ffff) as u64;
        Some(BinlogPosition {
            file: format!("{base}.{seq:0width$}", width = ext.len()),
            offset,
        })
    }
}

impl fmt::Display for BinlogPosition {
    /// Maxwell's notation, `file:offset`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_grow_along_the_binlog_and_round_trip() {
        let a = BinlogPosition::new("binlog.000001", 4_000_000);
        let b = BinlogPosition::new("binlog.000002", 4);
        let c = BinlogPosition::new("binlog.000002", 900);
        let (va, vb, vc) = (
            a.version().unwrap(),
            b.version().unwrap(),
            c.version().unwrap(),
        );
        assert!(va < vb && vb < vc);
        assert_eq!(BinlogPosition::from_version(vc, "binlog.000007"), Some(c));
        assert_eq!(a.to_string(), "binlog.000001:4000000");
    }

    #[test]
    fn a_file_without_sequence_number_has_no_version() {
        assert_eq!(BinlogPosition::new("binlog", 4).version(), None);
    }
}
