//! One watch per policy kind (kube-runtime's watcher: list, then watch from the list's
//! resourceVersion; a relist after 410 Gone; backoff on errors), feeding each object's changes
//! to the [`PolicyStore`] and writing back each object's `Ready` condition.
//!
//! An object is compiled again only when what the engine reads of it changed: the MODIFIED
//! event of a status write is recognised as no change. After a relist, objects missing from
//! the new list are taken as deleted.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt as _;
use kube::api::{Api, DynamicObject, ListParams};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use tokio::sync::watch as signal;

use super::health::ClusterHealth;
use super::kinds::{Kind, origin, source};
use super::status::{self, Ready};
use crate::serve::policy::{ObjectChange, ObjectOutcome, PolicyStore};

/// While a watch fails, how often a cheap list checks whether the API server answers again
/// (a watch that resumes quietly sends no event that would say so).
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// What the watch last made of one object.
#[derive(Debug)]
struct Seen {
    /// The source last compiled.
    text: String,
    /// Whether a version of it is in force.
    in_force: bool,
    ready: Ready,
}

/// The watches' shared state.
pub struct Watches {
    client: kube::Client,
    store: Arc<PolicyStore>,
    health: Arc<ClusterHealth>,
    seen: Mutex<HashMap<String, Seen>>,
    synced: AtomicBool,
}

impl Watches {
    pub fn new(client: kube::Client, store: Arc<PolicyStore>, health: Arc<ClusterHealth>) -> Self {
        Self {
            client,
            store,
            health,
            seen: Mutex::new(HashMap::new()),
            synced: AtomicBool::new(false),
        }
    }

    fn seen(&self) -> MutexGuard<'_, HashMap<String, Seen>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watches `kind` until `stop` fires.
    pub async fn run(self: Arc<Self>, kind: Kind, mut stop: signal::Receiver<bool>) {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &kind.resource);
        let mut events = watcher::watcher(api.clone(), watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut probe = tokio::time::interval(PROBE_EVERY);
        let plural = kind.plural().to_string();
        let mut listing = Vec::new();
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = probe.tick(), if self.health.is_failing(&plural) => {
                    if api.list(&ListParams::default().limit(1)).await.is_ok() {
                        tracing::info!(kind = %plural, "Policy watch: the API server answers again");
                        self.health.recovered(&plural);
                    }
                }
                event = events.next() => match event {
                    None => return,
                    Some(Err(error)) => {
                        tracing::warn!(kind = %plural, %error, "Policy watch failed; retrying, the policies in force stay");
                        self.health.failed(&plural, error.to_string());
                    }
                    Some(Ok(event)) => {
                        self.health.event(&plural);
                        match event {
                            Event::Init => listing.clear(),
                            Event::InitApply(object) => listing.push(object),
                            Event::InitDone => self.listed(&kind, std::mem::take(&mut listing)).await,
                            Event::Apply(object) => self.changed(&kind, vec![object], Vec::new()).await,
                            Event::Delete(object) => {
                                let gone = origin(&kind, &object);
                                self.changed(&kind, Vec::new(), vec![gone]).await;
                            }
                        }
                    }
                }
            }
        }
    }

    /// A complete list of `kind`: what it lacks was deleted.
    async fn listed(&self, kind: &Kind, objects: Vec<DynamicObject>) {
        let prefix = format!("{}/", kind.resource.kind);
        let deleted: Vec<String> = {
            let listed: HashSet<String> = objects.iter().map(|o| origin(kind, o)).collect();
            self.seen()
                .keys()
                .filter(|o| o.starts_with(&prefix) && !listed.contains(*o))
                .cloned()
                .collect()
        };
        self.changed(kind, objects, deleted).await;
        let (objects, not_ready) = self.count(kind);
        self.health.listed(kind.plural(), objects, not_ready);
        if self.health.all_listed() && !self.synced.swap(true, Ordering::SeqCst) {
            let store = self.store.clone();
            match tokio::task::spawn_blocking(move || store.cluster_synced()).await {
                Ok(Ok(count)) => {
                    let (objects, not_ready) = self.health.totals();
                    tracing::info!(
                        policies = count,
                        objects,
                        not_ready,
                        "Policies loaded; cluster objects listed"
                    );
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "Policy set failed to compile after the first list")
                }
                Err(error) => tracing::error!(%error, "Policy compile task failed"),
            }
        }
        self.report();
    }

    /// Compiles what changed among `objects` and drops `deleted`, then brings each object's
    /// status up to date.
    async fn changed(&self, kind: &Kind, objects: Vec<DynamicObject>, deleted: Vec<String>) {
        let mut texts = HashMap::new();
        let mut changes: Vec<ObjectChange> = Vec::new();
        {
            let seen = self.seen();
            for object in &objects {
                let file = source(kind, object);
                let origin = file.path.display().to_string();
                if seen.get(&origin).is_none_or(|s| s.text != file.text) {
                    texts.insert(origin.clone(), file.text.clone());
                    changes.push((origin, Some(file)));
                }
            }
        }
        changes.extend(deleted.into_iter().map(|origin| (origin, None)));
        if !changes.is_empty() {
            let store = self.store.clone();
            let outcomes =
                match tokio::task::spawn_blocking(move || store.update_objects(changes)).await {
                    Ok(outcomes) => outcomes,
                    Err(error) => {
                        tracing::error!(%error, "Policy compile task failed");
                        return;
                    }
                };
            self.record(outcomes, texts);
        }
        for object in &objects {
            self.write_status(kind, object).await;
        }
        let (objects, not_ready) = self.count(kind);
        self.health.counted(kind.plural(), objects, not_ready);
        self.report();
    }

    fn record(&self, outcomes: Vec<(String, ObjectOutcome)>, mut texts: HashMap<String, String>) {
        let mut seen = self.seen();
        for (origin, outcome) in outcomes {
            let Some(text) = texts.remove(&origin) else {
                seen.remove(&origin);
                tracing::info!(object = %origin, "Policy object deleted; no longer in force");
                continue;
            };
            let before = seen.get(&origin).is_some_and(|s| s.in_force);
            let entry = match outcome {
                ObjectOutcome::InForce => {
                    tracing::info!(object = %origin, "Policy object compiled; in force");
                    Seen {
                        text,
                        in_force: true,
                        ready: Ready::compiled(),
                    }
                }
                ObjectOutcome::Inactive { reason, message } => {
                    tracing::warn!(object = %origin, reason, %message, "Policy object compiled but inactive");
                    Seen {
                        text,
                        in_force: true,
                        ready: Ready {
                            ready: false,
                            reason,
                            message,
                        },
                    }
                }
                ObjectOutcome::Refused(error) => {
                    tracing::warn!(object = %origin, %error, previous_in_force = before, "Policy object refused");
                    Seen {
                        text,
                        in_force: before,
                        ready: Ready::invalid(&origin, &error, before),
                    }
                }
            };
            seen.insert(origin, entry);
        }
    }

    async fn write_status(&self, kind: &Kind, object: &DynamicObject) {
        let origin = origin(kind, object);
        let Some(ready) = self.seen().get(&origin).map(|s| s.ready.clone()) else {
            return;
        };
        let Some(wanted) = status::wanted(object, &ready) else {
            return;
        };
        let result = status::write(&self.client, kind, object, wanted).await;
        let label = if result.is_ok() { "success" } else { "error" };
        self.health
            .metrics()
            .status_writes
            .get_or_create(&crate::serve::metrics::ResultLabels {
                result: label.into(),
            })
            .inc();
        if let Err(error) = result {
            tracing::warn!(object = %origin, %error, "Cannot write the policy object's status");
        }
    }

    /// `kind`'s objects known, and how many of them are refused.
    fn count(&self, kind: &Kind) -> (usize, usize) {
        let prefix = format!("{}/", kind.resource.kind);
        let seen = self.seen();
        let mine = seen.iter().filter(|(o, _)| o.starts_with(&prefix));
        mine.fold((0, 0), |(all, bad), (_, s)| {
            (all + 1, bad + usize::from(!s.ready.ready))
        })
    }

    fn report(&self) {
        let (objects, not_ready) = self.health.totals();
        let files = self
            .store
            .current()
            .map_or(0, |l| l.policies.len().saturating_sub(l.objects));
        self.health
            .metrics()
            .set_policies(files, objects - not_ready, not_ready);
    }
}
