//! Client writes: `PATCH` of an object's `/status` subresource or of the object itself, and
//! `DELETE` of the object. The patch kinds and what they do are in the `patch` (status) and
//! `apply` (whole object) modules; this module reads the request, answers as the API server
//! would (`201` for a create by apply, `200` with the stored or deleted object otherwise) and
//! writes to the store, which emits the watch events.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

use super::apply::{self, Target};
use super::patch::{PatchKind, patch_status};
use super::routes::{Body, Route, json_response};
use super::wire::Failure;
use super::{Shared, key};

/// The largest patch body taken.
const BODY_LIMIT: usize = 1 << 20;

/// `PATCH …/{plural}/{name}` and `PATCH …/{plural}/{name}/status`.
pub(crate) async fn patch(
    shared: &Shared,
    route: &Route,
    req: Request<Incoming>,
    manager: Option<String>,
) -> Result<Response<Body>, Failure> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let kind = PatchKind::from_content_type(content_type).ok_or_else(|| {
        Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: \
                 application/merge-patch+json, application/apply-patch+yaml (got {content_type:?})"
            ),
        )
    })?;
    // As the real server does, the options are checked before the object is looked up.
    let manager = match (kind, manager) {
        (_, Some(m)) if !m.is_empty() => m,
        (PatchKind::Apply, _) => {
            return Err(Failure::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        (PatchKind::Merge, _) => "unknown".to_owned(),
    };
    let body = read_json(req).await?;
    let name = route.name.as_deref().unwrap_or_default();
    let k = key(&route.resource.kind, route.namespace.as_deref(), name);
    let not_found = || Failure::not_found(&route.resource, name);
    let mut store = shared.store();
    let stored = store.get(&k).cloned();
    if route.status {
        let stored = stored.ok_or_else(not_found)?;
        let patched = patch_status(kind, &stored, &body, &manager);
        let object = store.replace_status(&k, patched);
        return Ok(json_response(StatusCode::OK, &object));
    }
    if !body.is_object() {
        return Err(Failure::bad_request(
            "the patch is not a JSON object (a patch of an object is one)",
        ));
    }
    let (object, code) = match (kind, &stored) {
        (PatchKind::Apply, _) => {
            let target = Target {
                resource: &route.resource,
                namespace: route.namespace.as_deref(),
                name,
            };
            let code = match stored {
                Some(_) => StatusCode::OK,
                None => StatusCode::CREATED,
            };
            (
                apply::apply(target, stored.as_ref(), &body, &manager)?,
                code,
            )
        }
        (PatchKind::Merge, Some(stored)) => (apply::merge(stored, &body, &manager), StatusCode::OK),
        (PatchKind::Merge, None) => return Err(not_found()),
    };
    let object = store.write(object).map_err(|e| {
        // The object was built from a served kind and the path's name: the store takes it.
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("storing the patched object: {e:#}"),
        )
    })?;
    Ok(json_response(code, &object))
}

/// `DELETE …/{plural}/{name}`: the object as it went (the real server may answer a `Status`
/// instead; both are allowed). Delete options (preconditions, propagation, grace periods) are
/// ignored: the object goes at once.
pub(crate) fn delete(shared: &Shared, route: &Route) -> Result<Response<Body>, Failure> {
    let name = route.name.as_deref().unwrap_or_default();
    let k = key(&route.resource.kind, route.namespace.as_deref(), name);
    // The store refuses only an object it does not hold.
    let object = shared
        .store()
        .delete(&k)
        .map_err(|_| Failure::not_found(&route.resource, name))?;
    Ok(json_response(StatusCode::OK, &object))
}

/// The body, as JSON (this server reads no YAML, although apply's media type names it).
async fn read_json(req: Request<Incoming>) -> Result<Value, Failure> {
    let bytes: Bytes = Limited::new(req.into_body(), BODY_LIMIT)
        .collect()
        .await
        .map_err(|e| Failure::bad_request(format!("reading the patch: {e}")))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| {
        Failure::bad_request(format!(
            "the patch is not JSON (this server reads JSON only): {e}"
        ))
    })
}
