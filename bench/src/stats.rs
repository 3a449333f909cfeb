//! Medians and percentiles for the benchmarks' tables.

use std::time::Duration;

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn median(v: &mut [f64]) -> f64 {
    pct(v, 0.5)
}

pub fn p95(v: &mut [f64]) -> f64 {
    pct(v, 0.95)
}

pub fn pct(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}
