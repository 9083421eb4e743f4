//! The process-wide TLS crypto provider.
//!
//! rustls picks its provider from its crate features; once a binary links two (ring
//! through tonic and kube, aws-lc-rs through object_store's HTTP client), it refuses
//! to guess and panics at the first TLS handshake. Every binary and every TLS helper
//! here calls [`install_crypto_provider`] first, so the choice is made in one place.

/// Installs ring as the process default crypto provider. Idempotent: a provider
/// already installed (by an earlier call or by the binary) is kept.
pub fn install_crypto_provider() {
    // Err only means a default is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_twice_keeps_one_provider() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
