//! The diff as Markdown, for a pull request comment or a CI job summary.

use std::io::{self, Write};

use super::{
    comparison_line, dur, p_text, pct, points, sentence, side_line, transition_lines, verdict_word,
};
use crate::compare::diff::Diff;

/// Escapes the characters that would break a table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
}

pub fn write_markdown(diff: &Diff, out: &mut dyn Write) -> io::Result<()> {
    let head = if diff.significant {
        format!("⚠️ {} significant changes", diff.ranked.len())
    } else {
        "✅ no significant change".to_string()
    };
    writeln!(out, "## teardown diff: {head}\n")?;
    writeln!(out, "- before: {}", cell(&side_line(&diff.before)))?;
    writeln!(out, "- after: {}", cell(&side_line(&diff.after)))?;
    writeln!(out, "- {}", cell(&comparison_line(diff)))?;
    for w in &diff.warnings {
        writeln!(out, "- ⚠️ {}", cell(w))?;
    }
    if !diff.ranked.is_empty() {
        writeln!(out, "\n### Changes, largest first\n")?;
        for r in diff.ranked.iter().take(20) {
            writeln!(out, "1. {}", cell(&sentence(diff, r)))?;
        }
    }
    if diff.matching.replay && !diff.matching.transitions.is_empty() {
        writeln!(out, "\n### Connections that changed class\n")?;
        for l in transition_lines(diff, 10) {
            writeln!(out, "- {}", cell(&l))?;
        }
    }
    writeln!(out, "\n### Classes and flags\n")?;
    writeln!(out, "| | before | after | change | verdict |")?;
    writeln!(out, "|---|---:|---:|---:|---|")?;
    for r in &diff.rates {
        writeln!(
            out,
            "| `{}` | {} | {} | {} | {}{} |",
            r.name,
            pct(r.before.rate),
            pct(r.after.rate),
            points(r.change),
            verdict_word(r.verdict),
            if r.verdict.changed() {
                format!(
                    ", {} ({})",
                    p_text(r.significance.p_adjusted),
                    r.significance.test.name()
                )
            } else {
                String::new()
            }
        )?;
    }
    for (title, list) in [("Servers", &diff.servers), ("Clients", &diff.clients)] {
        let rows: Vec<_> = list
            .rows
            .iter()
            .filter(|e| e.verdict.changed())
            .take(10)
            .collect();
        if rows.is_empty() {
            continue;
        }
        writeln!(out, "\n### {title} whose problems changed\n")?;
        writeln!(
            out,
            "| endpoint | problems before | after | mostly | verdict |"
        )?;
        writeln!(out, "|---|---:|---:|---|---|")?;
        for e in rows {
            writeln!(
                out,
                "| `{}` | {} | {} | {} {} → {} | {}{} |",
                cell(&e.endpoint),
                pct(e.before.rate),
                pct(e.after.rate),
                e.class.class,
                e.class.before,
                e.class.after,
                verdict_word(e.verdict),
                if e.significant {
                    format!(", {}", p_text(e.significance.p_adjusted))
                } else {
                    ", not beyond chance".to_string()
                }
            )?;
        }
    }
    if !diff.timings.is_empty() {
        writeln!(out, "\n### Durations\n")?;
        writeln!(
            out,
            "| | median before | after | p95 before | after | verdict |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---:|---|")?;
        for t in &diff.timings {
            writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                t.name,
                dur(t.before.median),
                dur(t.after.median),
                dur(t.before.p95),
                dur(t.after.p95),
                verdict_word(t.verdict)
            )?;
        }
    }
    let changed: Vec<_> = diff
        .findings
        .iter()
        .filter(|f| f.verdict.changed())
        .collect();
    if !changed.is_empty() {
        writeln!(out, "\n### Findings\n")?;
        writeln!(out, "| finding | host | before | after | |")?;
        writeln!(out, "|---|---|---:|---:|---|")?;
        for f in changed {
            writeln!(
                out,
                "| `{}` | `{}` | {} | {} | {} |",
                f.name,
                cell(&f.host),
                f.before,
                f.after,
                verdict_word(f.verdict)
            )?;
        }
    }
    writeln!(
        out,
        "\n<sub>Tests: Fisher's exact test or the two-proportion z-test for rates, Kolmogorov–Smirnov for durations, at α = {} (Holm-adjusted); method: docs/diff.md</sub>",
        diff.method.alpha
    )
}
