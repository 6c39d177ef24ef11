//! Markdown tables: the comparison (absolute figures and ratios) and the
//! details of every run.

use std::fmt::Write as _;

use mosquitto_rs::protocol::QoS;

use crate::broker::Target;
use crate::scenarios::{Case, Measure};

pub struct Row {
    pub case: Case,
    /// One per target, in target order.
    pub results: Vec<Result<Measure, String>>,
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

/// The comparison table. Ratio columns appear when there are two targets.
pub fn comparison(targets: &[Target], rows: &[Row]) -> String {
    let two = targets.len() == 2;
    let mut s = String::new();
    let mut head = vec!["scenario", "QoS", "payload", "metric"];
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    head.extend(names.iter().copied());
    let ratio_head;
    let cpu_head;
    if two {
        ratio_head = format!("{}/{}", names[0], names[1]);
        cpu_head = format!("{ratio_head} per CPU-s");
        head.push(&ratio_head);
        head.push(&cpu_head);
        head.push("target");
    }
    head.push("lost");
    head.push("dup");
    let _ = writeln!(s, "| {} |", head.join(" | "));
    let _ = writeln!(
        s,
        "|{}",
        head.iter()
            .enumerate()
            .map(|(i, _)| if i < 4 { "---|" } else { "---:|" })
            .collect::<String>()
    );
    for row in rows {
        for (mi, metric) in row.case.metrics().iter().enumerate() {
            let (q, p) = qos_str(&row.case, metric.per_message);
            let mut cells = vec![
                row.case.scenario.name().to_string(),
                q,
                p,
                metric.name.to_string(),
            ];
            let vals: Vec<Option<f64>> = row
                .results
                .iter()
                .map(|r| r.as_ref().ok().and_then(|m| m.values.get(mi).copied()))
                .collect();
            for r in &row.results {
                cells.push(match r {
                    Ok(m) => m.values.get(mi).map_or("-".into(), |v| num(*v)),
                    Err(e) => format!("FAILED: {}", e.replace('|', "/")),
                });
            }
            if two {
                let r = match (vals[0], vals[1]) {
                    (Some(a), Some(b)) => ratio(a, b),
                    _ => None,
                };
                cells.push(r.map_or("-".into(), |r| format!("{r:.2}")));
                let per_cpu = if mi == 0 && row.case.carries_messages() && metric.higher_better {
                    match (&row.results[0], &row.results[1]) {
                        (Ok(a), Ok(b)) => match (a.per_cpu(), b.per_cpu()) {
                            (Some(x), Some(y)) => ratio(x, y),
                            _ => None,
                        },
                        _ => None,
                    }
                } else {
                    None
                };
                cells.push(per_cpu.map_or("-".into(), |r| format!("{r:.2}")));
                // A target is met only without loss: speed must not hide it.
                let first_lost = match &row.results[0] {
                    Ok(m) if row.case.qos != QoS::AtMostOnce => m.run.lost + m.run.unacked,
                    _ => 0,
                };
                cells.push(match (metric.target, r) {
                    (Some(t), Some(r)) => {
                        let ok = if metric.higher_better { r >= t } else { r <= t };
                        let op = if metric.higher_better { "≥" } else { "≤" };
                        let mark = match (ok, first_lost) {
                            (_, 1..) => "✗ (lost)",
                            (true, _) => "✓",
                            (false, _) => "✗",
                        };
                        format!("{op}{t} {mark}")
                    }
                    (Some(t), None) => {
                        let op = if metric.higher_better { "≥" } else { "≤" };
                        format!("{op}{t} ?")
                    }
                    _ => "".into(),
                });
            }
            if mi == 0 {
                cells.push(
                    row.results
                        .iter()
                        .map(|r| loss_str(&row.case, r))
                        .collect::<Vec<_>>()
                        .join(" / "),
                );
                cells.push(
                    row.results
                        .iter()
                        .map(|r| dup_str(&row.case, r))
                        .collect::<Vec<_>>()
                        .join(" / "),
                );
            } else {
                cells.push(String::new());
                cells.push(String::new());
            }
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
    }
    s
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
    for row in rows {
        let (q, p) = qos_str(&row.case, row.case.carries_messages());
        for (t, r) in targets.iter().zip(&row.results) {
            let m = match r {
                Ok(m) => m,
                Err(e) => {
                    let _ = writeln!(
                        s,
                        "| {} | {q} | {p} | {} | | | | | | | | | | | | | | | FAILED: {} |",
                        row.case.scenario.name(),
                        t.name,
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
                row.case.scenario.name(),
                t.name,
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
}
