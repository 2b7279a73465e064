//! Starting the webhook as the rendered Deployment says: [`plan`] decides args, env, files,
//! ports and substitutions without side effects; [`process`] writes the files and runs, probes
//! and stops the process.

pub mod plan;
pub mod process;
pub mod volumes;

pub use plan::{Overrides, Plan, Target, plan};
pub use process::Webhook;
pub use volumes::ConfigMapOverride;
