//! `--no-match`: what happens to an image that no applicable `ClusterImagePolicy` covers (nor an
//! `ImagePolicy` in the request's namespace, which applies only there), like
//! sigstore policy-controller's `no-match-policy`. `allow` admits it silently (the engine's
//! default, so a policy set decides alone), `warn` admits it with a warning naming the image
//! (the CLI's default), `deny` refuses it. It applies where image policies would: to the pod
//! spec of a CREATE, or of an UPDATE that changes it.
//!
//! Its findings are filed under the pseudo-policy [`POLICY`] with the rule [`RULE`], so a denial
//! reads `no-match/imagePolicy: container "app" (spec.containers[0].image): …`.

use std::fmt;
use std::str::FromStr;

use crate::compile::{Body, Policy};
use crate::decision::Finding;
use crate::spec::Mode;
use crate::workload::{ContainerList, Workload};

/// The name findings are filed under.
pub const POLICY: &str = "no-match";
/// The rule of those findings.
pub const RULE: &str = "imagePolicy";

/// What happens to an image no image policy covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NoMatch {
    #[default]
    Allow,
    Warn,
    Deny,
}

impl NoMatch {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Warn => "warn",
            Self::Deny => "deny",
        }
    }

    /// The mode its findings are filed with; `None` for `allow`, which has none.
    pub fn mode(self) -> Option<Mode> {
        match self {
            Self::Allow => None,
            Self::Warn => Some(Mode::Warn),
            Self::Deny => Some(Mode::Enforce),
        }
    }
}

impl fmt::Display for NoMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NoMatch {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allow" => Ok(Self::Allow),
            "warn" => Ok(Self::Warn),
            "deny" => Ok(Self::Deny),
            other => Err(format!("{other:?}: expected allow, warn or deny")),
        }
    }
}

/// One finding per container of `w` whose image no image policy in `applicable` covers.
pub(crate) fn findings(w: &Workload<'_>, applicable: &[&Policy]) -> Vec<Finding> {
    let covered: Vec<(ContainerList, usize)> = applicable
        .iter()
        .filter_map(|p| match &p.body {
            Body::Image(ip) => Some(ip.targets(w, &p.matcher)),
            Body::Guardrail(_) => None,
        })
        .flatten()
        .map(|c| (c.list, c.index))
        .collect();
    w.containers()
        .into_iter()
        .filter(|c| !c.image().is_empty() && !covered.contains(&(c.list, c.index)))
        .map(|c| {
            Finding::new(
                RULE,
                c.path.key("image"),
                format!("no ClusterImagePolicy matches image {:?}", c.image()),
            )
            .container(c.name)
            .fix(
                "add a ClusterImagePolicy (or an ImagePolicy in the object's namespace) whose \
                 spec.images matches it, or exclude it in one; portcullis --no-match=allow \
                 admits such images silently",
            )
        })
        .collect()
}
