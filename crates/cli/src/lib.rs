//! medlake-cli
