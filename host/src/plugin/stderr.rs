//! A plugin's stderr, kept for error messages: the last [`TailPipe::capacity`] bytes, so
//! a panic message written after megabytes of chatter is still there, and a write never
//! fails, so a chatty plugin is never stopped for it.

use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// The tail of what a plugin wrote; clones share it.
#[derive(Clone)]
pub(crate) struct TailPipe {
    capacity: usize,
    kept: Arc<Mutex<VecDeque<u8>>>,
}

impl TailPipe {
    /// A pipe that keeps the last `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        TailPipe {
            capacity,
            kept: Arc::new(Mutex::new(VecDeque::with_capacity(capacity.min(4096)))),
        }
    }

    /// What is kept, oldest first.
    pub fn contents(&self) -> Vec<u8> {
        self.lock().iter().copied().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<u8>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `bytes`, dropping the oldest beyond the capacity.
    fn keep(&self, mut bytes: &[u8]) {
        if bytes.len() > self.capacity {
            bytes = &bytes[bytes.len() - self.capacity..];
        }
        let mut kept = self.lock();
        let overflow = (kept.len() + bytes.len()).saturating_sub(self.capacity);
        kept.drain(..overflow);
        kept.extend(bytes);
    }
}

impl IsTerminal for TailPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TailPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for TailPipe {
    fn write(&mut self, mut bytes: Bytes) -> Result<(), StreamError> {
        self.keep(bytes.chunk());
        bytes.advance(bytes.len());
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always room: the oldest bytes make way.
        Ok(self.capacity.max(1))
    }
}

#[async_trait::async_trait]
impl Pollable for TailPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for TailPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.keep(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_bytes_and_never_refuses_a_write() {
        let mut pipe = TailPipe::new(8);
        for chunk in ["abc", "defgh", "ijklmnop", "qr"] {
            pipe.write(Bytes::from(chunk)).unwrap();
            assert_eq!(pipe.check_write().unwrap(), 8);
        }
        assert_eq!(pipe.contents(), b"klmnopqr");
        pipe.write(Bytes::from("0123456789")).unwrap();
        assert_eq!(pipe.contents(), b"23456789");
    }
}
