//! The objects the test API server holds, its global resourceVersion counter and its event
//! history, as etcd and the watch cache keep them for the real API server.
//!
//! Every write takes the next resourceVersion, records an event (with the object as it was
//! before, so a list page can be served from an older snapshot) and broadcasts it to the open
//! watches while the store is still locked: a watch that reads the history and subscribes under
//! the same lock sees every event exactly once. [`Store::compact`] forgets the history; a watch
//! or a list continuation from before that point is then `410 Gone`. The history is bounded: past
//! [`HISTORY_LIMIT`] events the oldest are compacted away.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::Resource;
use super::wire::{now_rfc3339, random_uid};

/// Events kept for watches and list continuations before the oldest are compacted.
pub(crate) const HISTORY_LIMIT: usize = 10_000;
/// Live signals a slow watch may fall behind by before it is cut (the client then re-lists).
const LIVE_CAPACITY: usize = 1024;

/// Where an object lives: (kind, namespace or "" when cluster-scoped, name).
pub(crate) type Key = (String, String, String);

/// One change, as a watch reports it.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) rv: u64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub(crate) kind: &'static str,
    pub(crate) key: Key,
    pub(crate) object: Value,
    /// The object before this change (`None` for `ADDED`).
    pub(crate) previous: Option<Value>,
}

/// What an open watch is told, live.
#[derive(Debug, Clone)]
pub(crate) enum Signal {
    Event(Arc<Event>),
    /// A `BOOKMARK` at this resourceVersion.
    Bookmark(u64),
    /// Cut the stream mid-way.
    Cut,
}

#[derive(Debug)]
pub(crate) struct Store {
    resources: Vec<Resource>,
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Arc<Event>>,
    /// The oldest resourceVersion a watch may start from (all later events are in `history`).
    compacted: u64,
    live: broadcast::Sender<Signal>,
}

/// A watch's start: the events it must replay, and its live feed from then on.
pub(crate) struct Subscription {
    pub(crate) backlog: Vec<Arc<Event>>,
    pub(crate) live: broadcast::Receiver<Signal>,
}

/// The start is older than the compaction point: `(asked, oldest available)`.
#[derive(Debug)]
pub(crate) struct TooOld(pub(crate) u64, pub(crate) u64);

impl Store {
    pub(crate) fn new(resources: Vec<Resource>) -> Self {
        Self {
            resources,
            rv: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            compacted: 1,
            live: broadcast::channel(LIVE_CAPACITY).0,
        }
    }

    pub(crate) fn resources(&self) -> &[Resource] {
        &self.resources
    }

    pub(crate) fn resource_version(&self) -> u64 {
        self.rv
    }

    pub(crate) fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Creates or replaces the object (see `ApiServer::apply`). The test's own writes own no
    /// fields: a create has no `managedFields`, a replace keeps the stored ones.
    pub(crate) fn apply(&mut self, object: Value) -> anyhow::Result<Value> {
        self.put(object, None)
    }

    /// Creates or replaces the object as `apply` does, for a client's write whose field
    /// ownership the request computed: the object's `managedFields` are stored as they are.
    pub(crate) fn write(&mut self, mut object: Value) -> anyhow::Result<Value> {
        let managed_fields = object["metadata"]
            .as_object_mut()
            .and_then(|m| m.remove("managedFields"))
            .unwrap_or(Value::Array(Vec::new()));
        self.put(object, Some(managed_fields))
    }

    /// `apply` and `write`: `managed_fields`, when given, replace the stored ones.
    fn put(&mut self, mut object: Value, managed_fields: Option<Value>) -> anyhow::Result<Value> {
        let resource = self.resource_of(&object)?.clone();
        let meta = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .context("the object has no metadata")?;
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .context("the object has no metadata.name")?
            .to_owned();
        let namespace = match (resource.namespaced, meta.get("namespace")) {
            (true, None) => "default".to_owned(),
            (true, Some(ns)) => ns
                .as_str()
                .context("metadata.namespace is not a string")?
                .to_owned(),
            (false, None) => String::new(),
            (false, Some(_)) => bail!("{} is cluster-scoped: no metadata.namespace", resource.kind),
        };
        if resource.namespaced {
            meta.insert("namespace".into(), json!(namespace));
        }
        let key = (resource.kind.clone(), namespace, name);
        let rv = self.next_rv();
        let previous = self.objects.get(&key).cloned();
        let meta = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .context("the object has no metadata")?;
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        match &previous {
            None => {
                meta.insert("uid".into(), json!(random_uid()));
                meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
                meta.insert("generation".into(), json!(1));
                meta.remove("managedFields");
                // As with a status subresource, a create does not write the status.
                if let Some(o) = object.as_object_mut() {
                    o.remove("status");
                }
            }
            Some(old) => {
                for kept in ["uid", "creationTimestamp", "managedFields"] {
                    match old["metadata"].get(kept) {
                        Some(v) => meta.insert(kept.into(), v.clone()),
                        None => meta.remove(kept),
                    };
                }
                let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
                let changed = without_meta_and_status(old) != without_meta_and_status(&object);
                object["metadata"]["generation"] = json!(generation + i64::from(changed));
                match old.get("status") {
                    Some(status) => object["status"] = status.clone(),
                    None => {
                        if let Some(o) = object.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
        }
        if let Some(fields) = managed_fields {
            object["metadata"]["managedFields"] = fields;
        }
        let kind = if previous.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.record(rv, kind, key, object.clone(), previous);
        Ok(object)
    }

    /// Replaces a stored object whose status a patch changed: same generation, new resourceVersion.
    pub(crate) fn replace_status(&mut self, key: &Key, mut object: Value) -> Value {
        let rv = self.next_rv();
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let previous = self.objects.get(key).cloned();
        self.record(rv, "MODIFIED", key.clone(), object.clone(), previous);
        object
    }

    /// Deletes the object; returns it as it went, at the deletion's resourceVersion.
    pub(crate) fn delete(&mut self, key: &Key) -> anyhow::Result<Value> {
        let Some(mut object) = self.objects.get(key).cloned() else {
            bail!("{} {:?} {:?} not found", key.0, key.1, key.2);
        };
        let rv = self.next_rv();
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let previous = self.objects.get(key).cloned();
        // The DELETED event carries the object as it went, with the deletion's resourceVersion.
        self.record(rv, "DELETED", key.clone(), object.clone(), previous);
        Ok(object)
    }

    /// The objects of `kind` (in `namespace` when given) at resourceVersion `at`, in (namespace,
    /// name) order; an error when `at` is older than the history.
    pub(crate) fn snapshot(
        &self,
        kind: &str,
        namespace: Option<&str>,
        at: u64,
    ) -> Result<Vec<(Key, Value)>, TooOld> {
        if at < self.compacted {
            return Err(TooOld(at, self.compacted));
        }
        let mut objects: BTreeMap<Key, Value> = self
            .objects
            .iter()
            .filter(|(k, _)| k.0 == kind)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for event in self.history.iter().rev().take_while(|e| e.rv > at) {
            if event.key.0 != kind {
                continue;
            }
            match &event.previous {
                Some(previous) => objects.insert(event.key.clone(), previous.clone()),
                None => objects.remove(&event.key),
            };
        }
        Ok(objects
            .into_iter()
            .filter(|(k, _)| namespace.is_none_or(|ns| k.1 == ns))
            .collect())
    }

    /// The events after `since` (`None`: the current objects as `ADDED`) and the live feed.
    pub(crate) fn subscribe(&self, since: Option<u64>) -> Result<Subscription, TooOld> {
        let backlog = match since {
            Some(rv) if rv < self.compacted => return Err(TooOld(rv, self.compacted)),
            Some(rv) => self.history.iter().filter(|e| e.rv > rv).cloned().collect(),
            None => self
                .objects
                .iter()
                .map(|(key, object)| {
                    Arc::new(Event {
                        rv: self.rv,
                        kind: "ADDED",
                        key: key.clone(),
                        object: object.clone(),
                        previous: None,
                    })
                })
                .collect(),
        };
        Ok(Subscription {
            backlog,
            live: self.live.subscribe(),
        })
    }

    /// Forgets the history: older starts are now too old.
    pub(crate) fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    pub(crate) fn signal(&self, signal: Signal) {
        // No receiver (no open watch) is not an error.
        let _ = self.live.send(signal);
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn record(
        &mut self,
        rv: u64,
        kind: &'static str,
        key: Key,
        object: Value,
        previous: Option<Value>,
    ) {
        if kind == "DELETED" {
            self.objects.remove(&key);
        } else {
            self.objects.insert(key.clone(), object.clone());
        }
        let event = Arc::new(Event {
            rv,
            kind,
            key,
            object,
            previous,
        });
        self.history.push_back(Arc::clone(&event));
        while self.history.len() > HISTORY_LIMIT {
            if let Some(oldest) = self.history.pop_front() {
                self.compacted = oldest.rv;
            }
        }
        self.signal(Signal::Event(event));
    }

    fn resource_of(&self, object: &Value) -> anyhow::Result<&Resource> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        self.resources
            .iter()
            .find(|r| r.api_version() == api_version && r.kind == kind)
            .with_context(|| format!("{api_version} {kind} is not a resource this server serves"))
    }
}

/// The object without `metadata` and `status`: what a generation counts changes of.
fn without_meta_and_status(object: &Value) -> Map<String, Value> {
    let mut rest = object.as_object().cloned().unwrap_or_default();
    rest.remove("metadata");
    rest.remove("status");
    rest
}
