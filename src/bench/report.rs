//! The bench's result table: one [`Row`] per figure, each with the baseline measured in the
//! same run, the ratio, the target and whether it is met; printed as a text table and
//! serialised as JSON for `--json`.
//!
//! A figure that could not be measured is kept as a row with its reason (never left out,
//! never faked), so the reader sees what is missing and why.

use serde::Serialize;
use std::fmt::Write as _;

/// A goal for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// The value must be below `limit` (in the row's unit).
    Below {
        /// The limit.
        limit: f64,
    },
    /// value / baseline must be at least `min`.
    RatioAtLeast {
        /// The least ratio.
        min: f64,
    },
}

/// Whether the target is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The figure meets its target.
    Met,
    /// The figure misses its target.
    Missed,
    /// The figure has no target of its own (context for another figure).
    Info,
    /// The figure or its baseline could not be measured (see the note).
    Missing,
}

/// A baseline: what it is and its value in the row's unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Baseline {
    /// What the baseline is (e.g. nginx serving the same bytes).
    pub what: String,
    /// Its value; `None` when it could not be measured.
    pub value: Option<f64>,
}

/// One figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// "P1" … "P6", or "P3a" for the audit bound.
    pub id: String,
    /// What was measured, for a person.
    pub what: String,
    /// The figure; `None` when it could not be measured.
    pub value: Option<f64>,
    /// Its unit ("ms", "MB/s" ...).
    pub unit: String,
    /// What it is compared with, if anything.
    pub baseline: Option<Baseline>,
    /// value / baseline.
    pub ratio: Option<f64>,
    /// The goal, if the figure has one.
    pub target: Option<Target>,
    /// Whether the goal is met.
    pub verdict: Verdict,
    /// Why a figure is missing, what limits it, how it was measured.
    pub note: String,
}

impl Row {
    /// A row; the ratio and the verdict are computed from the parts.
    pub(crate) fn new(
        id: &str,
        what: impl Into<String>,
        value: Option<f64>,
        unit: &str,
        baseline: Option<Baseline>,
        target: Option<Target>,
    ) -> Row {
        let ratio = match (&baseline, value) {
            (Some(Baseline { value: Some(b), .. }), Some(v)) if *b > 0.0 => Some(v / b),
            _ => None,
        };
        let verdict = match (target, value) {
            (_, None) => Verdict::Missing,
            (None, Some(_)) => Verdict::Info,
            (Some(Target::Below { limit }), Some(v)) => {
                if v < limit {
                    Verdict::Met
                } else {
                    Verdict::Missed
                }
            }
            (Some(Target::RatioAtLeast { min }), Some(_)) => match ratio {
                Some(r) if r >= min => Verdict::Met,
                Some(_) => Verdict::Missed,
                None => Verdict::Missing,
            },
        };
        Row {
            id: id.to_owned(),
            what: what.into(),
            value,
            unit: unit.to_owned(),
            baseline,
            ratio,
            target,
            verdict,
            note: String::new(),
        }
    }

    /// A row for a figure that could not be measured, with the reason.
    pub(crate) fn missing(
        id: &str,
        what: impl Into<String>,
        unit: &str,
        why: impl Into<String>,
    ) -> Row {
        let mut r = Row::new(id, what, None, unit, None, None);
        r.note = why.into();
        r
    }

    /// Adds a note.
    pub(crate) fn note(mut self, note: impl Into<String>) -> Row {
        let note = note.into();
        if self.note.is_empty() {
            self.note = note;
        } else {
            self.note = format!("{}; {note}", self.note);
        }
        self
    }

    /// Marks the row missed even though its own target is met (a joint target such as
    /// "≥ 50% of nginx with p99 < 20 ms"), with the reason.
    pub(crate) fn also_requires(mut self, ok: bool, why: &str) -> Row {
        if !ok && self.verdict == Verdict::Met {
            self.verdict = Verdict::Missed;
            self = self.note(why.to_owned());
        }
        self
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// "quick" or "full".
    pub mode: String,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// Machine facts: cores, load average at start, kernel.
    pub machine: String,
    /// The scales measured ("ward: 40 patients, 5.7 MB").
    pub scales: Vec<String>,
    /// The figures, in table order.
    pub rows: Vec<Row>,
    /// Run-wide notes (how things were measured, what was skipped).
    pub notes: Vec<String>,
}

/// A number with a sensible number of digits.
pub(crate) fn num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

fn with_unit(v: Option<f64>, unit: &str) -> String {
    match v {
        Some(v) if unit.is_empty() => num(v),
        Some(v) => format!("{} {unit}", num(v)),
        None => "—".into(),
    }
}

fn target_text(t: Option<Target>, unit: &str) -> String {
    match t {
        None => String::new(),
        Some(Target::Below { limit }) => format!("< {}", with_unit(Some(limit), unit)),
        Some(Target::RatioAtLeast { min }) => format!("ratio ≥ {}", num(min)),
    }
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "met",
        Verdict::Missed => "MISSED",
        Verdict::Info => "",
        Verdict::Missing => "missing",
    }
}

impl Report {
    /// The table as text: one line per figure, notes below it.
    pub fn to_text(&self) -> String {
        let header = [
            "id",
            "figure",
            "value",
            "baseline",
            "base value",
            "ratio",
            "target",
            "",
        ];
        let cells: Vec<[String; 8]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.id.clone(),
                    r.what.clone(),
                    with_unit(r.value, &r.unit),
                    r.baseline
                        .as_ref()
                        .map(|b| b.what.clone())
                        .unwrap_or_default(),
                    r.baseline
                        .as_ref()
                        .map(|b| with_unit(b.value, &r.unit))
                        .unwrap_or_default(),
                    r.ratio.map(|x| format!("{}×", num(x))).unwrap_or_default(),
                    target_text(r.target, &r.unit),
                    verdict_text(r.verdict).to_owned(),
                ]
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for c in &cells {
            for (w, s) in widths.iter_mut().zip(c.iter()) {
                *w = (*w).max(s.chars().count());
            }
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "noodepd bench ({}), started {}\nmachine: {}",
            self.mode, self.started_at, self.machine
        );
        for s in &self.scales {
            let _ = writeln!(out, "scale: {s}");
        }
        out.push('\n');
        let line = |out: &mut String, c: &[String]| {
            let mut l = String::new();
            for (i, (s, w)) in c.iter().zip(widths.iter()).enumerate() {
                if i > 0 {
                    l.push_str("  ");
                }
                let pad = w.saturating_sub(s.chars().count());
                // Numbers right-aligned, text left-aligned.
                if matches!(i, 2 | 4 | 5) {
                    l.push_str(&" ".repeat(pad));
                    l.push_str(s);
                } else {
                    l.push_str(s);
                    l.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        line(&mut out, &header.map(str::to_owned));
        let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for c in &cells {
            line(&mut out, c);
        }
        let noted: Vec<&Row> = self.rows.iter().filter(|r| !r.note.is_empty()).collect();
        if !noted.is_empty() {
            out.push_str("\nnotes:\n");
            for r in noted {
                let _ = writeln!(out, "  {} {}: {}", r.id, r.what, r.note);
            }
        }
        for n in &self.notes {
            let _ = writeln!(out, "  * {n}");
        }
        let missed: Vec<String> = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Missed)
            .map(|r| format!("{} {}", r.id, r.what))
            .collect();
        let missing: Vec<String> = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Missing)
            .map(|r| format!("{} {}", r.id, r.what))
            .collect();
        let met = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Met)
            .count();
        let _ = writeln!(
            out,
            "\ntargets: {met} met, {} missed{}, {} not measured{}",
            missed.len(),
            if missed.is_empty() {
                String::new()
            } else {
                format!(" ({})", missed.join("; "))
            },
            missing.len(),
            if missing.is_empty() {
                String::new()
            } else {
                format!(" ({})", missing.join("; "))
            },
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_target_is_judged_on_the_ratio() {
        let b = Baseline {
            what: "parse-only".into(),
            value: Some(100.0),
        };
        let r = Row::new(
            "P1",
            "x",
            Some(40.0),
            "MB/s",
            Some(b.clone()),
            Some(Target::RatioAtLeast { min: 0.5 }),
        );
        assert_eq!(r.verdict, Verdict::Missed);
        assert_eq!(r.ratio, Some(0.4));
        let r = Row::new(
            "P1",
            "x",
            Some(60.0),
            "MB/s",
            Some(b),
            Some(Target::RatioAtLeast { min: 0.5 }),
        );
        assert_eq!(r.verdict, Verdict::Met);
    }

    #[test]
    fn below_target_and_missing_value() {
        let r = Row::new(
            "P5",
            "x",
            Some(0.31),
            "s",
            None,
            Some(Target::Below { limit: 0.3 }),
        );
        assert_eq!(r.verdict, Verdict::Missed);
        let r = Row::missing("P5", "x", "s", "daemon did not start");
        assert_eq!(r.verdict, Verdict::Missing);
        let text = Report {
            mode: "quick".into(),
            started_at: "now".into(),
            machine: "m".into(),
            scales: vec![],
            rows: vec![r],
            notes: vec![],
        }
        .to_text();
        assert!(text.contains("daemon did not start"));
        assert!(text.contains("1 not measured"));
    }

    #[test]
    fn joint_target_can_turn_met_into_missed() {
        let b = Baseline {
            what: "nginx".into(),
            value: Some(100.0),
        };
        let r = Row::new(
            "P3",
            "x",
            Some(80.0),
            "req/s",
            Some(b),
            Some(Target::RatioAtLeast { min: 0.5 }),
        )
        .also_requires(false, "p99 25 ms ≥ 20 ms");
        assert_eq!(r.verdict, Verdict::Missed);
        assert!(r.note.contains("p99"));
    }
}
