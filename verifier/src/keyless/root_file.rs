//! Reading a `trusted_root.json` from disk. The parser ([`TrustedRoot::from_json`]) is in
//! `portcullis-verifier-types`, which does no I/O; this adds the file read, so callers keep
//! writing `TrustedRoot::from_file(path)` with [`TrustedRootFile`] in scope.

use std::path::Path;

use super::{TrustError, TrustedRoot};

/// [`TrustedRoot::from_file`]: a trusted root read from a file.
pub trait TrustedRootFile: Sized {
    /// Reads and validates a `trusted_root.json` file; errors name the path.
    fn from_file(path: &Path) -> Result<Self, TrustError>;
}

impl TrustedRootFile for TrustedRoot {
    fn from_file(path: &Path) -> Result<Self, TrustError> {
        let what = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| TrustError::Read {
            what: what.clone(),
            cause: e.to_string(),
        })?;
        Self::from_json(&bytes, &what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_a_read_error_naming_it() {
        let path = Path::new("/nonexistent/trusted_root.json");
        let err = TrustedRoot::from_file(path).unwrap_err();
        assert!(
            matches!(&err, TrustError::Read { what, .. } if what == "/nonexistent/trusted_root.json"),
            "{err:?}"
        );
    }
}
