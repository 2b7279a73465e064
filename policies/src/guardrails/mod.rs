//! Guardrails beyond the Pod Security Standards: per-container resource rules
//! ([`resources`]), image reference hygiene ([`hygiene`]) and custom JSONPath rules
//! ([`rules`]). Each is compiled once from its spec section and evaluated on the (already
//! mutated) admitted object, returning one finding per violation with its real path.

pub mod hygiene;
pub mod resources;
pub mod rules;
