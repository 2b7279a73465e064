//! Who may do what: bearer-token authentication (one token, one user) and a deny list standing
//! in for RBAC. Everything is allowed to the token's user until [`Access::deny`] names a (verb,
//! resource) pair, as a ClusterRole missing a rule would.

use std::collections::BTreeSet;

use hyper::StatusCode;
use serde_json::json;

use super::Resource;
use super::wire::{Failure, random_bytes};

/// The user the token authenticates as: the webhook's service account.
pub const USER: &str = "system:serviceaccount:portcullis-system:portcullis";

#[derive(Debug)]
pub(crate) struct Access {
    token: String,
    denied: BTreeSet<(String, String)>,
}

/// The request being authorised: verb, resource, optional subresource, namespace, name.
pub(crate) struct Attributes<'a> {
    pub(crate) verb: &'static str,
    pub(crate) resource: &'a Resource,
    pub(crate) subresource: Option<&'a str>,
    pub(crate) namespace: Option<&'a str>,
    pub(crate) name: Option<&'a str>,
}

impl Access {
    pub(crate) fn new() -> Self {
        let token: String = random_bytes::<24>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            token,
            denied: BTreeSet::new(),
        }
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// `401 Unauthorized` unless `authorization` is `Bearer <the token>`.
    pub(crate) fn authenticate(&self, authorization: Option<&str>) -> Result<(), Failure> {
        match authorization.and_then(|a| a.strip_prefix("Bearer ")) {
            Some(token) if token.trim() == self.token => Ok(()),
            _ => Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Unauthorized",
            )),
        }
    }

    /// From now on `verb` on `resource` (`plural` or `plural/subresource`) is forbidden.
    pub(crate) fn deny(&mut self, verb: &str, resource: &str) {
        self.denied.insert((verb.to_owned(), resource.to_owned()));
    }

    /// `403 Forbidden`, in the API server's words, when the pair was denied.
    pub(crate) fn authorize(&self, a: &Attributes<'_>) -> Result<(), Failure> {
        let resource = match a.subresource {
            Some(sub) => format!("{}/{sub}", a.resource.plural),
            None => a.resource.plural.clone(),
        };
        if !self.denied.contains(&(a.verb.to_owned(), resource.clone())) {
            return Ok(());
        }
        let group = &a.resource.group;
        let what = match a.name {
            Some(name) => format!("{} \"{name}\"", a.resource.qualified_plural()),
            None => a.resource.qualified_plural(),
        };
        let scope = match a.namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_owned(),
        };
        let message = format!(
            "{what} is forbidden: User \"{USER}\" cannot {} resource \"{resource}\" in API group \"{group}\" {scope}",
            a.verb
        );
        let mut details = json!({"group": group, "kind": a.resource.plural});
        if let Some(name) = a.name {
            details["name"] = json!(name);
        }
        Err(Failure::new(StatusCode::FORBIDDEN, "Forbidden", message).with_details(details))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_reads_as_the_api_server_writes_it() {
        let mut access = Access::new();
        let r = Resource::cluster(
            "policy.portcullis.dev",
            "v1alpha1",
            "ClusterImagePolicy",
            "clusterimagepolicies",
        );
        let list = Attributes {
            verb: "list",
            resource: &r,
            subresource: None,
            namespace: None,
            name: None,
        };
        assert!(access.authorize(&list).is_ok());
        access.deny("list", "clusterimagepolicies");
        let f = access.authorize(&list).err().map(|f| f.message);
        assert_eq!(
            f.as_deref(),
            Some(
                "clusterimagepolicies.policy.portcullis.dev is forbidden: User \"system:serviceaccount:portcullis-system:portcullis\" cannot list resource \"clusterimagepolicies\" in API group \"policy.portcullis.dev\" at the cluster scope"
            )
        );
    }

    #[test]
    fn only_the_token_authenticates() {
        let access = Access::new();
        assert_eq!(access.token().len(), 48);
        let good = format!("Bearer {}", access.token());
        assert!(access.authenticate(Some(&good)).is_ok());
        assert!(access.authenticate(Some("Bearer nope")).is_err());
        assert!(access.authenticate(None).is_err());
    }
}
