//! A TCP proxy between the server and Postgres (or the directory) that a
//! test can cut, to see what the server does when its database goes away
//! and comes back — or stall, as a firewall that forgets idle connections
//! does: they stay open and are never answered again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct FaultProxy {
    pub port: u16,
    down: Arc<AtomicBool>,
    stall: tokio::sync::watch::Sender<bool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let (stall, _) = tokio::sync::watch::channel(false);
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let down = down.clone();
            let connections = connections.clone();
            let stall = stall.clone();
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let down = down.load(Ordering::SeqCst);
                    let mut stalled = stall.subscribe();
                    stalled.mark_unchanged();
                    let task = tokio::spawn(async move {
                        if down {
                            // A black hole: the connection is accepted and never answered.
                            let _hold = inbound;
                            std::future::pending::<()>().await;
                        } else if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                                _ = stalled.changed() => {
                                    // Both ends stay open; nothing passes any more.
                                    let _hold = (inbound, outbound);
                                    std::future::pending::<()>().await;
                                }
                            }
                        }
                    });
                    connections.lock().unwrap().push(task);
                }
            })
        };
        Self { port, down, stall, connections, accept }
    }

    /// The connections open now stay open and go silent; new ones work.
    pub fn stall(&self) {
        self.stall.send_replace(true);
    }

    /// Kills every open connection; new ones hang unanswered.
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}
