//! Asking two things at once while judging one first: [`first_then`] drives both futures until
//! the first is done, and hands back the second finished or still running, so the caller can
//! return on the first answer (dropping the second, which cancels its requests) or wait for the
//! second without having spent a round trip on it. The registry readers use it to ask the
//! classic tags and the referrers together, and the referrers API and its fallback tag together.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;

/// The second future of [`first_then`]: its output, or the future still running.
pub(crate) enum Later<B: Future + Unpin> {
    Done(B::Output),
    Running(B),
}

impl<B: Future + Unpin> Later<B> {
    /// The second future's output, waiting for it when it is still running.
    pub(crate) async fn get(self) -> B::Output {
        match self {
            Later::Done(out) => out,
            Later::Running(f) => f.await,
        }
    }
}

/// Runs `first` and `second` concurrently until `first` is done: its output, and `second`'s
/// output if it finished meanwhile, else `second` itself, still running. `second` is `Unpin`
/// (callers box it) so that it can be handed back; boxing both keeps the caller's future small.
pub(crate) async fn first_then<A, B>(first: A, mut second: B) -> (A::Output, Later<B>)
where
    A: Future,
    B: Future + Unpin,
{
    let mut first = pin!(first);
    let mut second_done = None;
    let a = poll_fn(|cx| {
        if second_done.is_none()
            && let Poll::Ready(b) = Pin::new(&mut second).poll(cx)
        {
            second_done = Some(b);
        }
        first.as_mut().poll(cx)
    })
    .await;
    let later = match second_done {
        Some(b) => Later::Done(b),
        None => Later::Running(second),
    };
    (a, later)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;
    use tokio::sync::oneshot;
    use tokio::time::timeout;

    /// Bounds a test that would hang if the futures were not driven together.
    const BOUND: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn the_first_may_wait_for_the_second() {
        let (tx, rx) = oneshot::channel();
        let both = first_then(
            async { rx.await.unwrap() + 1 },
            Box::pin(async {
                tx.send(1).unwrap();
                "second"
            }),
        );
        let (a, later) = timeout(BOUND, both).await.expect("driven together");
        assert_eq!(a, 2);
        assert!(matches!(later, Later::Done("second")));
        assert_eq!(later.get().await, "second");
    }

    #[tokio::test]
    async fn a_slower_second_keeps_running_from_where_it_was() {
        let (started_tx, started_rx) = oneshot::channel();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let (a, later) = first_then(
            async { started_rx.await.unwrap() },
            Box::pin(async {
                started_tx.send("started").unwrap();
                go_rx.await.unwrap();
                7
            }),
        )
        .await;
        assert_eq!(a, "started", "the second ran up to its wait");
        assert!(matches!(later, Later::Running(_)));
        go_tx.send(()).unwrap();
        assert_eq!(timeout(BOUND, later.get()).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn dropping_a_running_second_cancels_it() {
        struct Dropped(Arc<AtomicBool>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = Dropped(Arc::clone(&dropped));
        let (_never_tx, never_rx) = oneshot::channel::<()>();
        let ((), later) = first_then(
            async {},
            Box::pin(async move {
                let _guard = guard;
                let _ = never_rx.await;
            }),
        )
        .await;
        assert!(!dropped.load(Ordering::SeqCst));
        drop(later);
        assert!(dropped.load(Ordering::SeqCst));
    }
}
