//! Graceful shutdown: one cancellation signal, triggered by SIGTERM/SIGINT, that every task
//! of the process listens to.

use std::future::Future;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Process-wide shutdown signal; cheap to clone, every clone observes the same trigger.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A fresh, untriggered shutdown signal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests shutdown; idempotent.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether shutdown has been requested.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once shutdown has been requested (immediately if it already was).
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + 'static {
        self.token.clone().cancelled_owned()
    }

    /// The underlying cancellation token, for APIs that take one.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// A `watch` receiver that turns `true` when shutdown is requested, for code that
    /// prefers a channel over a token.
    pub fn watch(&self) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(self.is_triggered());
        let token = self.token.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = token.cancelled() => { let _ = tx.send(true); }
                () = tx.closed() => {}
            }
        });
        rx
    }

    /// Spawns a task that triggers shutdown on the first SIGTERM or SIGINT; a second signal
    /// exits the process immediately with status 130.
    pub fn listen_for_signals(&self) -> std::io::Result<tokio::task::JoinHandle<()>> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let this = self.clone();
        Ok(tokio::spawn(async move {
            let first = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                () = this.cancelled() => return,
            };
            tracing::info!(signal = first, "shutdown requested, draining");
            this.trigger();
            let second = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::warn!(signal = second, "second signal, exiting immediately");
            std::process::exit(130);
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn trigger_reaches_every_clone_and_watcher() {
        let s = Shutdown::new();
        let clone = s.clone();
        let mut rx = s.watch();
        assert!(!*rx.borrow());
        let waiter = tokio::spawn(clone.cancelled());
        s.trigger();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("waiter woke")
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|v| *v))
            .await
            .expect("watch flipped")
            .unwrap();
        assert!(clone.is_triggered());
        // Waiting after the fact completes at once.
        tokio::time::timeout(Duration::from_millis(100), s.cancelled())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn sigterm_triggers_shutdown() {
        let s = Shutdown::new();
        let _task = s.listen_for_signals().unwrap();
        // Deliver SIGTERM to ourselves through the public `kill` tool.
        let status = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(10), s.cancelled())
            .await
            .expect("SIGTERM triggered shutdown");
    }
}
