//! A watch stream: the chunked response body of `?watch=true`.
//!
//! It replays the events its subscription found (or a single `ERROR` when the start was too old,
//! then ends, as the real API server does), then follows the live feed, filtered to its kind,
//! namespace and label selector. `timeoutSeconds` ends it cleanly; a cut (or falling too far
//! behind the live feed) ends it with a body error, on which hyper closes the connection without
//! the terminating chunk. The body is polled by its connection's task, so it holds no task of its
//! own and goes when the connection does.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Sleep;

use super::Resource;
use super::Shared;
use super::routes::Body;
use super::store::{Event, Signal, Subscription};
use super::wire::{Failure, bookmark_line, event_line, labels_match};

/// Which events a watch reports.
pub(crate) struct Filter {
    pub(crate) resource: Resource,
    pub(crate) namespace: Option<String>,
    pub(crate) label_selector: Option<String>,
    pub(crate) bookmarks: bool,
}

impl Filter {
    fn matches(&self, event: &Event) -> bool {
        event.key.0 == self.resource.kind
            && self.namespace.as_ref().is_none_or(|ns| &event.key.1 == ns)
            && self
                .label_selector
                .as_ref()
                .is_none_or(|s| labels_match(s, &event.object["metadata"]["labels"]))
    }
}

/// Counts the stream among the open watches while it exists.
struct Open(Arc<Shared>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open_watches.fetch_sub(1, Ordering::SeqCst);
    }
}

struct State {
    backlog: VecDeque<String>,
    /// No live part: the backlog was the `ERROR` event.
    ends_after_backlog: bool,
    live: Option<broadcast::Receiver<Signal>>,
    filter: Filter,
    deadline: Option<Pin<Box<Sleep>>>,
    done: bool,
    open: Open,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a watch that starts with `subscription`.
pub(crate) fn stream(
    shared: Arc<Shared>,
    subscription: Subscription,
    filter: Filter,
    timeout: Option<Duration>,
) -> Body {
    let backlog = subscription
        .backlog
        .iter()
        .filter(|e| filter.matches(e))
        .map(|e| event_line(e.kind, &e.object))
        .collect();
    body(
        shared,
        backlog,
        false,
        Some(subscription.live),
        filter,
        timeout,
    )
}

/// The body of a watch whose start is gone: one `ERROR` event carrying `failure`, then the end.
pub(crate) fn expired(shared: Arc<Shared>, failure: &Failure, filter: Filter) -> Body {
    let line = event_line("ERROR", &failure.to_json());
    body(shared, VecDeque::from([line]), true, None, filter, None)
}

fn body(
    shared: Arc<Shared>,
    backlog: VecDeque<String>,
    ends_after_backlog: bool,
    live: Option<broadcast::Receiver<Signal>>,
    filter: Filter,
    timeout: Option<Duration>,
) -> Body {
    shared.open_watches.fetch_add(1, Ordering::SeqCst);
    let state = State {
        backlog,
        ends_after_backlog,
        live,
        filter,
        deadline: timeout.map(|t| Box::pin(tokio::time::sleep(t))),
        done: false,
        open: Open(shared),
    };
    let frames = futures::stream::unfold(state, next).map(|r| r.map(Frame::data));
    BodyExt::boxed(StreamBody::new(frames))
}

async fn next(mut s: State) -> Option<(Result<Bytes, BoxError>, State)> {
    if s.done {
        return None;
    }
    let line = match s.backlog.pop_front() {
        Some(line) => line,
        None if s.ends_after_backlog => return None,
        None => match live_line(&mut s).await {
            Some(Ok(line)) => line,
            Some(Err(())) => return cut(s),
            None => return None,
        },
    };
    // The connection is closed when the server turns unreachable, but maybe not before this
    // stream is polled again: nothing written after `set_reachable(false)` may reach the client.
    if !*s.open.0.reachable.borrow() {
        return cut(s);
    }
    Some((Ok(Bytes::from(line)), s))
}

/// The next live line: `None` at the end of the stream, `Err` when it is to be cut.
async fn live_line(s: &mut State) -> Option<Result<String, ()>> {
    loop {
        let live = s.live.as_mut()?;
        let signal = match s.deadline.as_mut() {
            Some(deadline) => tokio::select! {
                () = deadline => return None,
                signal = live.recv() => signal,
            },
            None => live.recv().await,
        };
        return Some(Ok(match signal {
            Ok(Signal::Event(event)) if s.filter.matches(&event) => {
                event_line(event.kind, &event.object)
            }
            Ok(Signal::Bookmark(rv)) if s.filter.bookmarks => bookmark_line(&s.filter.resource, rv),
            Ok(Signal::Event(_) | Signal::Bookmark(_)) => continue,
            Err(RecvError::Closed) => return None,
            Ok(Signal::Cut) | Err(RecvError::Lagged(_)) => return Some(Err(())),
        }));
    }
}

/// Ends the stream with a body error: hyper closes the connection without the last chunk.
fn cut(mut s: State) -> Option<(Result<Bytes, BoxError>, State)> {
    s.done = true;
    Some((Err("watch cut by the test API server".into()), s))
}

/// Whether an event object is one the filter would report (for tests of the filter itself).
#[cfg(test)]
fn filter_matches(filter: &Filter, kind: &str, namespace: &str, object: serde_json::Value) -> bool {
    filter.matches(&Event {
        rv: 1,
        kind: "ADDED",
        key: (kind.into(), namespace.into(), "n".into()),
        object,
        previous: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_keep_their_kind_namespace_and_labels() {
        let filter = Filter {
            resource: Resource::namespaced("g", "v1", "Thing", "things"),
            namespace: Some("a".into()),
            label_selector: Some("app=web".into()),
            bookmarks: false,
        };
        let web = json!({"metadata": {"labels": {"app": "web"}}});
        assert!(filter_matches(&filter, "Thing", "a", web.clone()));
        assert!(!filter_matches(&filter, "Thing", "b", web.clone()));
        assert!(!filter_matches(&filter, "Other", "a", web));
        assert!(!filter_matches(
            &filter,
            "Thing",
            "a",
            json!({"metadata": {}})
        ));
    }
}
