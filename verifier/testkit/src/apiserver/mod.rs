//! (feature `apiserver`) An HTTPS server that speaks enough of the Kubernetes API for a client's
//! list/watch of resources, its status writes and its writes of whole objects to be tested:
//! **not a real API server**.
//!
//! It serves, over TLS on a random 127.0.0.1 port (certificate from its own [`TestCa`], names
//! `127.0.0.1` and `localhost`, HTTP/1.1) and to one bearer token, the resource kinds it is
//! started with:
//! - `GET /apis/{group}/{version}/{plural}` (for a namespaced kind: across all namespaces) and
//!   `…/namespaces/{ns}/{plural}` (core kinds, group `""`, under `/api/{version}/…`, e.g.
//!   `/api/v1/namespaces/{ns}/secrets/{name}`): a `{Kind}List` in (namespace, name) order, paginated with
//!   `limit` and opaque `continue` tokens served from a consistent snapshot, `labelSelector`
//!   equality terms;
//! - the same with `watch=true`: newline-delimited watch events after `resourceVersion` (all
//!   current objects as `ADDED` when it is absent or `"0"`), then live ones, `BOOKMARK`s when
//!   asked for, ending after `timeoutSeconds`;
//! - `GET …/{plural}/{name}` and `GET|PATCH …/{plural}/{name}/status` (merge patch or a
//!   simplified server-side apply of `.status` only, see the `patch` module);
//! - `PATCH …/{plural}/{name}` (`…/namespaces/{ns}/{plural}/{name}` for a namespaced kind), with
//!   `application/apply-patch+yaml` (server-side apply; `fieldManager` required, `force`
//!   accepted): `201 Created` with the object it creates when there is none (`ADDED`), `200`
//!   with the stored object when there is one (`MODIFIED`); or with
//!   `application/merge-patch+json`: `200`, or `404` when there is no object. Bodies are read as
//!   JSON only (kube-rs sends apply patches as JSON). Apply is simplified to one manager's
//!   view, with ownership per top-level field, `metadata` field and label and annotation key
//!   and no conflicts between managers; neither patch writes `.status` (see the `apply` module);
//! - `DELETE …/{plural}/{name}`: `200` with the object as it went (`DELETED`), `404` when there
//!   is none; delete options are ignored;
//! - errors as `metav1.Status` (`401`, `403` after [`ApiServer::deny`], `404`, `405` for other
//!   methods, `410 Expired` after [`ApiServer::compact`], `400`, `415`). A missing
//!   `fieldManager` is `400 BadRequest` here, where the real server answers `422 Invalid`
//!   (same message).
//!
//! The test drives the cluster side itself: [`ApiServer::apply`] and [`ApiServer::delete`] write
//! objects (emitting watch events) and faults are switched on directly: an unreachable server,
//! watches cut mid-stream, forgotten history, bookmarks on demand. There is no admission, no
//! validation against a schema, no field ownership beyond the simplified `managedFields` (see
//! the `managed` module), no finalizers or garbage collection (a delete is immediate), no
//! creates by `POST`, no `PUT`, no `DELETE` of collections, no discovery, no protobuf, no
//! `sendInitialEvents`. Nothing is spawned; everything stops when the [`ApiServer`] is dropped.

mod apply;
mod auth;
mod managed;
mod patch;
mod routes;
mod server;
mod store;
mod watch;
mod wire;
mod writes;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::Context as _;
use base64::Engine as _;
use serde_json::Value;
use tokio::task::JoinHandle;

pub use auth::USER;

use self::auth::Access;
use self::store::{Signal, Store};
use crate::TestCa;

/// Requests remembered for [`ApiServer::requests`]; older ones are forgotten.
const REQUEST_LOG_LIMIT: usize = 10_000;

/// A kind the server serves: a custom resource, or with group `""` a core kind (`Secret`,
/// `ServiceAccount`) served under `/api/{version}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

impl Resource {
    /// `{plural}.{group}`, or just `{plural}` for the core group, as the API server's messages
    /// name a resource.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// A cluster-scoped kind.
    pub fn cluster(group: &str, version: &str, kind: &str, plural: &str) -> Self {
        Self::new(group, version, kind, plural, false)
    }

    /// A namespaced kind.
    pub fn namespaced(group: &str, version: &str, kind: &str, plural: &str) -> Self {
        Self::new(group, version, kind, plural, true)
    }

    /// A kind, namespaced or cluster-scoped as `namespaced` says.
    pub fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            namespaced,
        }
    }

    /// `{group}/{version}`, the objects' `apiVersion`; just `{version}` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// One request as the server answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string (empty when there is none).
    pub query: String,
    pub content_type: Option<String>,
    /// The HTTP status answered (a watch: `200` when its stream started).
    pub status: u16,
}

/// A running test API server. See the module docs. Dropping it stops it.
pub struct ApiServer {
    shared: Arc<Shared>,
    ca: TestCa,
    task: JoinHandle<()>,
}

/// What the connections share with the handle.
pub(crate) struct Shared {
    addr: SocketAddr,
    store: Mutex<Store>,
    access: Mutex<Access>,
    requests: Mutex<VecDeque<RecordedRequest>>,
    open_watches: AtomicUsize,
    reachable: tokio::sync::watch::Sender<bool>,
    /// Requests still answered before an outage ([`ApiServer::unreachable_after`]).
    outage_after: Mutex<Option<usize>>,
}

impl ApiServer {
    /// Starts serving `resources` on a free 127.0.0.1 port.
    pub async fn start(resources: Vec<Resource>) -> anyhow::Result<ApiServer> {
        let ca = TestCa::new("portcullis-testkit apiserver CA")?;
        let (cert, key) = ca.issue("portcullis-testkit apiserver", &["127.0.0.1", "localhost"])?;
        let tls = server::tls_acceptor(&cert, &key)?;
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the test API server on 127.0.0.1")?;
        let shared = Arc::new(Shared {
            addr: listener.local_addr()?,
            store: Mutex::new(Store::new(resources)),
            access: Mutex::new(Access::new()),
            requests: Mutex::new(VecDeque::new()),
            open_watches: AtomicUsize::new(0),
            reachable: tokio::sync::watch::channel(true).0,
            outage_after: Mutex::new(None),
        });
        let task = tokio::spawn(server::accept_loop(listener, tls, Arc::clone(&shared)));
        Ok(ApiServer { shared, ca, task })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.shared.addr)
    }

    /// The server's socket address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The CA certificate (PEM) that issued the serving certificate.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The bearer token that authenticates as [`USER`]; any other is `401 Unauthorized`.
    pub fn token(&self) -> String {
        self.shared.access().token().to_owned()
    }

    /// Writes `dir/kubeconfig`: one cluster (server, `certificate-authority-data`), one user (the
    /// token), one context (namespace `default`), which is current. Returns its path.
    pub fn write_kubeconfig(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca_pem());
        let text = format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: portcullis-testkit\n  \
               cluster:\n    \
                 server: {url}\n    \
                 certificate-authority-data: {ca}\n\
             users:\n\
             - name: portcullis\n  \
               user:\n    \
                 token: {token}\n\
             contexts:\n\
             - name: portcullis-testkit\n  \
               context:\n    \
                 cluster: portcullis-testkit\n    \
                 user: portcullis\n    \
                 namespace: default\n\
             current-context: portcullis-testkit\n\
             preferences: {{}}\n",
            url = self.url(),
            token = self.token(),
        );
        let path = dir.join("kubeconfig");
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Creates or replaces the object named by its kind, `metadata.namespace` (a namespaced
    /// kind's default: `default`) and `metadata.name`; `apiVersion` and `kind` must be served.
    ///
    /// Sets `metadata.uid` (kept on replace), `creationTimestamp`, `resourceVersion` (the next of
    /// the global counter) and `generation` (1 on create; on replace +1 only when something
    /// outside `metadata` and `status` changed). Status is written through the status
    /// subresource only: a create drops the object's status, a replace keeps the stored one. Emits `ADDED` or `MODIFIED` (also for a
    /// replace that changes nothing). Returns the stored object.
    pub fn apply(&self, object: Value) -> anyhow::Result<Value> {
        self.shared.store().apply(object)
    }

    /// Deletes the object; emits `DELETED` with it at a new resourceVersion. An error when there
    /// is no such object.
    pub fn delete(&self, kind: &str, namespace: Option<&str>, name: &str) -> anyhow::Result<()> {
        self.shared
            .store()
            .delete(&key(kind, namespace, name))
            .map(drop)
    }

    /// The stored object, if any.
    pub fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        self.shared
            .store()
            .get(&key(kind, namespace, name))
            .cloned()
    }

    /// `false`: every open connection (and so every watch) is closed at once and new ones are
    /// closed right after `accept`, so clients see connection errors; `true`: serves again, on
    /// the same port.
    pub fn set_reachable(&self, reachable: bool) {
        self.shared.reachable.send_replace(reachable);
    }

    /// An outage at a known point of a client's work: `requests` more requests are answered,
    /// then the server turns unreachable as with `set_reachable(false)`, and the request after
    /// them gets its connection closed with no answer.
    pub fn unreachable_after(&self, requests: usize) {
        *lock(&self.shared.outage_after) = Some(requests);
    }

    /// Cuts every open watch stream mid-way: the connection closes without the terminating chunk.
    pub fn drop_watches(&self) {
        self.shared.store().signal(Signal::Cut);
    }

    /// Forgets the event history: a watch or a list continuation from an older resourceVersion
    /// now gets `410 Gone` (reason `Expired`).
    pub fn compact(&self) {
        self.shared.store().compact();
    }

    /// Sends a `BOOKMARK` at the current resourceVersion to every open watch that asked for
    /// bookmarks (`allowWatchBookmarks=true`).
    pub fn bookmark(&self) {
        let store = self.shared.store();
        store.signal(Signal::Bookmark(store.resource_version()));
    }

    /// From now on `verb` (`get`, `list`, `watch`, `patch`, `delete`) on `resource` (`plural`
    /// for the object or its collection, `plural/status` for the status subresource) is
    /// `403 Forbidden`.
    pub fn deny(&self, verb: &str, resource: &str) {
        self.shared.access().deny(verb, resource);
    }

    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store().resource_version()
    }

    /// Every request answered so far (the last 10 000), in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).iter().cloned().collect()
    }

    /// Watch streams open now.
    pub fn open_watches(&self) -> usize {
        self.shared.open_watches.load(Ordering::SeqCst)
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        // Aborting the accept loop closes the listener and drops its JoinSet, which aborts every
        // connection task and with it every watch stream.
        self.task.abort();
    }
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    fn access(&self) -> MutexGuard<'_, Access> {
        lock(&self.access)
    }

    /// Counts a request towards [`ApiServer::unreachable_after`]: `true` when it is the one the
    /// outage begins with.
    fn outage_due(&self) -> bool {
        let mut left = lock(&self.outage_after);
        match *left {
            Some(0) => {
                *left = None;
                true
            }
            Some(n) => {
                *left = Some(n - 1);
                false
            }
            None => false,
        }
    }

    fn record(&self, request: RecordedRequest) {
        let mut requests = lock(&self.requests);
        if requests.len() >= REQUEST_LOG_LIMIT {
            requests.pop_front();
        }
        requests.push_back(request);
    }
}

/// A panicking test thread must not hide the state from the assertions that follow.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn key(kind: &str, namespace: Option<&str>, name: &str) -> store::Key {
    (
        kind.to_owned(),
        namespace.unwrap_or_default().to_owned(),
        name.to_owned(),
    )
}
