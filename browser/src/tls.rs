//! TLS for errand's proxy: why it opens https, and with what.
//!
//! Inside a CONNECT tunnel the proxy sees only a host and a port, so it could judge where
//! an https request goes but not what it does (a POST looks like a GET). For a browser
//! errand launches, the proxy therefore ends TLS itself: a certificate authority made
//! fresh for the session (its keys only in memory, never written anywhere) signs a
//! certificate for each host on demand, and Chromium is told to accept exactly this
//! session's key for this launch (`--ignore-certificate-errors-spki-list`), never through
//! the system's trust store. Upstream, the proxy opens its own TLS with full certificate
//! verification against the platform's roots (plus `--trust-ca` files); a certificate it
//! cannot verify fails the request, closed, with the reason.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::Digest;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not make the session's certificate authority: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("could not set up TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("cannot read the certificate file {path}: {message}; pass a PEM file with one or more CERTIFICATE blocks to --trust-ca")]
    TrustFile { path: PathBuf, message: String },
}

/// The session's certificate authority and the certificates it made so far.
pub struct Authority {
    ca: rcgen::Certificate,
    ca_key: KeyPair,
    /// One key for every host's certificate: Chromium is told to accept this key, and
    /// signing a certificate is cheap where making a key is not.
    leaf_key: KeyPair,
    spki: String,
    made: Mutex<HashMap<String, Arc<ServerConfig>>>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").field("spki", &self.spki).finish_non_exhaustive()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Authority {
    /// A fresh authority, valid from a day ago for 30 days.
    pub fn new() -> Result<Authority, TlsError> {
        let ca_key = KeyPair::generate()?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "errand session CA (this run only)");
        dn.push(DnType::OrganizationName, "errand");
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        valid_for_a_month(&mut p);
        let ca = p.self_signed(&ca_key)?;
        let leaf_key = KeyPair::generate()?;
        let spki = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(leaf_key.public_key_der()));
        Ok(Authority { ca, ca_key, leaf_key, spki, made: Mutex::default() })
    }

    /// The base64 SHA-256 of the key every certificate of this session carries, as
    /// `--ignore-certificate-errors-spki-list` takes it.
    pub fn spki_hash(&self) -> &str {
        &self.spki
    }

    /// The authority's certificate (PEM), for tests and for people who want to look.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The server side of TLS for `host` (a name or an IP address), made on first use.
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, TlsError> {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if let Some(c) = self.made.lock().unwrap_or_else(|p| p.into_inner()).get(&host) {
            return Ok(c.clone());
        }
        let mut p = CertificateParams::new(vec![host.clone()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host.clone());
        p.distinguished_name = dn;
        p.use_authority_key_identifier_extension = true;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        valid_for_a_month(&mut p);
        let leaf = p.signed_by(&self.leaf_key, &self.ca, &self.ca_key)?;
        let chain = vec![leaf.der().clone(), self.ca.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()));
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let config = Arc::new(config);
        self.made.lock().unwrap_or_else(|p| p.into_inner()).insert(host, config.clone());
        Ok(config)
    }
}

fn valid_for_a_month(p: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(30);
}

/// The client side of TLS towards real servers: the platform's roots (Mozilla's bundled
/// ones when the platform has none, as on a bare container) plus every certificate in
/// `trust` files, with full verification.
pub fn client_config(trust: &[PathBuf]) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(target: "errand::tls", "a platform certificate could not be read: {e}");
    }
    let (added, _) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for path in trust {
        for cert in trusted(path)? {
            roots.add(cert).map_err(|e| TlsError::TrustFile { path: path.clone(), message: e.to_string() })?;
        }
    }
    // (ALPN is set by the connector, which offers h2 and http/1.1.)
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The certificates of a PEM file given to `--trust-ca`; a file with none is an error.
pub fn trusted(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |message: String| TlsError::TrustFile { path: path.to_path_buf(), message };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not a PEM certificate file ({e})")))?;
    if certs.is_empty() {
        return Err(bad("it holds no CERTIFICATE block".into()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_host_gets_a_certificate_with_the_one_announced_key() {
        let a = Authority::new().unwrap();
        let one = a.server_config("example.org").unwrap();
        let again = a.server_config("EXAMPLE.org").unwrap();
        assert!(Arc::ptr_eq(&one, &again), "made once per host");
        a.server_config("127.0.0.1").unwrap();
        a.server_config("[::1]").unwrap();
        assert_eq!(a.spki_hash().len(), 44, "base64 of 32 bytes");
        assert_ne!(Authority::new().unwrap().spki_hash(), a.spki_hash(), "fresh per session");
    }

    #[test]
    fn a_trust_file_without_certificates_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ca.pem");
        std::fs::write(&f, "hello").unwrap();
        let e = trusted(&f).unwrap_err().to_string();
        assert!(e.contains("ca.pem") && e.contains("no CERTIFICATE"), "{e}");
        let e = client_config(&[dir.path().join("missing.pem")]).unwrap_err().to_string();
        assert!(e.contains("missing.pem") && e.contains("--trust-ca"), "{e}");
        std::fs::write(&f, Authority::new().unwrap().ca_pem()).unwrap();
        assert!(client_config(&[f]).is_ok());
    }
}
