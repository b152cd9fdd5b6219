//! TLS to PostgreSQL, with libpq's `sslmode` and `sslrootcert` read from the database
//! URL, over rustls: managed databases (RDS, Cloud SQL, Azure) require it.
//!
//! | sslmode | encrypted | the certificate's chain | its host name |
//! |---|---|---|---|
//! | `disable` | no | | |
//! | `prefer` (the default, as in libpq) | when the server offers it | | |
//! | `require` | yes | checked only when `sslrootcert` is given, as libpq does | |
//! | `verify-ca` | yes | checked | |
//! | `verify-full` | yes | checked | checked |
//!
//! `sslrootcert` names a PEM file of the certificates to trust, or `system` for the
//! Mozilla roots built into the host; `verify-ca` and `verify-full` without it trust the
//! Mozilla roots.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`: whether to encrypt, and what of the server's certificate to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Never encrypt.
    Disable,
    /// Encrypt when the server offers it; check nothing.
    Prefer,
    /// Encrypt, or fail; check the chain only when roots are given.
    Require,
    /// Encrypt, and check the certificate's chain against the roots.
    VerifyCa,
    /// Encrypt, and check the chain and that the certificate names the host.
    VerifyFull,
}

/// The certificates a verifying mode trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The Mozilla roots built into the host (`sslrootcert=system`, or none given).
    System,
    /// A PEM file of certificates (`sslrootcert=PATH`).
    File(PathBuf),
}

/// The TLS settings a database URL gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// How far the server is checked.
    pub mode: TlsMode,
    /// What it is checked against; `None` when the URL names no `sslrootcert`.
    pub roots: Option<Roots>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            mode: TlsMode::Prefer,
            roots: None,
        }
    }
}

impl TlsSettings {
    /// Reads `sslmode` and `sslrootcert` (the URL's query values); a reason when one is
    /// not understood.
    pub fn parse(mode: Option<&str>, root_cert: Option<&str>) -> Result<Self, String> {
        let mode = match mode.unwrap_or("prefer") {
            "disable" => TlsMode::Disable,
            "allow" | "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
                ));
            }
        };
        let roots = match root_cert {
            None => None,
            Some("") => return Err("sslrootcert is empty; name a PEM file, or `system`".into()),
            Some("system") => Some(Roots::System),
            Some(path) => Some(Roots::File(PathBuf::from(path))),
        };
        Ok(TlsSettings { mode, roots })
    }

    /// What the driver does: whether it asks for TLS, and whether it must have it.
    pub fn driver_mode(&self) -> SslMode {
        match self.mode {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
        }
    }

    /// The connector the pools use; a reason when the roots cannot be read.
    pub fn connector(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let check = match (self.mode, &self.roots) {
            (TlsMode::Disable | TlsMode::Prefer, _) | (TlsMode::Require, None) => Check::Nothing,
            (TlsMode::Require | TlsMode::VerifyCa, Some(roots)) => Check::Chain(load(roots)?),
            (TlsMode::VerifyCa, None) => Check::Chain(load(&Roots::System)?),
            (TlsMode::VerifyFull, roots) => {
                Check::ChainAndName(load(roots.as_ref().unwrap_or(&Roots::System))?)
            }
        };
        let algorithms = provider.signature_verification_algorithms;
        let verifier: Arc<dyn ServerCertVerifier> = match check {
            Check::Nothing => Arc::new(NameUnchecked {
                chain: None,
                algorithms,
            }),
            Check::Chain(roots) => Arc::new(NameUnchecked {
                chain: Some(web_pki(roots, &provider)?),
                algorithms,
            }),
            Check::ChainAndName(roots) => web_pki(roots, &provider)?,
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed ({e})"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }
}

/// What of the server's certificate is checked.
enum Check {
    Nothing,
    Chain(RootCertStore),
    ChainAndName(RootCertStore),
}

/// The certificates of `roots`.
fn load(roots: &Roots) -> Result<RootCertStore, String> {
    match roots {
        Roots::System => Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
        Roots::File(path) => {
            let shown = path.display();
            let pem = std::fs::read(path)
                .map_err(|e| format!("sslrootcert {shown} cannot be read ({e})"))?;
            let mut store = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("sslrootcert {shown} is not PEM ({e})"))?;
                store
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {shown} holds a bad certificate ({e})"))?;
            }
            if store.is_empty() {
                return Err(format!("sslrootcert {shown} holds no certificate"));
            }
            Ok(store)
        }
    }
}

fn web_pki(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, String> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("TLS setup failed ({e})"))
}

/// `verify-ca`, and `prefer` and `require` without roots: the certificate's name is not
/// compared with the host's, and without `chain` the certificate is taken as it comes
/// (libpq's behaviour for those modes). The handshake's signatures are checked against
/// the certificate either way.
#[derive(Debug)]
struct NameUnchecked {
    /// The chain's check against the trusted roots, for `verify-ca`.
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NameUnchecked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_as_libpq_reads_them() {
        let parsed = |mode, root| TlsSettings::parse(mode, root);
        assert_eq!(parsed(None, None).unwrap(), TlsSettings::default());
        assert_eq!(
            parsed(Some("verify-full"), None).unwrap().mode,
            TlsMode::VerifyFull
        );
        assert_eq!(
            parsed(Some("require"), Some("/etc/ca.pem")).unwrap().roots,
            Some(Roots::File("/etc/ca.pem".into()))
        );
        assert_eq!(
            parsed(Some("verify-ca"), Some("system")).unwrap().roots,
            Some(Roots::System)
        );
        assert_eq!(
            parsed(Some("disable"), None).unwrap().driver_mode(),
            SslMode::Disable
        );
        assert_eq!(
            parsed(Some("verify-ca"), None).unwrap().driver_mode(),
            SslMode::Require
        );
        assert!(
            parsed(Some("verify_full"), None)
                .unwrap_err()
                .contains("verify-full")
        );
        assert!(parsed(None, Some("")).unwrap_err().contains("sslrootcert"));
    }

    /// A certificate authority of its own, named `name`.
    fn authority(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap()
    }

    /// What connecting with `query` (the URL's TLS settings) does: whether the session is
    /// encrypted, or why it failed.
    async fn connect(port: u16, host: &str, query: &str) -> Result<bool, String> {
        let url = format!("postgres://postgres@{host}:{port}/postgres?{query}");
        let target = match crate::store::StoreTarget::parse(&url).map_err(|e| e.to_string())? {
            crate::store::StoreTarget::Postgres(target) => target,
            other => panic!("{other:?}"),
        };
        let store = super::super::PostgresStore::connect(&target)
            .await
            .map_err(|e| {
                let mut chain = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    chain.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                chain
            })?;
        let row = store
            .client()
            .await
            .unwrap()
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        Ok(row.get(0))
    }

    #[tokio::test]
    async fn each_sslmode_checks_what_libpq_checks_against_a_server_with_tls() {
        let (ca, stranger) = (authority("Test CA"), authority("Another CA"));
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        let Some(server) = postgres_fixture::tls_server(&cert.pem(), &key.serialize_pem()) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let (ca_file, stranger_file) = (dir.path().join("ca.pem"), dir.path().join("other.pem"));
        std::fs::write(&ca_file, ca.pem()).unwrap();
        std::fs::write(&stranger_file, stranger.pem()).unwrap();
        let (ca_file, stranger_file) = (ca_file.display(), stranger_file.display());
        let port = server.port();

        let full = format!("sslmode=verify-full&sslrootcert={ca_file}");
        assert_eq!(connect(port, "localhost", &full).await, Ok(true));
        // The certificate names localhost, not the address.
        let wrong_name = connect(port, "127.0.0.1", &full).await.unwrap_err();
        assert!(wrong_name.contains("not valid for name"), "{wrong_name}");
        let ca_only = format!("sslmode=verify-ca&sslrootcert={ca_file}");
        assert_eq!(connect(port, "127.0.0.1", &ca_only).await, Ok(true));
        for mode in ["verify-ca", "verify-full", "require"] {
            let untrusted = format!("sslmode={mode}&sslrootcert={stranger_file}");
            let refused = connect(port, "localhost", &untrusted).await.unwrap_err();
            assert!(refused.contains("UnknownIssuer"), "{mode}: {refused}");
        }
        // The Mozilla roots do not know a private authority.
        let system = connect(port, "localhost", "sslmode=verify-full")
            .await
            .unwrap_err();
        assert!(system.contains("UnknownIssuer"), "{system}");
        // Encrypted without checks, as libpq: by default and with require.
        assert_eq!(
            connect(port, "127.0.0.1", "sslmode=require").await,
            Ok(true)
        );
        assert_eq!(connect(port, "127.0.0.1", "").await, Ok(true));
        assert_eq!(
            connect(port, "127.0.0.1", "sslmode=disable").await,
            Ok(false)
        );
    }

    #[test]
    fn roots_that_cannot_be_read_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        for (path, expected) in [
            (&missing, "cannot be read"),
            (&not_pem, "holds no certificate"),
        ] {
            let settings = TlsSettings {
                mode: TlsMode::VerifyFull,
                roots: Some(Roots::File(path.clone())),
            };
            let e = settings.connector().err().expect("refused");
            assert!(e.contains(expected), "{e}");
        }
    }
}
