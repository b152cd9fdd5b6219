//! Sends a plugin's request to the address the sandbox checked. The name is resolved
//! once, by the policy, and never again: a name that answers differently the second time
//! (DNS rebinding) cannot move the connection to an address the check refused. Over
//! https the URL's host stays the TLS server name, for SNI and the certificate check.

use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::timeout;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// How long a step waits when the request's options say nothing (the plugin's own
/// timeouts, and the call's deadline, come first).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// A connection, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Opens connections to checked addresses, verifying TLS servers against its roots.
#[derive(Clone)]
pub(crate) struct PinnedConnector {
    tls: tokio_rustls::TlsConnector,
}

impl PinnedConnector {
    /// Verifying servers against the web's public roots, as wasi:http's own sender does.
    pub(crate) fn public_roots() -> Self {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self::with_roots(roots)
    }

    /// Verifying servers against `roots`.
    pub(crate) fn with_roots(roots: rustls::RootCertStore) -> Self {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        PinnedConnector {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }
    }

    /// Sends `request` over a connection to the first of `addresses` that answers (in
    /// the resolver's order, as any client does); the response, and the future that drives
    /// the connection until the response body has been read.
    pub(crate) async fn send(
        &self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        addresses: &[SocketAddr],
    ) -> Result<
        (
            http::Response<WasiBody>,
            impl Future<Output = Result<(), Error>> + Send + 'static,
        ),
        Error,
    > {
        let connect_timeout = options
            .and_then(|o| o.connect_timeout)
            .unwrap_or(DEFAULT_TIMEOUT);
        let first_byte_timeout = options
            .and_then(|o| o.first_byte_timeout)
            .unwrap_or(DEFAULT_TIMEOUT);
        let uri = request.uri().clone();
        let tcp = timeout(connect_timeout, tokio::net::TcpStream::connect(addresses))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(Error::Connect)?;
        let stream: Box<dyn Stream> = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
            let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?;
            let name = rustls::pki_types::ServerName::try_from(
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
            )
            .map_err(|_| Error::HttpRequestUriInvalid)?;
            let tls = timeout(connect_timeout, self.tls.connect(name, tcp))
                .await
                .map_err(|_| Error::ConnectionTimeout)?
                .map_err(Error::Tls)?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (mut sender, connection) = timeout(
            connect_timeout,
            hyper::client::conn::http1::handshake(TokioIo::new(stream)),
        )
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
        // The request line carries the path only; the Host header (which wasi:http set
        // from the URL) names the host.
        *request.uri_mut() = http::Uri::builder()
            .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
            .build()
            .map_err(|_| Error::HttpRequestUriInvalid)?;
        // Aborted if the plugin's call ends first.
        let driver = wasmtime_wasi::runtime::spawn(connection);
        let response = timeout(first_byte_timeout, sender.send_request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)??;
        let response = response.map(|body| body.map_err(Error::from).boxed_unsync());
        Ok((response, async move { driver.await.map_err(Error::from) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Empty;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A name that never resolves (RFC 6761): any second lookup of it would fail.
    const NAME: &str = "rebind.invalid";

    fn request(url: &str) -> http::Request<WasiBody> {
        let authority = url.split('/').nth(2).unwrap().to_string();
        http::Request::get(url)
            .header(http::header::HOST, authority)
            .body(Empty::new().map_err(|never| match never {}).boxed_unsync())
            .unwrap()
    }

    /// Answers one connection on `stream` with `hello`, returning the request it read.
    async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> String {
        let mut read = vec![0u8; 4096];
        let n = stream.read(&mut read).await.unwrap();
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello")
            .await
            .unwrap();
        stream.shutdown().await.unwrap();
        String::from_utf8_lossy(&read[..n]).to_string()
    }

    async fn body(response: http::Response<WasiBody>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_connection_goes_to_the_checked_address_without_resolving_again() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { answer(listener.accept().await.unwrap().0).await });
        let url = format!("http://{NAME}:{}/graphql?page=2", address.port());
        // The first address refuses; the next, also checked, answers.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let refusing = closed.local_addr().unwrap();
        drop(closed);
        let (response, io) = PinnedConnector::public_roots()
            .send(request(&url), None, &[refusing, address])
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(body(response).await, "hello");
        io.await.unwrap();
        let seen = server.await.unwrap();
        assert!(
            seen.starts_with("GET /graphql?page=2 HTTP/1.1\r\n"),
            "{seen}"
        );
        assert!(
            seen.to_lowercase()
                .contains(&format!("host: {NAME}:{}", address.port())),
            "{seen}"
        );
    }

    #[tokio::test]
    async fn over_https_the_url_host_stays_the_server_name() {
        let cert = rcgen::generate_simple_self_signed(vec![NAME.to_string()]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        let server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let tls = acceptor
                .accept(listener.accept().await.unwrap().0)
                .await
                .unwrap();
            let sni = tls.get_ref().1.server_name().map(str::to_string);
            (sni, answer(tls).await)
        });
        let url = format!("https://{NAME}:{}/", address.port());
        let (response, _io) = PinnedConnector::with_roots(roots)
            .send(request(&url), None, &[address])
            .await
            .unwrap();
        assert_eq!(body(response).await, "hello");
        let (sni, seen) = server.await.unwrap();
        assert_eq!(sni.as_deref(), Some(NAME), "{seen}");
    }
}
