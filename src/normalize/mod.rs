//! Span views → endpoint observations: which spans are HTTP server spans, both generations
//! of the HTTP semantic conventions, path templates (routes normalised, or inferred from
//! concrete paths) and auth evidence. Pure: no I/O, no clocks, no global state.

use crate::model::{NormalizedBatch, ResourceView, SpanView};

/// Rules that configuration can change.
#[derive(Debug, Clone, Default)]
pub struct Rules {}

/// Normalises export requests under fixed rules.
#[derive(Debug, Clone, Default)]
pub struct Normalizer {
    pub rules: Rules,
}

impl Normalizer {
    pub fn new(rules: Rules) -> Normalizer {
        Normalizer { rules }
    }

    /// Starts one export request's worth of spans.
    pub fn batch(&self) -> BatchNormalizer<'_> {
        BatchNormalizer {
            _rules: &self.rules,
            out: NormalizedBatch::default(),
        }
    }
}

/// Collects one request's spans; evidence from children is joined to parents in the same
/// request at [`BatchNormalizer::finish`], the rest is returned as orphan evidence.
pub struct BatchNormalizer<'r> {
    _rules: &'r Rules,
    out: NormalizedBatch,
}

impl BatchNormalizer<'_> {
    pub fn push(&mut self, resource: &ResourceView<'_>, span: &SpanView<'_>) {
        let _ = (resource, span);
        todo!("normalize::BatchNormalizer::push")
    }

    pub fn finish(self) -> NormalizedBatch {
        self.out
    }
}
