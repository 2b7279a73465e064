//! Requests: authenticate, find the resource the path names, authorise the verb, and answer a
//! list, a watch or a get (writes are in the `writes` module). Every answer is recorded.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;

use super::auth::Attributes;
use super::watch::{self, Filter};
use super::wire::{self, Continue, Failure, labels_match, query_pairs};
use super::writes;
use super::{RecordedRequest, Resource, Shared, key};

pub(crate) type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let mut record = RecordedRequest {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or_default().to_owned(),
        content_type: req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        status: 0,
    };
    if shared.outage_due() {
        // The connection task drops this connection (and every other) once the server is
        // unreachable; until then this request gets no answer.
        shared.reachable.send_replace(false);
        return std::future::pending().await;
    }
    let res = match respond(&shared, req).await {
        Ok(res) => res,
        Err(failure) => json_response(failure.code, &failure.to_json()),
    };
    record.status = res.status().as_u16();
    shared.record(record);
    Ok(res)
}

/// What a path names.
pub(crate) struct Route {
    pub(crate) resource: Resource,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    /// The `/status` subresource.
    pub(crate) status: bool,
}

/// What a request asks for, by method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    List,
    Watch,
    Get,
    Patch,
    Delete,
}

impl Action {
    /// The RBAC verb.
    fn verb(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Watch => "watch",
            Self::Get => "get",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }
}

impl Route {
    fn parse(path: &str, resources: &[Resource]) -> Option<Route> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        // Core kinds (group "") live under `/api/{version}`, the others under `/apis/{group}/…`.
        let (group, version, rest) = match segments.as_slice() {
            ["api", version, rest @ ..] => ("", *version, rest),
            ["apis", group, version, rest @ ..] => (*group, *version, rest),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(*ns), rest),
            _ => (None, rest),
        };
        let (plural, name, status) = match rest {
            [plural] => (*plural, None, false),
            [plural, name] => (*plural, Some(*name), false),
            [plural, name, "status"] => (*plural, Some(*name), true),
            _ => return None,
        };
        let resource = resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)?;
        // A cluster-scoped kind has no namespace; a namespaced object needs one.
        if (namespace.is_some() && !resource.namespaced)
            || (namespace.is_none() && resource.namespaced && name.is_some())
        {
            return None;
        }
        Some(Route {
            resource: resource.clone(),
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            status,
        })
    }
}

async fn respond(shared: &Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Failure> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    shared.access().authenticate(authorization)?;
    let resources = shared.store().resources().to_vec();
    let route = Route::parse(req.uri().path(), &resources).ok_or_else(Failure::unknown_path)?;
    let query = query_pairs(req.uri().query().unwrap_or_default());
    let param = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
    let watching = matches!(param("watch"), Some("true" | "1"));
    // A collection is only read; an object is read and patched, and deleted through its main
    // resource only.
    let action = match (req.method(), &route.name, route.status) {
        (&Method::GET, None, _) if watching => Action::Watch,
        (&Method::GET, None, _) => Action::List,
        (&Method::GET, Some(_), _) => Action::Get,
        (&Method::PATCH, Some(_), _) => Action::Patch,
        (&Method::DELETE, Some(_), false) => Action::Delete,
        _ => {
            return Err(Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ));
        }
    };
    shared.access().authorize(&Attributes {
        verb: action.verb(),
        resource: &route.resource,
        subresource: route.status.then_some("status"),
        namespace: route.namespace.as_deref(),
        name: route.name.as_deref(),
    })?;
    match action {
        Action::Watch => watch(shared, &route, &param),
        Action::List => list(shared, &route, &param),
        Action::Get => get(shared, &route),
        Action::Delete => writes::delete(shared, &route),
        Action::Patch => {
            let manager = param("fieldManager").map(str::to_owned);
            writes::patch(shared, &route, req, manager).await
        }
    }
}

fn list<'a>(
    shared: &Shared,
    route: &Route,
    param: &impl Fn(&str) -> Option<&'a str>,
) -> Result<Response<Body>, Failure> {
    let store = shared.store();
    let from = match param("continue").filter(|c| !c.is_empty()) {
        Some(token) => Some(Continue::decode(token).ok_or_else(|| {
            Failure::bad_request("continue key is not valid: the token does not decode")
        })?),
        None => None,
    };
    let at = from.as_ref().map_or(store.resource_version(), |c| c.rv);
    let snapshot = store
        .snapshot(&route.resource.kind, route.namespace.as_deref(), at)
        .map_err(|_| {
            Failure::expired(
                "The provided continue parameter is too old to display a consistent list result. \
                 You can start a new list without the continue parameter.",
            )
        })?;
    let limit = param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let selector = param("labelSelector");
    let mut items = snapshot.into_iter().filter(|((_, ns, name), object)| {
        from.as_ref()
            .is_none_or(|c| (ns.as_str(), name.as_str()) > (c.namespace.as_str(), c.name.as_str()))
            && selector.is_none_or(|s| labels_match(s, &object["metadata"]["labels"]))
    });
    let page: Vec<_> = items.by_ref().take(limit.unwrap_or(usize::MAX)).collect();
    let more = items.next().is_some();
    let token = match page.last() {
        Some(((_, ns, name), _)) if more => Some(
            Continue {
                rv: at,
                namespace: ns.clone(),
                name: name.clone(),
            }
            .encode(),
        ),
        _ => None,
    };
    let items = page.into_iter().map(|(_, object)| object).collect();
    let body = wire::list(&route.resource, at, items, token);
    Ok(json_response(StatusCode::OK, &body))
}

fn watch<'a>(
    shared: &Arc<Shared>,
    route: &Route,
    param: &impl Fn(&str) -> Option<&'a str>,
) -> Result<Response<Body>, Failure> {
    let since = match param("resourceVersion").filter(|rv| !rv.is_empty() && *rv != "0") {
        Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
            Failure::bad_request(format!("resourceVersion: Invalid value: \"{rv}\""))
        })?),
        None => None,
    };
    let filter = Filter {
        resource: route.resource.clone(),
        namespace: route.namespace.clone(),
        label_selector: param("labelSelector").map(str::to_owned),
        bookmarks: matches!(param("allowWatchBookmarks"), Some("true" | "1")),
    };
    // 0, like none, is no timeout.
    let timeout = param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map(Duration::from_secs);
    let subscription = shared.store().subscribe(since);
    let body = match subscription {
        Ok(subscription) => watch::stream(Arc::clone(shared), subscription, filter, timeout),
        Err(old) => watch::expired(Arc::clone(shared), &Failure::too_old(old.0, old.1), filter),
    };
    Ok(response(StatusCode::OK, body))
}

fn get(shared: &Shared, route: &Route) -> Result<Response<Body>, Failure> {
    let name = route.name.as_deref().unwrap_or_default();
    let k = key(&route.resource.kind, route.namespace.as_deref(), name);
    let object = shared
        .store()
        .get(&k)
        .cloned()
        .ok_or_else(|| Failure::not_found(&route.resource, name))?;
    Ok(json_response(StatusCode::OK, &object))
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let body = Full::new(Bytes::from(body.to_string()))
        .map_err(|never| match never {})
        .boxed();
    response(status, body)
}

fn response(status: StatusCode, body: Body) -> Response<Body> {
    let mut res = Response::new(body);
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
