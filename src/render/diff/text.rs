//! The diff for a terminal: one screen, the changes beyond chance ranked.

use std::io::{self, Write};

use super::{comparison_line, dur, p_text, pct, sentence, side_line, transition_lines};
use crate::compare::diff::{Diff, Verdict};

/// Ranked changes shown (the JSON has them all).
const SHOWN: usize = 12;

pub fn write_text(diff: &Diff, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "before: {}", side_line(&diff.before))?;
    writeln!(out, "after:  {}", side_line(&diff.after))?;
    writeln!(out, "{}", comparison_line(diff))?;
    for w in &diff.warnings {
        writeln!(out, "warning: {w}")?;
    }
    writeln!(out)?;
    if diff.ranked.is_empty() {
        writeln!(
            out,
            "No significant change: no class, flag, endpoint, duration, finding or host peak moved beyond chance (α = {}).",
            diff.method.alpha
        )?;
    } else {
        writeln!(out, "Changes beyond chance, largest first:")?;
        for r in diff.ranked.iter().take(SHOWN) {
            writeln!(out, "  {}", sentence(diff, r))?;
        }
        if diff.ranked.len() > SHOWN {
            writeln!(
                out,
                "  ... and {} more (--format json)",
                diff.ranked.len() - SHOWN
            )?;
        }
    }
    if diff.matching.replay && !diff.matching.transitions.is_empty() {
        writeln!(out, "\nConnections that changed class (replay):")?;
        for l in transition_lines(diff, 5) {
            writeln!(out, "  {l}")?;
        }
    }
    let too_few: Vec<&str> = diff
        .rates
        .iter()
        .filter(|r| r.verdict == Verdict::TooFew)
        .map(|r| r.name)
        .collect();
    if !too_few.is_empty() {
        writeln!(out, "\nToo few connections to tell: {}", too_few.join(", "))?;
    }
    writeln!(
        out,
        "\n{:<20} {:>9} {:>9}  verdict",
        "class / flag", "before", "after"
    )?;
    for r in &diff.rates {
        writeln!(
            out,
            "{:<20} {:>9} {:>9}  {}{}",
            r.name,
            pct(r.before.rate),
            pct(r.after.rate),
            super::verdict_word(r.verdict),
            if r.verdict.changed() {
                format!(" ({})", p_text(r.significance.p_adjusted))
            } else {
                String::new()
            }
        )?;
    }
    if !diff.timings.is_empty() {
        writeln!(
            out,
            "\n{:<18} {:>21} {:>21}  verdict",
            "duration", "median before → after", "p95 before → after"
        )?;
        for t in &diff.timings {
            writeln!(
                out,
                "{:<18} {:>21} {:>21}  {}",
                t.name,
                format!("{} → {}", dur(t.before.median), dur(t.after.median)),
                format!("{} → {}", dur(t.before.p95), dur(t.after.p95)),
                super::verdict_word(t.verdict)
            )?;
        }
    }
    Ok(())
}
