//! The progress bar.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::inputs::Input;

/// A progress bar shown on stderr only once a run has taken more than a
/// second: bytes of the inputs read out of their size (compressed bytes for a
/// compressed file: its decompressed size is not known), TCP segments and
/// their rate, connections opened so far.
pub(super) struct Progress<'a> {
    enabled: bool,
    start: Instant,
    bar: Option<indicatif::ProgressBar>,
    total: Option<u64>,
    /// Connections opened so far, added to by the shards.
    opened: &'a AtomicU64,
}

impl<'a> Progress<'a> {
    pub(super) fn new(enabled: bool, total: Option<u64>, opened: &'a AtomicU64) -> Progress<'a> {
        Progress {
            enabled,
            start: Instant::now(),
            bar: None,
            total,
            opened,
        }
    }

    pub(super) fn tick(&mut self, inputs: &[Input], segments: u64) {
        if !self.enabled || self.start.elapsed() < Duration::from_secs(1) {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = match self.total {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            }
            // The bar appears after a second; its clock counts from the start.
            .with_elapsed(self.start.elapsed());
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let read: u64 = inputs.iter().map(Input::progress).sum();
        bar.set_position(read);
        let rate = segments as f64 / self.start.elapsed().as_secs_f64();
        let connections = self.opened.load(Ordering::Relaxed);
        bar.set_message(format!(
            "{segments} TCP segments ({rate:.0}/s), {connections} connections"
        ));
    }

    pub(super) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
