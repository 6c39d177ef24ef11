//! Markdown tables: the comparison (absolute figures and ratios) and the
//! details of every run.

use std::fmt::Write as _;

use mosquitto_rs::protocol::{ProtocolVersion, QoS};

use crate::broker::Target;
use crate::scenarios::{Case, Measure, Metric, Rate, Scenario};

pub struct Row {
    pub case: Case,
    /// One entry per run, each with one result per target, in target order.
    pub runs: Vec<Vec<Result<Measure, String>>>,
}

/// The scenario's name, with the rate of a latency case and " v5" when
/// the clients speak MQTT 5.
pub fn label(case: &Case) -> String {
    let name = match (case.scenario, case.rate) {
        (Scenario::Latency, Rate::Fixed(r)) => format!("latency {}/s", num(r)),
        (Scenario::Latency, Rate::OfBaseline(f)) => format!("latency {:.0}%", f * 100.0),
        _ => case.scenario.name().to_string(),
    };
    if case.version == ProtocolVersion::V5 {
        format!("{name} v5")
    } else {
        name
    }
}

/// The bound: MQTT 5 throughput at least this share of 3.1.1's.
const V5_TARGET: f64 = 0.9;

/// Per MQTT 5 case with a 3.1.1 twin (same scenario, QoS, payload), every
/// target's v5/3.1.1 ratio of the first metric (median of the per-run
/// ratios, run i against run i, with their spread), the same per broker
/// CPU-second, and whether the first target keeps v5 within 10 %. Empty
/// when no case ran at both versions.
pub fn versions(targets: &[Target], rows: &[Row]) -> String {
    let pairs: Vec<(&Row, &Row)> = rows
        .iter()
        .filter(|r| r.case.version == ProtocolVersion::V5)
        .filter_map(|v5| {
            let twin = rows.iter().find(|r| {
                r.case.version == ProtocolVersion::V311
                    && r.case.scenario == v5.case.scenario
                    && r.case.qos == v5.case.qos
                    && r.case.payload == v5.case.payload
                    && r.case.rate == v5.case.rate
            })?;
            Some((v5, twin))
        })
        .collect();
    if pairs.is_empty() {
        return String::new();
    }
    let mut s = String::new();
    let mut head: Vec<String> = vec!["scenario".into(), "QoS".into(), "payload".into()];
    head.extend(targets.iter().map(|t| format!("{} v5/3.1.1", t.name)));
    head.extend(targets.iter().map(|t| format!("{} per CPU-s", t.name)));
    head.push("target".into());
    let _ = writeln!(s, "| {} |", head.join(" | "));
    let _ = writeln!(
        s,
        "|{}",
        (0..head.len())
            .map(|i| if i < 3 { "---|" } else { "---:|" })
            .collect::<String>()
    );
    for (v5, v3) in pairs {
        let (q, p) = qos_str(&v5.case, true);
        let mut cells = vec![v5.case.scenario.name().to_string(), q, p];
        let by = |t: usize, f: fn(&Measure) -> Option<f64>| twin_ratios(v5, v3, t, f);
        let first = by(0, |m| m.values.first().copied());
        for t in 0..targets.len() {
            cells.push(ratio_cell(&by(t, |m| m.values.first().copied())));
        }
        for t in 0..targets.len() {
            cells.push(ratio_cell(&by(t, |m| m.per_cpu())));
        }
        cells.push(match median(first) {
            Some(r) if r >= V5_TARGET => format!("≥{V5_TARGET} ✓"),
            Some(_) => format!("≥{V5_TARGET} ✗"),
            None => format!("≥{V5_TARGET} ?"),
        });
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    s
}

/// Run i of `a` over run i of `b`, for target `t`.
fn twin_ratios(a: &Row, b: &Row, t: usize, f: fn(&Measure) -> Option<f64>) -> Vec<f64> {
    a.runs
        .iter()
        .zip(&b.runs)
        .filter_map(|(ra, rb)| {
            let x = f(ra.get(t)?.as_ref().ok()?)?;
            let y = f(rb.get(t)?.as_ref().ok()?)?;
            ratio(x, y)
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The median over the runs of target `t`'s metric `mi`.
pub fn median_value(row: &Row, t: usize, mi: usize) -> Option<f64> {
    median(
        row.runs
            .iter()
            .filter_map(|run| run.get(t)?.as_ref().ok()?.values.get(mi).copied())
            .collect(),
    )
}

/// Per run, first target's figure over target `t`'s (`f` picks the figure).
fn run_ratios(row: &Row, t: usize, f: impl Fn(&Measure) -> Option<f64>) -> Vec<f64> {
    row.runs
        .iter()
        .filter_map(|run| {
            let a = f(run.first()?.as_ref().ok()?)?;
            let b = f(run.get(t)?.as_ref().ok()?)?;
            ratio(a, b)
        })
        .collect()
}

/// "1.23" for one run, "1.23 (1.10–1.40)" for several: median and spread.
fn ratio_cell(v: &[f64]) -> String {
    let Some(med) = median(v.to_vec()) else {
        return "-".into();
    };
    if v.len() < 2 {
        return format!("{med:.2}");
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{med:.2} ({lo:.2}–{hi:.2})")
}

/// 1234567.8 → "1,234,568"; small values keep a few decimals.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v.abs() < 10.0 {
        return format!("{v:.2}");
    }
    if v.abs() < 100.0 {
        return format!("{v:.1}");
    }
    let s = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if v < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

fn qos_str(case: &Case, per_message: bool) -> (String, String) {
    if !per_message {
        return ("-".into(), "-".into());
    }
    (
        case.qos.as_u8().to_string(),
        if case.payload >= 1024 && case.payload.is_multiple_of(1024) {
            format!("{} KB", case.payload / 1024)
        } else {
            format!("{} B", case.payload)
        },
    )
}

fn loss_str(case: &Case, r: &Result<Measure, String>) -> String {
    match r {
        Ok(m) if case.carries_messages() => {
            let mut out = if case.qos == QoS::AtMostOnce {
                // QoS 0 may drop by design: informative only.
                format!("({})", num(m.run.lost as f64))
            } else {
                num(m.run.lost as f64)
            };
            if m.run.unacked > 0 && case.qos != QoS::AtMostOnce {
                let _ = write!(out, " +{} unacked", num(m.run.unacked as f64));
            }
            out
        }
        Ok(_) => "-".into(),
        Err(_) => "?".into(),
    }
}

fn dup_str(case: &Case, r: &Result<Measure, String>) -> String {
    match r {
        Ok(m) if case.carries_messages() => num(m.run.dups as f64),
        Ok(_) => "-".into(),
        Err(_) => "?".into(),
    }
}

/// The comparison table: every target's median, then for each other
/// target the ratio first/other (median of the runs, spread) and the same
/// per broker CPU-second; the target is met only against every other one.
pub fn comparison(targets: &[Target], rows: &[Row]) -> String {
    let mut s = String::new();
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let mut head: Vec<String> = ["scenario", "QoS", "payload", "metric"]
        .iter()
        .map(|h| h.to_string())
        .collect();
    head.extend(names.iter().map(|n| n.to_string()));
    for other in names.iter().skip(1) {
        head.push(format!("{}/{other}", names[0]));
    }
    for other in names.iter().skip(1) {
        head.push(format!("{}/{other} per CPU-s", names[0]));
    }
    if names.len() > 1 {
        head.push("target".into());
    }
    head.push("lost".into());
    head.push("dup".into());
    let _ = writeln!(s, "| {} |", head.join(" | "));
    let _ = writeln!(
        s,
        "|{}",
        (0..head.len())
            .map(|i| if i < 4 { "---|" } else { "---:|" })
            .collect::<String>()
    );
    for row in rows {
        for (mi, metric) in row.case.metrics().iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} |",
                comparison_cells(targets, row, mi, metric).join(" | ")
            );
        }
    }
    s
}

fn comparison_cells(targets: &[Target], row: &Row, mi: usize, metric: &Metric) -> Vec<String> {
    let (q, p) = qos_str(&row.case, metric.per_message);
    let mut cells = vec![label(&row.case), q, p, metric.name.to_string()];
    for t in 0..targets.len() {
        let err = row
            .runs
            .iter()
            .find_map(|run| run.get(t)?.as_ref().err().cloned());
        cells.push(match (median_value(row, t, mi), err) {
            (Some(v), _) => num(v),
            (None, Some(e)) => format!("FAILED: {}", e.replace('|', "/")),
            (None, None) => "-".into(),
        });
    }
    let ratios: Vec<Vec<f64>> = (1..targets.len())
        .map(|t| run_ratios(row, t, |m| m.values.get(mi).copied()))
        .collect();
    for r in &ratios {
        cells.push(ratio_cell(r));
    }
    for t in 1..targets.len() {
        let per_cpu = mi == 0 && row.case.carries_messages() && metric.higher_better;
        cells.push(if per_cpu {
            ratio_cell(&run_ratios(row, t, |m| m.per_cpu()))
        } else {
            "-".into()
        });
    }
    if targets.len() > 1 {
        cells.push(target_cell(row, metric, &ratios));
    }
    if mi == 0 {
        cells.push(per_target(row, targets.len(), loss_str));
        cells.push(per_target(row, targets.len(), dup_str));
    } else {
        cells.push(String::new());
        cells.push(String::new());
    }
    cells
}

/// "≥2 ✓" when the median ratio meets the target against every other
/// broker and the first one lost nothing in any run.
fn target_cell(row: &Row, metric: &Metric, ratios: &[Vec<f64>]) -> String {
    let Some(t) = metric.target else {
        return String::new();
    };
    let op = if metric.higher_better { "≥" } else { "≤" };
    let meds: Vec<Option<f64>> = ratios.iter().map(|r| median(r.clone())).collect();
    if meds.iter().any(|m| m.is_none()) {
        return format!("{op}{t} ?");
    }
    let ok = meds
        .iter()
        .flatten()
        .all(|&r| if metric.higher_better { r >= t } else { r <= t });
    let lost: u64 = row
        .runs
        .iter()
        .filter_map(|run| run.first()?.as_ref().ok())
        .filter(|_| row.case.qos != QoS::AtMostOnce)
        .map(|m| m.run.lost + m.run.unacked)
        .sum();
    let mark = match (ok, lost) {
        (_, 1..) => "✗ (lost)",
        (true, _) => "✓",
        (false, _) => "✗",
    };
    format!("{op}{t} {mark}")
}

/// One figure per target (the worst of its runs), joined by " / ".
fn per_target(row: &Row, n: usize, f: fn(&Case, &Result<Measure, String>) -> String) -> String {
    (0..n)
        .map(|t| {
            let worst = row
                .runs
                .iter()
                .filter_map(|run| run.get(t))
                .max_by_key(|r| match r {
                    Ok(m) => m.run.lost + m.run.unacked + m.run.dups,
                    Err(_) => u64::MAX,
                });
            worst.map_or("-".into(), |r| f(&row.case, r))
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Every run's raw figures.
pub fn details(targets: &[Target], rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| scenario | QoS | payload | broker | in msg/s | out msg/s | sent | delivered/expected | lost | unacked | dup | broker CPU s | broker CPU % | msg/CPU-s | RSS MiB | peak MiB | tool CPU % | p50/p99/max ms | errors / note |"
    );
    let _ = writeln!(
        s,
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    let many = rows.iter().any(|r| r.runs.len() > 1);
    for row in rows {
        let (q, p) = qos_str(&row.case, row.case.carries_messages());
        let per_run = row.runs.iter().enumerate().flat_map(|(i, run)| {
            targets.iter().zip(run).map(move |(t, r)| {
                let name = if many {
                    format!("{} #{}", t.name, i + 1)
                } else {
                    t.name.clone()
                };
                (name, r)
            })
        });
        for (name, r) in per_run {
            let m = match r {
                Ok(m) => m,
                Err(e) => {
                    let _ = writeln!(
                        s,
                        "| {} | {q} | {p} | {} | | | | | | | | | | | | | | | FAILED: {} |",
                        label(&row.case),
                        name,
                        e.replace('|', "/")
                    );
                    continue;
                }
            };
            let busy = |cpu: f64| {
                if m.wall_s > 0.0 {
                    num(100.0 * cpu / m.wall_s)
                } else {
                    "-".into()
                }
            };
            let mut note = String::new();
            if m.run.errors > 0 {
                let _ = write!(
                    note,
                    "{} errors: {}; ",
                    m.run.errors,
                    m.run.first_error.clone().unwrap_or_default()
                );
            }
            if m.run.foreign > 0 {
                let _ = write!(note, "{} foreign msgs; ", m.run.foreign);
            }
            note.push_str(&m.note);
            let h = &m.run.hist;
            let lat = if h.count() > 0 {
                format!(
                    "{:.2}/{:.2}/{:.2}",
                    h.quantile(0.5) as f64 / 1e6,
                    h.quantile(0.99) as f64 / 1e6,
                    h.max() as f64 / 1e6
                )
            } else {
                "-".into()
            };
            let _ = writeln!(
                s,
                "| {} | {q} | {p} | {} | {} | {} | {} | {}/{} | {} | {} | {} | {:.2} | {} | {} | {:.1} | {:.1} | {} | {lat} | {} |",
                label(&row.case),
                name,
                num(m.in_rate),
                num(m.out_rate),
                m.run.sent,
                m.run.delivered,
                m.run.expected,
                m.run.lost,
                m.run.unacked,
                m.run.dups,
                m.cpu_s,
                busy(m.cpu_s),
                m.per_cpu().map_or("-".into(), num),
                m.rss_kb as f64 / 1024.0,
                m.hwm_kb as f64 / 1024.0,
                busy(m.tool_cpu_s),
                note.replace('|', "/"),
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(num(1234567.8), "1,234,568");
        assert_eq!(num(999.0), "999");
        assert_eq!(num(1000.0), "1,000");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(0.5), "0.50");
        assert_eq!(num(-1234.0), "-1,234");
    }

    #[test]
    fn medians_and_spread() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(ratio_cell(&[1.5]), "1.50");
        assert_eq!(ratio_cell(&[1.0, 2.0, 1.5]), "1.50 (1.00–2.00)");
    }

    fn measured(rate: f64) -> Result<Measure, String> {
        Ok(Measure {
            values: vec![rate],
            run: Default::default(),
            in_rate: rate,
            out_rate: rate,
            cpu_s: 0.0,
            wall_s: 1.0,
            tool_cpu_s: 0.0,
            rss_kb: 0,
            hwm_kb: 0,
            note: String::new(),
        })
    }

    fn row(version: ProtocolVersion, rates: &[f64]) -> Row {
        Row {
            case: Case {
                scenario: Scenario::P2p,
                qos: QoS::AtLeastOnce,
                payload: 16,
                rate: Rate::Default,
                version,
            },
            runs: rates.iter().map(|&r| vec![measured(r)]).collect(),
        }
    }

    #[test]
    fn v5_twins_give_a_ratio_per_run_and_the_10_percent_mark() {
        let targets = [Target {
            name: "ours".into(),
            kind: crate::broker::TargetKind::Attach(([127, 0, 0, 1], 1).into(), None),
        }];
        let v3 = row(ProtocolVersion::V311, &[100.0, 100.0, 200.0]);
        let v5 = row(ProtocolVersion::V5, &[95.0, 80.0, 190.0]);
        assert_eq!(label(&v5.case), "p2p v5");
        let table = versions(&targets, &[v3, v5]);
        let last = table.lines().last().unwrap();
        assert_eq!(last, "| p2p | 1 | 16 B | 0.95 (0.80–0.95) | - | ≥0.9 ✓ |");
        let slow = versions(
            &targets,
            &[
                row(ProtocolVersion::V311, &[100.0]),
                row(ProtocolVersion::V5, &[85.0]),
            ],
        );
        assert!(slow.ends_with("| 0.85 | - | ≥0.9 ✗ |\n"), "{slow}");
        // No v5 case, no table.
        assert!(versions(&targets, &[row(ProtocolVersion::V311, &[1.0])]).is_empty());
    }
}
