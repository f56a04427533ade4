//! The keyed pseudonym of identifiers.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The one keyed pseudonym of the project: HMAC-SHA-256 of `value` under `key`, the first
/// 16 bytes as 32 lowercase hex digits; `""` for an empty value.
///
/// The serve hash mask (`mask = "hash"`) and the imaging de-identification (patient IDs
/// and accession numbers in DICOM headers) both use it, so a value pseudonymised on either
/// side equals the other's under the same key: images still join their exams and
/// patients. Equal values give equal pseudonyms (joins and distinct counts still work),
/// and without the key a guessed value cannot be checked.
pub fn pseudonym(key: &[u8], value: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    // HMAC takes a key of any length, so this never fails.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(value.as_bytes());
    mac.finalize().into_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_truncated_hmac_sha256() {
        // RFC 4231, test case 2: the first 16 bytes of its HMAC-SHA-256.
        assert_eq!(
            pseudonym(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c7"
        );
        let a = pseudonym(b"key", "110101199003077777");
        assert_eq!(a.len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(a, pseudonym(b"key", "110101199003077777"));
        assert_ne!(a, pseudonym(b"other key", "110101199003077777"));
        assert_ne!(a, pseudonym(b"key", "110101199003077778"));
        assert_eq!(pseudonym(b"key", ""), "");
        assert_eq!(pseudonym(b"", "x").len(), 32);
    }
}
