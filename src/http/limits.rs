//! Deadlines on what a client sends. A request whose body does not arrive
//! in full within the body timeout (counted from its head) fails with the
//! reading handler's "could not be read" answer, and the connection is
//! closed: a client announcing `Content-Length: 1000` and sending 17 bytes
//! cannot hold a socket (and a file descriptor) for longer than that.
//! Slow request heads are cut by actix's own `client_request_timeout`.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::HttpMessage as _;
use futures_util::Stream;
use tokio::time::Sleep;

/// Middleware: wraps the request body so reading it fails once `timeout`
/// has passed since the request head arrived.
pub async fn body_deadline(
    timeout: Duration,
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let inner = request.take_payload();
    let limited = Deadline { inner, sleep: Box::pin(tokio::time::sleep(timeout)), expired: false };
    request.set_payload(Payload::Stream { payload: Box::pin(limited) });
    next.call(request).await
}

struct Deadline {
    inner: Payload,
    sleep: Pin<Box<Sleep>>,
    expired: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired = true;
            let late =
                std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body arrived too slowly");
            return Poll::Ready(Some(Err(PayloadError::Io(late))));
        }
        Poll::Pending
    }
}
