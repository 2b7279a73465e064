//! Evaluating the audited resources: a batch at a time, each batch shared out across the cores
//! and put back in input order, so that an audit of a whole cluster dump uses every core and a
//! streamed output (`--output jsonl`) holds one batch of results at a time, not all of them.

use std::collections::HashSet;

use portcullis_policies::{PolicySet, VerdictMap};

use super::results::{self, AuditResult, ControlLabels};
use crate::commands::inputs::{BadInput, Input};

/// Resources evaluated between two hand-overs of results.
const BATCH: usize = 2048;
/// Below this many resources in a batch, one thread evaluates them.
const PARALLEL_FROM: usize = 64;

/// What every resource is evaluated against.
pub struct Evaluator<'a> {
    pub set: &'a PolicySet,
    pub facts: &'a VerdictMap,
    pub labels: &'a ControlLabels,
    /// `None` with `--no-images`, else the messages of verdicts no registry could give.
    pub images: Option<&'a HashSet<String>>,
}

impl Evaluator<'_> {
    fn one(&self, read: &Result<Input, BadInput>) -> Vec<AuditResult> {
        match read {
            Ok(input) => {
                let evaluation = self.set.evaluate_detailed(&input.request, self.facts);
                results::of_evaluation(input, &evaluation, self.labels, self.images)
            }
            Err(bad) => vec![results::of_bad_input(bad)],
        }
    }

    /// `batch` shared out across the cores; each part's results are `finish`ed on its own
    /// thread (serialised, say), and the parts come back in order.
    fn batch<T: Send>(
        &self,
        batch: &[Result<Input, BadInput>],
        finish: &(impl Fn(Vec<AuditResult>) -> T + Sync),
    ) -> Vec<T> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let part = |part: &[Result<Input, BadInput>]| {
            finish(part.iter().flat_map(|r| self.one(r)).collect())
        };
        if threads == 1 || batch.len() < PARALLEL_FROM {
            return vec![part(batch)];
        }
        std::thread::scope(|scope| {
            let workers: Vec<_> = batch
                .chunks(batch.len().div_ceil(threads))
                .map(|chunk| scope.spawn(move || part(chunk)))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    }

    /// The results of every resource of `read`, in order, `finish`ed a part of a batch at a
    /// time on the thread that evaluated them, then handed to `sink`.
    pub fn each_batch<T: Send>(
        &self,
        read: &[Result<Input, BadInput>],
        finish: impl Fn(Vec<AuditResult>) -> T + Sync,
        mut sink: impl FnMut(T) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        for batch in read.chunks(BATCH) {
            for part in self.batch(batch, &finish) {
                sink(part)?;
            }
        }
        Ok(())
    }
}
