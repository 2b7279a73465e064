//! X.509 certificates and their extensions: `Certificate::from_der` (x509-parser, then the
//! project's reading of the Fulcio identity and claim extensions), its key, chain and validity
//! checks against the test roots' CAs, and the hand-written DER reader that splits the embedded
//! SCT list off the TBSCertificate (`sct::embedded_log_ids`). Text input also goes through the
//! PEM decoder (`Certificate::from_pem`, `VerificationKey::from_pem`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::roots;
use portcullis_verifier::keyless::{Certificate, VerificationKey, sct};

fuzz_target!(|data: &[u8]| {
    let _ = sct::embedded_log_ids(data);
    let _ = VerificationKey::from_spki_der(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Certificate::from_pem(text);
        let _ = VerificationKey::from_pem(text);
    }
    let Ok(cert) = Certificate::from_der(data) else {
        return;
    };
    let _ = cert.key();
    let _ = cert.identity();
    for root in roots() {
        let _ = cert.verify_leaf(root, cert.not_before);
        for ca in root
            .certificate_authorities
            .iter()
            .chain(&root.timestamp_authorities)
        {
            for issuer in &ca.chain {
                let _ = cert.check_issued_by(issuer);
            }
        }
    }
});
