//! JUnit XML: one test case per rule, a failure element listing the offending
//! connections. CI systems (GitLab, Jenkins, GitHub test reporters) render it.

use std::io::{self, Write};

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::text::fmt_limit;
use super::{by_id, describe};
use crate::policy::{CheckResult, MAX_LISTED};
use crate::report::Report;

pub fn write_junit(result: &CheckResult, report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut w = Writer::new_with_indent(out, b' ', 2);
    let failures = result.failed_rules().count().to_string();
    let tests = result.rules.len().to_string();
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut suites = BytesStart::new("testsuites");
    suites.push_attribute(("name", "teardown check"));
    suites.push_attribute(("tests", tests.as_str()));
    suites.push_attribute(("failures", failures.as_str()));
    w.write_event(Event::Start(suites))?;
    let mut suite = BytesStart::new("testsuite");
    suite.push_attribute(("name", "teardown policy"));
    suite.push_attribute(("tests", tests.as_str()));
    suite.push_attribute(("failures", failures.as_str()));
    suite.push_attribute(("errors", "0"));
    w.write_event(Event::Start(suite))?;
    for r in &result.rules {
        let mut case = BytesStart::new("testcase");
        case.push_attribute(("classname", "teardown.policy"));
        case.push_attribute(("name", r.rule.as_str()));
        if r.held {
            w.write_event(Event::Empty(case))?;
            continue;
        }
        w.write_event(Event::Start(case))?;
        let message = if r.per_host {
            format!("{} in {}, {}", super::observed(r), r.target, fmt_limit(r))
        } else if r.at_least {
            format!(
                "{} connections checked, {}: the check has too little evidence",
                r.observed,
                fmt_limit(r)
            )
        } else {
            format!(
                "{} connections with {} ({:.1}%){}, {}",
                r.observed,
                r.target,
                r.observed_percent,
                super::against(r),
                fmt_limit(r)
            )
        };
        let mut failure = BytesStart::new("failure");
        failure.push_attribute(("message", message.as_str()));
        failure.push_attribute(("type", "policy"));
        w.write_event(Event::Start(failure))?;
        let mut body = String::new();
        for id in r.connections.iter().take(MAX_LISTED) {
            if let Some(c) = by_id(report, *id) {
                body.push_str(&describe(c));
                body.push('\n');
            }
        }
        if r.observed > MAX_LISTED as u64 {
            body.push_str(&format!(
                "... and {} more\n",
                r.observed - MAX_LISTED as u64
            ));
        }
        w.write_event(Event::Text(BytesText::new(&body)))?;
        w.write_event(Event::End(BytesEnd::new("failure")))?;
        w.write_event(Event::End(BytesEnd::new("testcase")))?;
    }
    w.write_event(Event::End(BytesEnd::new("testsuite")))?;
    w.write_event(Event::End(BytesEnd::new("testsuites")))?;
    w.into_inner().write_all(b"\n")
}
